//! Password throttling: at most 5 password checks for one username, and 20 from one address,
//! within 15 minutes; further attempts are refused, without checking the password, until the
//! oldest of those is 15 minutes old. Nothing is locked for good.
//!
//! A check is a claim: in the writer's transaction, [`claim`] counts the attempts in the window
//! (those still being checked included) and takes a slot before the password is hashed, so
//! requests that arrive together can't all pass the count. When only checks still in flight
//! stand in the way, the claim waits for them rather than refusing: they may well succeed.
//! Signing in and changing your own password share the slots of the account's name: the
//! current password is a guess too.

use sqlx::SqliteConnection;
use time::{Duration, OffsetDateTime};

use crate::db::Timestamp;

pub const WINDOW: Duration = Duration::minutes(15);
pub const PER_USERNAME: i64 = 5;
pub const PER_ADDRESS: i64 = 20;

/// A slot taken for one password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt(i64);

/// What [`claim`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Check the password, then call [`failed`] or [`succeeded`] with this.
    Granted(Attempt),
    /// Too many failures: refuse without checking, and say to wait this long.
    Throttled(Duration),
    /// The failures so far leave room, but not with every check in flight counted as one
    /// more: wait for those to finish ([`claim_or_wait`]), then ask again. A crowd signing in
    /// at once from one office queues here instead of being refused.
    Busy,
}

/// What [`claim_or_wait`] decided: there is no waiting left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Granted(Attempt),
    Throttled(Duration),
}

/// How long a claim waits for the checks in flight before it gives up.
const MOST_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Wakes the claims waiting for checks in flight (one per server).
#[derive(Debug, Clone, Default)]
pub struct Waiting(std::sync::Arc<tokio::sync::Notify>);

impl Waiting {
    /// A check finished: the waiting claims look again.
    pub fn wake(&self) {
        self.0.notify_waiters();
    }
}

/// [`claim`], waiting while it is [`Claim::Busy`] (at most 10 seconds, then refused as
/// throttled for a minute). Returns the decision with its transaction, still open: the caller
/// records what it decided (an audit event for a refusal) and commits.
pub async fn claim_or_wait(
    db: &crate::db::Db,
    waiting: &Waiting,
    username: &str,
    client_ip: &str,
    now: impl Fn() -> OffsetDateTime,
) -> sqlx::Result<(Decided, crate::db::GroupedWrite)> {
    let deadline = tokio::time::Instant::now() + MOST_WAIT;
    loop {
        // Listening before looking, so a check that finishes in between is not missed.
        let woken = waiting.0.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let mut tx = db.write().await?;
        match claim(&mut tx, username, client_ip, now()).await? {
            Claim::Busy if tokio::time::Instant::now() < deadline => {
                drop(tx);
                let _ = tokio::time::timeout(std::time::Duration::from_millis(500), woken).await;
            }
            Claim::Busy => return Ok((Decided::Throttled(Duration::MINUTE), tx)),
            Claim::Throttled(wait) => return Ok((Decided::Throttled(wait), tx)),
            Claim::Granted(attempt) => return Ok((Decided::Granted(attempt), tx)),
        }
    }
}

