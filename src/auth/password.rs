//! argon2id password hashes, computed on a few threads of their own, one per core, so a sign-in
//! never stalls other requests and a crowd signing in at once queues instead of taking memory
//! each.
//!
//! The parameters are the least memory-hungry of OWASP's equivalent argon2id settings (7 MiB,
//! 5 iterations, 1 lane: the same work as 19 MiB and 2 iterations), as callerdesk runs on one
//! small server and each hashing thread keeps its memory. A hash made with other parameters
//! (callerdesk used 19 MiB before) still checks, and is made again with these at the next
//! successful sign-in.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, Version};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use crate::domain::Password;

/// Hashing failed (only if the parameters or the system's random source were broken).
#[derive(Debug, thiserror::Error)]
#[error("could not hash a password: {0}")]
pub struct HashError(String);

type Job = Box<dyn FnOnce() + Send>;

/// The threads that compute hashes: one per core, started on first use, fed by a queue. Each
/// hash takes 7 MiB; glibc keeps freed blocks of that size in the freeing thread's arena, so
/// hashing on tokio's changing blocking threads left up to one block per arena resident (50
/// people signing in at once took the server to 360 MB, measured by scripts/load-test). On
/// these few threads each reuses its own.
static HASHERS: LazyLock<Mutex<std::sync::mpsc::Sender<Job>>> = LazyLock::new(|| {
    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    for n in 0..threads {
        let queue = Arc::clone(&queue);
        let started = std::thread::Builder::new()
            .name(format!("password-hash-{n}"))
            .spawn(move || {
                loop {
                    let next = queue.lock().map(|q| q.recv());
                    match next {
                        Ok(Ok(job)) => job(),
                        _ => break,
                    }
                }
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "could not start a password hashing thread");
        }
    }
    Mutex::new(jobs)
});

/// Runs `work` on a hashing thread and waits for its answer.
async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(work());
    });
    HASHERS
        .lock()
        .map_err(|e| HashError(e.to_string()))?
        .send(job)
        .map_err(|e| HashError(e.to_string()))?;
    answered.await.map_err(|e| HashError(e.to_string()))
}

/// Memory in KiB, iterations, lanes: OWASP's 7 MiB setting.
const MEMORY_KIB: u32 = 7 * 1024;
const ITERATIONS: u32 = 5;
const LANES: u32 = 1;

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, LANES, None).map_err(|e| HashError(e.to_string()))?;
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
    bounded(move || hash_blocking(&bytes)).await?
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
    check(password, stored).await.is_some()
}

/// Like [`verify`]; when the password matches a hash made with older parameters, also answers
/// a new hash of it, to be stored in its place.
pub async fn check(password: String, stored: Option<String>) -> Option<Option<String>> {
    bounded(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| decoy_hash().to_owned());
        if !(matches_blocking(password.as_bytes(), &stored) && known) {
            return None;
        }
        if is_current(&stored) {
            return Some(None);
        }
        Some(hash_blocking(password.as_bytes()).ok())
    })
    .await
    .ok()
    .flatten()
}

/// Whether `stored` was made with today's algorithm and parameters.
fn is_current(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    parsed.algorithm.as_str() == Algorithm::Argon2id.as_str()
        && parsed.version == Some(Version::V0x13.into())
        && (params.m_cost(), params.t_cost(), params.p_cost()) == (MEMORY_KIB, ITERATIONS, LANES)
}

thread_local! {
    /// The memory a check needs, kept by each hashing thread and reused.
    static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2's own check, computed in this thread's reused memory and compared in constant time.
fn matches_blocking(password: &[u8], stored: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut computed = vec![0u8; expected.as_bytes().len()];
    let hashed = MEMORY.with_borrow_mut(|blocks| {
        blocks.resize(params.block_count(), argon2::Block::default());
        argon2
            .hash_password_into_with_memory(password, salt.as_ref(), &mut computed, &mut blocks[..])
            .is_ok()
    });
    hashed && bool::from(computed.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let password = Password::parse("correct horse battery").unwrap();
        let stored = hash(&password).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("correct horse battery!".into(), Some(stored)).await);
        assert!(!verify("correct horse battery".into(), None).await);
    }

    #[tokio::test]
    async fn a_hash_with_older_parameters_still_checks_and_is_made_again() {
        let older = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19 * 1024, 2, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
        let Some(Some(again)) = check("correct horse battery".into(), Some(older.clone())).await
        else {
            panic!("a matching old hash is checked and made again");
        };
        assert!(is_current(&again) && !is_current(&older));
        assert!(verify("correct horse battery".into(), Some(again.clone())).await);
        assert_eq!(
            check("correct horse battery".into(), Some(again)).await,
            Some(None)
        );
        assert_eq!(check("wrong".into(), Some(older)).await, None);
    }
}
