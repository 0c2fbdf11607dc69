//! Sign-in throttling: after 5 failed sign-ins for one username, or 20 from one address, within
//! 15 minutes, further attempts are refused until the oldest of those failures is 15 minutes
//! old. Nothing is locked for good.

use sqlx::{SqliteConnection, SqlitePool};
use time::{Duration, OffsetDateTime};

use crate::db::{parse_timestamp, timestamp};

pub const WINDOW: Duration = Duration::minutes(15);
pub const PER_USERNAME: i64 = 5;
pub const PER_ADDRESS: i64 = 20;

/// How long until this username and address may try again; `None` when they may now.
pub async fn wait(
    pool: &SqlitePool,
    username: &str,
    client_ip: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Option<Duration>> {
    let since = timestamp(now - WINDOW);
    // The failure that has to age out of the window before another attempt is allowed: the
    // N-th most recent one, if there are N within the window.
    let by_name: Option<String> = sqlx::query_scalar(
        "SELECT at FROM sign_in_failures WHERE username = ? AND at > ?
         ORDER BY at DESC LIMIT 1 OFFSET ?",
    )
    .bind(username)
    .bind(&since)
    .bind(PER_USERNAME - 1)
    .fetch_optional(pool)
    .await?;
    let by_address: Option<String> = sqlx::query_scalar(
        "SELECT at FROM sign_in_failures WHERE client_ip = ? AND at > ?
         ORDER BY at DESC LIMIT 1 OFFSET ?",
    )
    .bind(client_ip)
    .bind(&since)
    .bind(PER_ADDRESS - 1)
    .fetch_optional(pool)
    .await?;
    Ok([by_name, by_address]
        .into_iter()
        .flatten()
        .filter_map(|at| parse_timestamp(&at))
        .map(|at| at + WINDOW - now)
        .filter(|wait| wait.is_positive())
        .max())
}

/// Records a failed sign-in, and forgets failures too old to matter.
pub async fn record_failure(
    conn: &mut SqliteConnection,
    username: &str,
    client_ip: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sign_in_failures WHERE at <= ?")
        .bind(timestamp(now - WINDOW))
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO sign_in_failures (username, client_ip, at) VALUES (?, ?, ?)")
        .bind(username)
        .bind(client_ip)
        .bind(timestamp(now))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Forgets a username's failures after it signs in.
pub async fn clear(conn: &mut SqliteConnection, username: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sign_in_failures WHERE username = ?")
        .bind(username)
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
