//! argon2id password hashes (OWASP's parameters: 19 MiB, 2 iterations, 1 lane), computed on
//! tokio's blocking threads so a sign-in never stalls other requests.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use std::sync::OnceLock;

use crate::domain::Password;

/// Hashing failed (only if the parameters or the system's random source were broken).
#[derive(Debug, thiserror::Error)]
#[error("could not hash a password: {0}")]
pub struct HashError(String);

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &[u8]) -> Result<String, HashError> {
    let hash: PasswordHash = hasher()?
        .hash_password(password)
        .map_err(|e| HashError(e.to_string()))?;
    Ok(hash.to_string())
}

/// Hashes a new password.
pub async fn hash(password: &Password) -> Result<String, HashError> {
    let bytes = password.expose().as_bytes().to_vec();
    tokio::task::spawn_blocking(move || hash_blocking(&bytes))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

/// A hash of a random password, checked against when the username is unknown so that an
/// unknown user and a wrong password take the same time.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        hash_blocking(&random).unwrap_or_default()
    })
}

/// Whether `password` matches `stored`. With `stored` absent (unknown user) it still does the
/// same work, against a decoy, and answers false.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| decoy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let password = Password::parse("correct horse battery").unwrap();
        let stored = hash(&password).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("correct horse battery!".into(), Some(stored)).await);
        assert!(!verify("correct horse battery".into(), None).await);
    }
}
