//! Secrets callerdesk must read back (authenticator seeds) are stored sealed: encrypted and
//! authenticated with ChaCha20-Poly1305 under a key kept in a file beside the database, never
//! in it. A copy of the database alone (a backup, a stolen file) holds no usable seed, and a
//! sealed value moved to another account's row does not open (the row is part of the seal).

use chacha20poly1305::{
    ChaCha20Poly1305, Key, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use std::path::{Path, PathBuf};

const NONCE_LEN: usize = 12;

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyFileError(String);

/// The key that seals stored secrets (`CALLERDESK_SECRET_KEY`).
#[derive(Clone)]
pub struct SealingKey {
    cipher: ChaCha20Poly1305,
    path: PathBuf,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SealingKey {
    /// Where the key lives when no path is configured: beside the database.
    pub fn default_path(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".secret-key");
        PathBuf::from(name)
    }

    /// Reads the key at `path` (64 hex digits), or writes a new one there (readable by its
    /// owner only) when the file does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyFileError> {
        let bytes = match std::fs::read_to_string(path) {
            Ok(text) => hex::decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    KeyFileError(format!(
                        "{} does not hold a key (64 hexadecimal digits, as callerdesk writes it).",
                        path.display()
                    ))
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                write_new(path, format!("{}\n", hex::encode(key)).as_bytes())?;
                tracing::info!(path = %path.display(), "wrote a new key for stored secrets");
                key
            }
            Err(e) => {
                return Err(KeyFileError(format!(
                    "{} can't be read: {e}.",
                    path.display()
                )));
            }
        };
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
            path: path.to_owned(),
        })
    }

    /// A key that lives only in memory (tests).
    pub fn ephemeral() -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&rand::random::<[u8; 32]>())),
            path: PathBuf::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `secret` sealed for `context` (which names its row): a fresh nonce, then the
    /// ciphertext with its tag.
    pub fn seal(&self, context: &str, secret: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: secret,
            aad: context.as_bytes(),
        };
        // Encryption fails only for messages of gigabytes.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// The secret sealed for `context`, or `None` when it was sealed under another key or for
    /// another context, or changed since.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        self.cipher.decrypt(Nonce::from_slice(nonce), payload).ok()
    }
}

fn write_new(path: &Path, contents: &[u8]) -> Result<(), KeyFileError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .map_err(|e| KeyFileError(format!("{} could not be written: {e}.", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_context() {
        let key = SealingKey::ephemeral();
        let sealed = key.seal("totp:1", b"seed");
        assert!(!sealed.windows(4).any(|w| w == b"seed"));
        assert_eq!(key.open("totp:1", &sealed).as_deref(), Some(&b"seed"[..]));
        assert_eq!(key.open("totp:2", &sealed), None);
        assert_eq!(SealingKey::ephemeral().open("totp:1", &sealed), None);
        let mut changed = sealed.clone();
        if let Some(last) = changed.last_mut() {
            *last ^= 1;
        }
        assert_eq!(key.open("totp:1", &changed), None);
    }

    #[test]
    fn the_key_file_is_written_once_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.secret-key");
        let first = SealingKey::load_or_create(&path).unwrap();
        let sealed = first.seal("x", b"y");
        let again = SealingKey::load_or_create(&path).unwrap();
        assert_eq!(again.open("x", &sealed).as_deref(), Some(&b"y"[..]));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "not a key").unwrap();
        let err = SealingKey::load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("does not hold a key"));
    }
}
