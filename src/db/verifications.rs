//! Verifications and the sends made for them.

use sqlx::{FromRow, SqliteConnection};

use super::Timestamp;
use crate::domain::{Channel, PhoneNumber, VerificationStatus};

/// A verification as stored.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct Verification {
    pub id: String,
    pub phone_number: PhoneNumber,
    pub alias: String,
    pub channel: Channel,
    pub subaccount: String,
    pub plivo_uuid: Option<String>,
    pub started_by_id: i64,
    pub started_by_name: String,
    pub started_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_sent_at: Option<Timestamp>,
    pub wrong_attempts: i64,
    pub status: VerificationStatus,
    pub failure: Option<String>,
    pub completed_by_id: Option<i64>,
    pub completed_by_name: Option<String>,
    pub completed_at: Option<Timestamp>,
    /// When the code being checked at Plivo was sent there; `None` when none is.
    pub code_checking_since: Option<Timestamp>,
}

const COLUMNS: &str = "id, phone_number, alias, channel, subaccount, plivo_uuid, started_by_id, \
    started_by_name, started_at, expires_at, last_sent_at, wrong_attempts, status, failure, \
    completed_by_id, completed_by_name, completed_at, code_checking_since";

/// A new verification, before anything is sent.
#[derive(Debug, Clone)]
pub struct NewVerification<'a> {
    pub id: &'a str,
    pub phone_number: &'a PhoneNumber,
    pub alias: &'a str,
    pub channel: Channel,
    pub subaccount: &'a str,
    pub started_by_id: i64,
    pub started_by_name: &'a str,
    pub started_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert(conn: &mut SqliteConnection, v: &NewVerification<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO verifications (id, phone_number, alias, channel, subaccount, started_by_id,
             started_by_name, started_at, expires_at, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(v.id)
    .bind(v.phone_number)
    .bind(v.alias)
    .bind(v.channel)
    .bind(v.subaccount)
    .bind(v.started_by_id)
    .bind(v.started_by_name)
    .bind(v.started_at)
    .bind(v.expires_at)
    .bind(VerificationStatus::Pending)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(
    conn: impl sqlx::SqliteExecutor<'_>,
    id: &str,
) -> sqlx::Result<Option<Verification>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM verifications WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Pending verifications not yet past their expiry, oldest first.
pub async fn pending(
    db: impl sqlx::SqliteExecutor<'_>,
    now: Timestamp,
) -> sqlx::Result<Vec<Verification>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE status = ? AND expires_at > ? ORDER BY started_at"
    ))
    .bind(VerificationStatus::Pending)
    .bind(now)
    .fetch_all(db)
    .await
}

/// Pending verifications already past their expiry.
pub async fn overdue(
    conn: &mut SqliteConnection,
    now: Timestamp,
) -> sqlx::Result<Vec<Verification>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE status = ? AND expires_at <= ?"
    ))
    .bind(VerificationStatus::Pending)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Plivo accepted a send: its uuid, the new expiry, the send time.
pub async fn sent(
    conn: &mut SqliteConnection,
    id: &str,
    plivo_uuid: &str,
    channel: Channel,
    sent_at: Timestamp,
    expires_at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE verifications SET plivo_uuid = ?, channel = ?, last_sent_at = ?, expires_at = ?
         WHERE id = ? AND status = ?",
    )
    .bind(plivo_uuid)
    .bind(channel)
    .bind(sent_at)
    .bind(expires_at)
    .bind(id)
    .bind(VerificationStatus::Pending)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a pending verification with `status` (and a reason for `failed`). False if it was no
/// longer pending.
pub async fn finish(
    conn: &mut SqliteConnection,
    id: &str,
    status: VerificationStatus,
    failure: Option<&str>,
    by: Option<(i64, &str)>,
    at: Timestamp,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE verifications SET status = ?, failure = ?, completed_by_id = ?, completed_by_name = ?,
             completed_at = ?
         WHERE id = ? AND status = ?",
    )
    .bind(status)
    .bind(failure)
    .bind(by.map(|(id, _)| id))
    .bind(by.map(|(_, name)| name))
    .bind(at)
    .bind(id)
    .bind(VerificationStatus::Pending)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the verification's one code-check slot: it is pending, not past `now`, has a Plivo
/// uuid, has tries left (`max_wrong`), and no other code is being checked (or that check began
/// before `stale_before`, so it can't still be running). True if taken.
pub async fn claim_code_check(
    conn: &mut SqliteConnection,
    id: &str,
    now: Timestamp,
    stale_before: Timestamp,
    max_wrong: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE verifications SET code_checking_since = ?1
         WHERE id = ?2 AND status = ?5 AND expires_at > ?1 AND plivo_uuid IS NOT NULL
           AND wrong_attempts < ?4
           AND (code_checking_since IS NULL OR code_checking_since < ?3)",
    )
    .bind(now)
    .bind(id)
    .bind(stale_before)
    .bind(max_wrong)
    .bind(VerificationStatus::Pending)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the code-check slot back.
pub async fn end_code_check(conn: &mut SqliteConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE verifications SET code_checking_since = NULL WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// No code check can be running when the server starts: slots left by a crash are given back.
pub async fn end_all_code_checks(conn: &mut SqliteConnection) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE verifications SET code_checking_since = NULL WHERE code_checking_since IS NOT NULL",
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Counts a wrong code on a pending verification; returns the new count, or `None` if it was
/// no longer pending (the count is then left as it was).
pub async fn wrong_code(conn: &mut SqliteConnection, id: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "UPDATE verifications SET wrong_attempts = wrong_attempts + 1
         WHERE id = ? AND status = ? RETURNING wrong_attempts",
    )
    .bind(id)
    .bind(VerificationStatus::Pending)
    .fetch_optional(conn)
    .await
}

/// Records a request to send a code (the send slot a limit counts); returns its id.
pub async fn record_send(
    conn: &mut SqliteConnection,
    verification_id: &str,
    phone_number: &PhoneNumber,
    user_id: i64,
    channel: Channel,
    at: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO verification_sends (verification_id, phone_number, user_id, channel, sent_at)
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(verification_id)
    .bind(phone_number)
    .bind(user_id)
    .bind(channel)
    .bind(at)
    .fetch_one(conn)
    .await
}

/// Forgets a send that Plivo certainly did not make.
pub async fn forget_send(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM verification_sends WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The send times for a number since `since`, oldest first.
pub async fn sends_for_number(
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
    since: Timestamp,
) -> sqlx::Result<Vec<Timestamp>> {
    sqlx::query_scalar("SELECT sent_at FROM verification_sends WHERE phone_number = ? AND sent_at > ? ORDER BY sent_at")
        .bind(number)
        .bind(since)
        .fetch_all(conn)
        .await
}

/// The send times by a person since `since`, oldest first.
pub async fn sends_by_user(
    conn: &mut SqliteConnection,
    user_id: i64,
    since: Timestamp,
) -> sqlx::Result<Vec<Timestamp>> {
    sqlx::query_scalar(
        "SELECT sent_at FROM verification_sends WHERE user_id = ? AND sent_at > ? ORDER BY sent_at",
    )
    .bind(user_id)
    .bind(since)
    .fetch_all(conn)
    .await
}
