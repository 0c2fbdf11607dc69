//! Authenticator seeds (sealed) and recovery codes. Every claim (a code's step, a recovery
//! code) is one conditional UPDATE through the writer: the row changes for one request only.

use sqlx::SqliteConnection;

use super::Timestamp;

/// An account's authenticator seed, still sealed, and whether it was confirmed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    pub sealed_seed: Vec<u8>,
    pub confirmed_at: Option<Timestamp>,
    pub last_step: i64,
}

pub async fn get(
    conn: impl sqlx::SqliteExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<Option<Stored>> {
    sqlx::query_as("SELECT sealed_seed, confirmed_at, last_step FROM two_step WHERE user_id = ?")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// Starts setting up an app: a new unconfirmed seed, replacing an unconfirmed one. Returns
/// false (and changes nothing) when the account already has a confirmed one.
pub async fn begin(
    conn: &mut SqliteConnection,
    user_id: i64,
    sealed_seed: &[u8],
    now: Timestamp,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO two_step (user_id, sealed_seed, created_at) VALUES (?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE
            SET sealed_seed = excluded.sealed_seed, created_at = excluded.created_at
            WHERE two_step.confirmed_at IS NULL",
    )
    .bind(user_id)
    .bind(sealed_seed)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims `step` for the account: the code of that step is used up, and so is every earlier
/// one. False when a code of this step or a later one was accepted already (a replay), or
/// when `confirmed` does not match the row's state.
pub async fn claim_step(
    conn: &mut SqliteConnection,
    user_id: i64,
    step: i64,
    confirmed: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE two_step SET last_step = ?
         WHERE user_id = ? AND last_step < ? AND (confirmed_at IS NOT NULL) = ?",
    )
    .bind(step)
    .bind(user_id)
    .bind(step)
    .bind(confirmed)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the seed confirmed and stores new recovery codes (their hashes), replacing any.
pub async fn confirm(
    conn: &mut SqliteConnection,
    user_id: i64,
    recovery_hashes: &[String],
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE two_step SET confirmed_at = ? WHERE user_id = ?")
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    replace_recovery_codes(conn, user_id, recovery_hashes).await
}

/// Stores new recovery codes (their hashes); the old ones stop working.
pub async fn replace_recovery_codes(
    conn: &mut SqliteConnection,
    user_id: i64,
    recovery_hashes: &[String],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for hash in recovery_hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)")
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Uses the recovery code with this hash: true for the one request that used it.
pub async fn use_recovery_code(
    conn: &mut SqliteConnection,
    user_id: i64,
    hash: &str,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = ?
         WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether `hash` is one of the account's recovery codes, used or not.
pub async fn recovery_code_exists(
    conn: impl sqlx::SqliteExecutor<'_>,
    user_id: i64,
    hash: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM recovery_codes WHERE user_id = ? AND code_hash = ?)",
    )
    .bind(user_id)
    .bind(hash)
    .fetch_one(conn)
    .await
}

/// How many of the account's recovery codes are still unused.
pub async fn recovery_codes_left(
    conn: impl sqlx::SqliteExecutor<'_>,
    user_id: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL")
        .bind(user_id)
        .fetch_one(conn)
        .await
}

/// Removes the account's app and recovery codes; true when it had an app set up.
pub async fn remove(conn: &mut SqliteConnection, user_id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM two_step WHERE user_id = ?")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
