//! Verifications and the sends made for them.

use sqlx::{FromRow, SqliteConnection, SqlitePool};

/// A verification as stored.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct Verification {
    pub id: String,
    pub phone_number: String,
    pub alias: String,
    pub channel: String,
    pub subaccount: String,
    pub plivo_uuid: Option<String>,
    pub started_by_id: i64,
    pub started_by_name: String,
    pub started_at: String,
    pub expires_at: String,
    pub last_sent_at: Option<String>,
    pub wrong_attempts: i64,
    pub status: String,
    pub failure: Option<String>,
    pub completed_by_id: Option<i64>,
    pub completed_by_name: Option<String>,
    pub completed_at: Option<String>,
}

const COLUMNS: &str = "id, phone_number, alias, channel, subaccount, plivo_uuid, started_by_id, \
    started_by_name, started_at, expires_at, last_sent_at, wrong_attempts, status, failure, \
    completed_by_id, completed_by_name, completed_at";

/// A new verification, before anything is sent.
#[derive(Debug, Clone)]
pub struct NewVerification<'a> {
    pub id: &'a str,
    pub phone_number: &'a str,
    pub alias: &'a str,
    pub channel: &'a str,
    pub subaccount: &'a str,
    pub started_by_id: i64,
    pub started_by_name: &'a str,
    pub started_at: &'a str,
    pub expires_at: &'a str,
}

pub async fn insert(conn: &mut SqliteConnection, v: &NewVerification<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO verifications (id, phone_number, alias, channel, subaccount, started_by_id,
             started_by_name, started_at, expires_at, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
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
    now: &str,
) -> sqlx::Result<Vec<Verification>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE status = 'pending' AND expires_at > ? ORDER BY started_at"
    ))
    .bind(now)
    .fetch_all(db)
    .await
}

/// Pending verifications already past their expiry.
pub async fn overdue(conn: &mut SqliteConnection, now: &str) -> sqlx::Result<Vec<Verification>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM verifications WHERE status = 'pending' AND expires_at <= ?"
    ))
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Plivo accepted a send: its uuid, the new expiry, the send time.
pub async fn sent(
    conn: &mut SqliteConnection,
    id: &str,
    plivo_uuid: &str,
    channel: &str,
    sent_at: &str,
    expires_at: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE verifications SET plivo_uuid = ?, channel = ?, last_sent_at = ?, expires_at = ?
         WHERE id = ? AND status = 'pending'",
    )
    .bind(plivo_uuid)
    .bind(channel)
    .bind(sent_at)
    .bind(expires_at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a pending verification with `status` (and a reason for `failed`). False if it was no
/// longer pending.
pub async fn finish(
    conn: &mut SqliteConnection,
    id: &str,
    status: &str,
    failure: Option<&str>,
    by: Option<(i64, &str)>,
    at: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE verifications SET status = ?, failure = ?, completed_by_id = ?, completed_by_name = ?,
             completed_at = ?
         WHERE id = ? AND status = 'pending'",
    )
    .bind(status)
    .bind(failure)
    .bind(by.map(|(id, _)| id))
    .bind(by.map(|(_, name)| name))
    .bind(at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a wrong code; returns the new count.
pub async fn wrong_code(conn: &mut SqliteConnection, id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE verifications SET wrong_attempts = wrong_attempts + 1 WHERE id = ? RETURNING wrong_attempts",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Records a request to send a code.
pub async fn record_send(
    conn: &mut SqliteConnection,
    verification_id: &str,
    phone_number: &str,
    user_id: i64,
    channel: &str,
    at: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO verification_sends (verification_id, phone_number, user_id, channel, sent_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(verification_id)
    .bind(phone_number)
    .bind(user_id)
    .bind(channel)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The send times for a number since `since`, oldest first.
pub async fn sends_for_number(
    pool: &SqlitePool,
    number: &str,
    since: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT sent_at FROM verification_sends WHERE phone_number = ? AND sent_at > ? ORDER BY sent_at")
        .bind(number)
        .bind(since)
        .fetch_all(pool)
        .await
}

/// The send times by a person since `since`, oldest first.
pub async fn sends_by_user(
    pool: &SqlitePool,
    user_id: i64,
    since: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT sent_at FROM verification_sends WHERE user_id = ? AND sent_at > ? ORDER BY sent_at",
    )
    .bind(user_id)
    .bind(since)
    .fetch_all(pool)
    .await
}
