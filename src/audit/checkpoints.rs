//! Signed checkpoints of the chain's head: evidence about the log kept outside the database.
//!
//! The hash chain shows that events form one unbroken sequence, but someone who can write the
//! SQLite file can cut events off the end, or change one and recompute every hash after it, and
//! the chain still checks. A checkpoint is the head's id and hash, the number of events and the
//! time, signed with an Ed25519 key the database never holds, and appended to a file meant to
//! live on other storage. A log that lost or rewrote a checkpointed event contradicts the
//! checkpoint; only events newer than the last checkpoint can vanish unnoticed.
//!
//! The signed bytes are the checkpoint's **canonical encoding**, defined in
//! `docs/audit-log.md`: the JSON array
//! `["callerdesk-checkpoint-v1",event_id,"event_hash",events,"made_at","key"]` with no
//! whitespace. `key` is the fingerprint of the public key: the lower-case hex SHA-256 of its
//! SubjectPublicKeyInfo DER encoding (`openssl pkey -pubin -outform DER | sha256sum`).

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use ed25519_dalek::{
    Signature, Signer, SigningKey, VerifyingKey,
    pkcs8::{
        DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
        spki::der::pem::LineEnding,
    },
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{SqliteConnection, SqlitePool};
use std::{
    io::Write,
    path::{Path, PathBuf},
};
use time::OffsetDateTime;

use crate::db::{Db, timestamp};

/// What the signature covers first, so a checkpoint's signature can't pass for anything else.
const DOMAIN: &str = "callerdesk-checkpoint-v1";

/// A key file that can't be made or used, in one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

/// The private key that signs checkpoints (`CALLERDESK_AUDIT_KEY`).
#[derive(Clone)]
pub struct AuditKey {
    signing: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("fingerprint", &self.public.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The public half, which checks checkpoints (`audit verify --public-key`).
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: VerifyingKey,
    fingerprint: String,
}

impl PublicKey {
    fn new(key: VerifyingKey) -> Result<Self, KeyError> {
        let der = key
            .to_public_key_der()
            .map_err(|e| KeyError(format!("The public key could not be encoded: {e}.")))?;
        Ok(Self {
            key,
            fingerprint: hex::encode(Sha256::digest(der.as_bytes())),
        })
    }

    /// Reads a SubjectPublicKeyInfo PEM file, as `audit keygen` writes to `PATH.pub`.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = read_key_file(path, "public key")?;
        let key = VerifyingKey::from_public_key_pem(&text).map_err(|_| {
            KeyError(format!(
                "{} is not an Ed25519 public key in PEM form (the .pub file `callerdesk audit keygen` writes).",
                path.display()
            ))
        })?;
        Self::new(key)
    }

    /// The lower-case hex SHA-256 of the key's DER encoding.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl AuditKey {
    /// Writes a new key pair: the private key at `path` (PKCS#8 PEM, readable by its owner
    /// only) and the public key at `path.pub`. Refuses to overwrite either file.
    pub fn generate(path: &Path) -> Result<Self, KeyError> {
        let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let key = Self {
            public: PublicKey::new(signing.verifying_key())?,
            signing,
        };
        // PKCS#8 version 1, without the public key beside it: OpenSSL 3.0 reads no other form.
        let bytes = KeypairBytes {
            secret_key: key.signing.to_bytes(),
            public_key: None,
        };
        let private = bytes
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError(format!("The private key could not be encoded: {e}.")))?;
        let public = key
            .public
            .key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError(format!("The public key could not be encoded: {e}.")))?;
        let public_path = public_path(path);
        for existing in [path, public_path.as_path()] {
            if existing.exists() {
                return Err(KeyError(format!(
                    "{} already exists; callerdesk never overwrites a key. Choose another path.",
                    existing.display()
                )));
            }
        }
        write_new(path, private.as_bytes(), 0o600)?;
        write_new(&public_path, public.as_bytes(), 0o644)?;
        Ok(key)
    }

    /// Reads the PKCS#8 PEM private key `audit keygen` wrote.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = read_key_file(path, "private key")?;
        let signing = SigningKey::from_pkcs8_pem(&text).map_err(|_| {
            KeyError(format!(
                "{} is not an Ed25519 private key in PKCS#8 PEM form (the file `callerdesk audit keygen` writes).",
                path.display()
            ))
        })?;
        Ok(Self {
            public: PublicKey::new(signing.verifying_key())?,
            signing,
        })
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs a checkpoint of the head `(event_id, event_hash)` of a log of `events` events.
    pub fn sign(
        &self,
        event_id: i64,
        event_hash: &str,
        events: u64,
        made_at: OffsetDateTime,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            event_id,
            event_hash: event_hash.to_owned(),
            events,
            made_at: timestamp(made_at),
            key: self.public.fingerprint.clone(),
            signature: String::new(),
        };
        let signature = self.signing.sign(&checkpoint.signed_bytes());
        checkpoint.signature = BASE64.encode(signature.to_bytes());
        checkpoint
    }
}