/// Takes a slot for checking a password of `username` from `client_ip`, unless either has had
/// its share within the window. `conn` must be the writer inside a transaction (begun with
/// `BEGIN IMMEDIATE`), committed by the caller: the count and the slot are one step.
pub async fn claim(
    conn: &mut SqliteConnection,
    username: &str,
    client_ip: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Claim> {
    let since = Timestamp::from(now - WINDOW);
    sqlx::query("DELETE FROM sign_in_attempts WHERE at <= ?")
        .bind(since)
        .execute(&mut *conn)
        .await?;
    // The failure that has to age out of the window before another attempt is allowed: the
    // N-th most recent, if there are N. Then the same counting checks in flight as failures:
    // if that reaches N, wait for them.
    for states in ["'failed'", "'failed', 'checking'"] {
        let nth = |column: &str, limit: i64| {
            format!(
                "SELECT at FROM sign_in_attempts WHERE {column} = ? AND at > ? AND state IN ({states})
                 ORDER BY at DESC LIMIT 1 OFFSET {}",
                limit - 1
            )
        };
        let by_name: Option<Timestamp> = sqlx::query_scalar(&nth("username", PER_USERNAME))
            .bind(username)
            .bind(since)
            .fetch_optional(&mut *conn)
            .await?;
        let by_address: Option<Timestamp> = sqlx::query_scalar(&nth("client_ip", PER_ADDRESS))
            .bind(client_ip)
            .bind(since)
            .fetch_optional(&mut *conn)
            .await?;
        let wait = [by_name, by_address]
            .into_iter()
            .flatten()
            .map(|at| at.time() + WINDOW - now)
            .max();
        if let Some(wait) = wait {
            return Ok(if states == "'failed'" {
                // A slot exists once the window has moved past it; until then, at least a second.
                Claim::Throttled(wait.max(Duration::SECOND))
            } else {
                Claim::Busy
            });
        }
    }
    let id = sqlx::query_scalar(
        "INSERT INTO sign_in_attempts (username, client_ip, at, state)
         VALUES (?, ?, ?, 'checking') RETURNING id",
    )
    .bind(username)
    .bind(client_ip)
    .bind(Timestamp::from(now))
    .fetch_one(&mut *conn)
    .await?;
    Ok(Claim::Granted(Attempt(id)))
}

/// The password was wrong: the slot stays taken, as a failure, until it ages out.
pub async fn failed(conn: &mut SqliteConnection, attempt: Attempt) -> sqlx::Result<()> {
    sqlx::query("UPDATE sign_in_attempts SET state = 'failed' WHERE id = ?")
        .bind(attempt.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// The password was right: the slot is given back, and the name's failures recorded before
/// this attempt began are forgotten. Attempts still being checked, and any that began after
/// this one, stay: a success must not clear what a burst beside it is still recording.
pub async fn succeeded(
    conn: &mut SqliteConnection,
    attempt: Attempt,
    username: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM sign_in_attempts
         WHERE id = ? OR (username = ? AND state = 'failed' AND id < ?)",
    )
    .bind(attempt.0)
    .bind(username)
    .bind(attempt.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// The password was right but the account has a second step still to pass: the slot is given
/// back, and the name's failures stay (wrong codes count with wrong passwords, and a known
/// password must not wipe the count of codes guessed).
pub async fn released(conn: &mut SqliteConnection, attempt: Attempt) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sign_in_attempts WHERE id = ?")
        .bind(attempt.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// "3 minutes", rounded up, at least one minute.
pub fn minutes_text(wait: Duration) -> String {
    let minutes = ((wait.whole_seconds() + 59) / 60).max(1);
    if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use time::macros::datetime;

    async fn claim_now(db: &Db, name: &str, ip: &str, now: OffsetDateTime) -> Claim {
        let mut tx = db.write().await.unwrap();
        let claim = claim(&mut tx, name, ip, now).await.unwrap();
        tx.commit().await.unwrap();
        claim
    }

    fn granted(claim: Claim) -> Attempt {
        match claim {
            Claim::Granted(attempt) => attempt,
            other => panic!("not granted: {other:?}"),
        }
    }

    #[tokio::test]
    async fn attempts_being_checked_count_and_a_success_leaves_them_alone() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = Db::open(&dir.path().join("t.db")).await.unwrap();
        let t = datetime!(2026-12-01 10:00 UTC);
        // Two failures, then three attempts in flight: the sixth is refused.
        for _ in 0..2 {
            let a = granted(claim_now(&db, "ana", "192.0.2.1", t).await);
            failed(&mut db.writer.acquire().await.unwrap(), a)
                .await
                .unwrap();
        }
        let in_flight: Vec<Attempt> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(granted(claim_now(&db, "ANA", "192.0.2.1", t).await));
            }
            v
        };
        assert_eq!(claim_now(&db, "ana", "192.0.2.2", t).await, Claim::Busy);
        // One in-flight attempt succeeds: the two earlier failures go, the other two stay.
        let mut conn = db.writer.acquire().await.unwrap();
        succeeded(&mut conn, in_flight[0], "ana").await.unwrap();
        failed(&mut conn, in_flight[1]).await.unwrap();
        drop(conn);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sign_in_attempts")
            .fetch_one(&db.reader)
            .await
            .unwrap();
        assert_eq!(left, 2);
        // Five failures: refused outright.
        let mut conn = db.writer.acquire().await.unwrap();
        failed(&mut conn, in_flight[2]).await.unwrap();
        drop(conn);
        for _ in 0..3 {
            let a = granted(claim_now(&db, "ana", "192.0.2.1", t).await);
            failed(&mut db.writer.acquire().await.unwrap(), a)
                .await
                .unwrap();
        }
        assert!(matches!(
            claim_now(&db, "ana", "192.0.2.2", t).await,
            Claim::Throttled(_)
        ));
        // The window moves on: everything older than 15 minutes is forgotten.
        granted(claim_now(&db, "ana", "192.0.2.1", t + WINDOW + Duration::SECOND).await);
    }
}
