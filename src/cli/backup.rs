//! `callerdesk backup PATH`.

use std::path::Path;

use super::CliError;
use crate::{
    audit::{
        self, ChainStatus,
        checkpoints::{self, Agreement},
    },
    config::AuditKeyArgs,
};

/// `callerdesk backup PATH`: `VACUUM INTO` from a read-only connection, then checks the copy
/// (against the signed checkpoints too, when a key is set).
pub async fn backup(
    database: &Path,
    path: &Path,
    audit: &AuditKeyArgs,
) -> Result<String, CliError> {
    use sqlx::{Connection, sqlite::SqliteConnectOptions};
    if !database.exists() {
        return Err(CliError::NoDatabase(database.display().to_string()));
    }
    let checkpointer = audit.checkpointer(database)?;
    let checkpoints = match &checkpointer {
        Some(c) if c.file.exists() => Some((c.file.clone(), checkpoints::read_file(&c.file)?)),
        _ => None,
    };
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
    let agreement = match (&checkpointer, &checkpoints) {
        (Some(c), Some((file, lines))) => {
            let placed: Vec<_> = lines
                .iter()
                .map(|(line, cp)| (format!("line {line} of {}", file.display()), cp.clone()))
                .collect();
            Some(
                checkpoints::check(
                    &mut *pool.acquire().await.map_err(|e| e.to_string())?,
                    &placed,
                    c.key.public(),
                )
                .await
                .map_err(|e| format!("The copy's audit log could not be read: {e}."))?,
            )
        }
        _ => None,
    };
    pool.close().await;
    if integrity != "ok" {
        return Err(CliError::Refused(format!(
            "The copy at {} failed SQLite's integrity check: {integrity}.",
            path.display()
        )));
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let against = match agreement {
        None if checkpointer.is_some() => {
            ", with no checkpoint file yet to check it against".to_owned()
        }
        None => String::new(),
        Some(Agreement::Agrees { checkpoints, .. }) => {
            format!(", agreeing with all {checkpoints} signed checkpoints")
        }
        Some(Agreement::Contradicts(sentence)) => {
            return Err(CliError::Refused(format!(
                "The copy at {} was written, but its audit log contradicts a signed checkpoint. {sentence}",
                path.display()
            )));
        }
    };
    match chain {
        ChainStatus::Intact { events } => Ok(format!(
            "Wrote {} ({:.1} MB): integrity ok, audit chain intact ({events} events){against}.",
            path.display(),
            size as f64 / 1_048_576.0
        )),
        broken => Err(CliError::Refused(format!(
            "The copy at {} was written, but its audit chain is {broken}.",
            path.display()
        ))),
    }
}