/// Where `audit keygen` puts the public key: the private key's path plus `.pub`.
pub fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn read_key_file(path: &Path, what: &str) -> Result<String, KeyError> {
    std::fs::read_to_string(path)
        .map_err(|e| KeyError(format!("The {what} {} can't be read: {e}.", path.display())))
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        });
    written.map_err(|e| KeyError(format!("{} could not be written: {e}.", path.display())))
}

/// One signed checkpoint, as one line of the checkpoint file (JSON) and one row of
/// `audit_checkpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Checkpoint {
    /// The last event the checkpoint vouches for, and its hash.
    pub event_id: i64,
    pub event_hash: String,
    /// How many events the log held (ids run from 1 without gaps, so this is `event_id`).
    pub events: u64,
    /// When it was made, as events' times are written.
    pub made_at: String,
    /// The signing key's fingerprint.
    pub key: String,
    /// The Ed25519 signature of the canonical encoding, in standard base64.
    pub signature: String,
}

impl Checkpoint {
    /// The bytes the signature covers (see the module's documentation).
    pub fn signed_bytes(&self) -> Vec<u8> {
        serde_json::json!([
            DOMAIN,
            self.event_id,
            self.event_hash,
            self.events,
            self.made_at,
            self.key
        ])
        .to_string()
        .into_bytes()
    }

    /// Whether `key` signed exactly this checkpoint.
    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        let Ok(bytes) = BASE64.decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.key == key.fingerprint
            && key
                .key
                .verify_strict(&self.signed_bytes(), &signature)
                .is_ok()
    }
}

/// Appends `checkpoint` as one line to `file` (created if missing, opened for appending only)
/// and waits until the line is on disk.
pub fn append_to_file(file: &Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(checkpoint)?;
    line.push(b'\n');
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)?;
    out.write_all(&line)?;
    out.sync_data()
}

/// A checkpoint file's lines, each with its line number; an unreadable line is an error
/// naming it.
pub fn read_file(file: &Path) -> Result<Vec<(usize, Checkpoint)>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("The checkpoint file {} can't be read: {e}.", file.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map(|c| (i + 1, c)).map_err(|_| {
                format!(
                    "Line {} of {} is not a checkpoint (the file was damaged or is not a callerdesk checkpoint file).",
                    i + 1,
                    file.display()
                )
            })
        })
        .collect()
}

/// The last checkpoint in a checkpoint file, read from its end (the file grows by a line a
/// minute at most, but is never read whole for this). `None` when the file holds none yet.
pub fn last_in_file(file: &Path) -> Result<Option<Checkpoint>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let unreadable = |e: std::io::Error| format!("{} can't be read: {e}", file.display());
    let mut f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let length = f.metadata().map_err(unreadable)?.len();
    f.seek(SeekFrom::Start(length.saturating_sub(4096)))
        .map_err(unreadable)?;
    let mut tail = String::new();
    f.read_to_string(&mut tail).map_err(unreadable)?;
    match tail.lines().rev().find(|l| !l.trim().is_empty()) {
        None => Ok(None),
        Some(line) => serde_json::from_str(line)
            .map(Some)
            .map_err(|_| format!("the last line of {} is not a checkpoint", file.display())),
    }
}

