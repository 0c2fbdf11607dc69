//! `callerdesk backup PATH`.

use std::path::Path;

use super::CliError;
use crate::audit::{self, ChainStatus};

/// `callerdesk backup PATH`: `VACUUM INTO` from a read-only connection, then checks the copy.
pub async fn backup(database: &Path, path: &Path) -> Result<String, CliError> {
    use sqlx::{Connection, sqlite::SqliteConnectOptions};
    if !database.exists() {
        return Err(CliError::NoDatabase(database.display().to_string()));
    }
    if path.exists() {
        return Err(CliError::Refused(format!(
            "{} already exists; callerdesk never overwrites a file. Choose a new name.",
            path.display()
        )));
    }
    let target = path
        .to_str()
        .ok_or("The backup path must be valid UTF-8.")?;
    let source = SqliteConnectOptions::new()
        .filename(database)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(30));
    let mut conn = sqlx::SqliteConnection::connect_with(&source)
        .await
        .map_err(|e| format!("The database could not be opened: {e}."))?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await
        .map_err(|e| format!("The copy could not be written: {e}."))?;
    conn.close().await.map_err(|e| e.to_string())?;

    let copy = SqliteConnectOptions::new().filename(path).read_only(true);
    let pool = sqlx::SqlitePool::connect_with(copy)
        .await
        .map_err(|e| format!("The copy was written but could not be opened: {e}."))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .map_err(|e| format!("The copy could not be checked: {e}."))?;
    let chain = audit::verify_chain(&pool)
        .await
        .map_err(|e| format!("The copy's audit log could not be read: {e}."))?;
    pool.close().await;
    if integrity != "ok" {
        return Err(CliError::Refused(format!(
            "The copy at {} failed SQLite's integrity check: {integrity}.",
            path.display()
        )));
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    match chain {
        ChainStatus::Intact { events } => Ok(format!(
            "Wrote {} ({:.1} MB): integrity ok, audit chain intact ({events} events).",
            path.display(),
            size as f64 / 1_048_576.0
        )),
        broken => Err(CliError::Refused(format!(
            "The copy at {} was written, but its audit chain is {broken}.",
            path.display()
        ))),
    }
}