/// The checkpoints kept in the database, oldest first.
pub async fn stored(pool: &SqlitePool) -> sqlx::Result<Vec<Checkpoint>> {
    sqlx::query_as(
        "SELECT event_id, event_hash, events, made_at, key, signature
         FROM audit_checkpoints ORDER BY id",
    )
    .fetch_all(pool)
    .await
}

/// The newest checkpoint kept in the database.
pub async fn latest(pool: &SqlitePool) -> sqlx::Result<Option<Checkpoint>> {
    sqlx::query_as(
        "SELECT event_id, event_hash, events, made_at, key, signature
         FROM audit_checkpoints ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
}

async fn keep(conn: &mut SqliteConnection, c: &Checkpoint) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (event_id, event_hash, events, made_at, key, signature)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(c.event_id)
    .bind(&c.event_hash)
    .bind(i64::try_from(c.events).unwrap_or(i64::MAX))
    .bind(&c.made_at)
    .bind(&c.key)
    .bind(&c.signature)
    .execute(conn)
    .await?;
    Ok(())
}

/// Why a checkpoint could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    #[error("the audit log could not be read or the checkpoint kept: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the checkpoint file {file} could not be written: {error}")]
    File {
        file: PathBuf,
        error: std::io::Error,
    },
}

/// Makes the checkpoints of one database: the key, and the file they are appended to.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    pub key: AuditKey,
    pub file: PathBuf,
}

impl Checkpointer {
    /// Signs the head of the committed log, appends it to the file (on disk before this
    /// returns), then keeps it in the database. Answers `None` when the log is empty or the
    /// latest checkpoint already vouches for its head.
    pub async fn make(
        &self,
        db: &Db,
        now: OffsetDateTime,
    ) -> Result<Option<Checkpoint>, MakeError> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1")
                .fetch_optional(&db.reader)
                .await?;
        let Some((event_id, event_hash)) = head else {
            return Ok(None);
        };
        if latest(&db.reader).await?.is_some_and(|last| {
            last.event_id == event_id && last.key == self.key.public.fingerprint
        }) {
            return Ok(None);
        }
        let events = u64::try_from(event_id).unwrap_or_default();
        let checkpoint = self.key.sign(event_id, &event_hash, events, now);
        let (file, line) = (self.file.clone(), checkpoint.clone());
        tokio::task::spawn_blocking(move || append_to_file(&file, &line))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|written| written)
            .map_err(|error| MakeError::File {
                file: self.file.clone(),
                error,
            })?;
        let mut write = db.write().await?;
        keep(&mut write, &checkpoint).await?;
        write.commit().await?;
        Ok(Some(checkpoint))
    }
}

/// A checkpoint is made once this many events are newer than the last one...
pub const EVERY_EVENTS: i64 = 100;
/// ...or once this long has passed since it, if any event was added.
pub const AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Makes checkpoints while the server runs: looks at the head every second, and signs it when
/// [`EVERY_EVENTS`] events are newer than the last checkpoint, or when events were added and
/// [`AT_LEAST_EVERY`] has passed. A failure (the file's storage gone, say) is logged and tried
/// again at the next look; events are never held back by it.
pub async fn schedule(checkpointer: Checkpointer, db: Db, clock: crate::clock::Clock) {
    let mut covered = match latest(&db.reader).await {
        Ok(last) => last.map_or(0, |c| c.event_id),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the latest checkpoint");
            0
        }
    };
    let mut since = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let head: Option<i64> = match sqlx::query_scalar("SELECT MAX(id) FROM audit_events")
            .fetch_one(&db.reader)
            .await
        {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the audit log's head");
                continue;
            }
        };
        let head = head.unwrap_or(0);
        if head <= covered || (head - covered < EVERY_EVENTS && since.elapsed() < AT_LEAST_EVERY) {
            continue;
        }
        match checkpointer.make(&db, clock.now()).await {
            Ok(made) => {
                covered = made.map_or(head, |c| c.event_id);
                since = tokio::time::Instant::now();
            }
            Err(e) => tracing::error!(error = %e, "no checkpoint of the audit log could be made"),
        }
    }
}

/// What checking a log against checkpoints found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreement {
    /// Every checkpoint is signed by the key and its event is in the log with its hash.
    Agrees {
        checkpoints: usize,
        latest: Option<Checkpoint>,
    },
    /// The first checkpoint that failed, in one sentence.
    Contradicts(String),
}

/// Checks the log in `pool` against `checkpoints` (each with where it came from, such as
/// "line 3 of checkpoints.jsonl"): each must be signed by `key`, and its event must be in the
/// log with the hash it vouches for.
pub async fn check(
    conn: &mut SqliteConnection,
    checkpoints: &[(String, Checkpoint)],
    key: &PublicKey,
) -> sqlx::Result<Agreement> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM audit_events")
        .fetch_one(&mut *conn)
        .await?;
    let last = last.unwrap_or(0);
    for (place, c) in checkpoints {
        let said = format!(
            "The log contradicts the checkpoint on {place} (made {}, vouching for event {} with hash {})",
            c.made_at,
            c.event_id,
            short(&c.event_hash)
        );
        if !c.is_signed_by(key) {
            return Ok(Agreement::Contradicts(format!(
                "The checkpoint on {place} is not signed by the public key given (fingerprint {}): the checkpoint file was altered, or the key is another one.",
                short(&key.fingerprint)
            )));
        }
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_events WHERE id = ?")
            .bind(c.event_id)
            .fetch_optional(&mut *conn)
            .await?;
        let problem = match hash {
            None if c.event_id > last => Some(format!(
                "the log ends at event {last}, so events were removed from its end"
            )),
            None => Some(format!(
                "event {} is missing, so events were removed",
                c.event_id
            )),
            Some(hash) if hash != c.event_hash => Some(format!(
                "event {} has hash {} in the log, so the log was rewritten",
                c.event_id,
                short(&hash)
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            return Ok(Agreement::Contradicts(format!("{said}: {problem}.")));
        }
    }
    Ok(Agreement::Agrees {
        checkpoints: checkpoints.len(),
        latest: checkpoints.last().map(|(_, c)| c.clone()),
    })
}

/// The first 12 hex digits of a hash, enough to tell hashes apart in a sentence.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_checks_with_its_key_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let key = AuditKey::generate(&dir.path().join("audit.key")).unwrap();
        let public = PublicKey::load(&dir.path().join("audit.key.pub")).unwrap();
        assert_eq!(public.fingerprint(), key.public().fingerprint());
        assert_eq!(
            AuditKey::load(&dir.path().join("audit.key"))
                .unwrap()
                .public()
                .fingerprint(),
            key.public().fingerprint()
        );
        let made = key.sign(7, &"ab".repeat(32), 7, OffsetDateTime::UNIX_EPOCH);
        assert!(made.is_signed_by(&public));
        assert_eq!(
            String::from_utf8(made.signed_bytes()).unwrap(),
            format!(
                r#"["callerdesk-checkpoint-v1",7,"{}",7,"1970-01-01T00:00:00.000000Z","{}"]"#,
                "ab".repeat(32),
                public.fingerprint()
            )
        );
        for changed in [
            Checkpoint {
                event_id: 8,
                ..made.clone()
            },
            Checkpoint {
                event_hash: "cd".repeat(32),
                ..made.clone()
            },
            Checkpoint {
                signature: BASE64.encode([0u8; 64]),
                ..made.clone()
            },
        ] {
            assert!(!changed.is_signed_by(&public), "{changed:?}");
        }
        let other = AuditKey::generate(&dir.path().join("other.key")).unwrap();
        assert!(!made.is_signed_by(other.public()));
    }

    #[test]
    fn keygen_never_overwrites_a_key_and_keeps_the_private_one_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        AuditKey::generate(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = AuditKey::generate(&path).unwrap_err().to_string();
        assert!(again.contains("never overwrites"), "{again}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
