//! `callerdesk audit verify` and `callerdesk audit export`.

use std::{path::Path, sync::Arc};

use super::{CliError, Said, open_existing};
use crate::{
    audit::{
        self, ChainStatus, Who,
        checkpoints::{self, Agreement, AuditKey, Checkpoint, PublicKey},
        export::{self, Format},
        query::Filter,
    },
    clock::Clock,
    config::AuditKeyArgs,
};

/// `callerdesk audit verify [--checkpoints FILE --public-key FILE]`: the chain's status and,
/// with checkpoints, whether the log agrees with each; a broken chain or a contradicted
/// checkpoint exits 1.
pub async fn verify(
    database: &Path,
    checkpoints: Option<(&Path, &Path)>,
) -> Result<Said, CliError> {
    // The key and the file are read first: a typo in a path is not worth a full check.
    let against = match checkpoints {
        Some((file, public)) => {
            let key = PublicKey::load(public).map_err(|e| e.to_string())?;
            Some((file, checkpoints::read_file(file)?, key))
        }
        None => None,
    };
    let db = open_existing(database).await?;
    let said = check_log(
        &db.reader,
        against
            .as_ref()
            .map(|(file, lines, key)| Against { file, lines, key }),
    )
    .await;
    db.close().await;
    said
}

/// A checkpoint file's lines and the key that must have signed them.
struct Against<'a> {
    file: &'a Path,
    lines: &'a [(usize, Checkpoint)],
    key: &'a PublicKey,
}

/// The chain, then each checkpoint (with the file it came from), as one verdict.
async fn check_log(
    pool: &sqlx::SqlitePool,
    against: Option<Against<'_>>,
) -> Result<Said, CliError> {
    let read = |e: sqlx::Error| format!("the audit log could not be read: {e}.");
    let status = audit::verify_chain(pool).await.map_err(read)?;
    let ChainStatus::Intact { events } = status else {
        return Ok(Said::Found(status.to_string()));
    };
    let Some(Against { file, lines, key }) = against else {
        return Ok(Said::Done(status.to_string()));
    };
    if lines.is_empty() {
        return Ok(Said::Found(format!(
            "intact, {events} events, but {} holds no checkpoints, so nothing outside the database vouches for the log.",
            file.display()
        )));
    }
    let placed: Vec<(String, Checkpoint)> = lines
        .iter()
        .map(|(line, c)| (format!("line {line} of {}", file.display()), c.clone()))
        .collect();
    let mut conn = pool.acquire().await.map_err(read)?;
    match checkpoints::check(&mut conn, &placed, key)
        .await
        .map_err(read)?
    {
        Agreement::Contradicts(sentence) => Ok(Said::Found(sentence)),
        Agreement::Agrees {
            checkpoints,
            latest,
        } => {
            let newest = latest.map_or(0, |c| c.event_id);
            let newer =
                u64::try_from(newest).map_or(events, |covered| events.saturating_sub(covered));
            Ok(Said::Done(format!(
                "intact, {events} events; agrees with all {checkpoints} checkpoints (the latest vouches for event {newest}; {newer} newer events are covered by the chain alone)."
            )))
        }
    }
}

/// `callerdesk audit keygen PATH`.
pub fn keygen(path: &Path) -> Result<String, CliError> {
    let key = AuditKey::generate(path).map_err(|e| e.to_string())?;
    Ok(format!(
        "Wrote the private key to {} (readable by its owner only) and the public key to {} \
         (fingerprint {}). Set CALLERDESK_AUDIT_KEY={} to sign checkpoints, and give auditors the \
         public key.",
        path.display(),
        checkpoints::public_path(path).display(),
        key.public().fingerprint(),
        path.display()
    ))
}

/// `callerdesk audit checkpoint`: signs the head now.
pub async fn checkpoint(database: &Path, audit: &AuditKeyArgs) -> Result<Said, CliError> {
    let checkpointer = audit
        .checkpointer(database)?
        .ok_or("Set CALLERDESK_AUDIT_KEY (or --audit-key) to the private key that signs checkpoints; `callerdesk audit keygen PATH` makes one.")?;
    let db = open_existing(database).await?;
    let made = checkpointer.make(&db, Clock::system().now()).await;
    db.close().await;
    match made.map_err(|e| format!("No checkpoint was made: {e}."))? {
        Some(c) => Ok(Said::Done(format!(
            "Signed a checkpoint of event {} (hash {}) and appended it to {}.",
            c.event_id,
            c.event_hash,
            checkpointer.file.display()
        ))),
        None => Ok(Said::Done(
            "Nothing new to sign: the log is empty, or the latest checkpoint already vouches for its last event.".to_owned(),
        )),
    }
}

/// A `--since`/`--until` value: a date (UTC midnight; for `until`, the next midnight) or an
/// RFC 3339 time.
fn moment(value: &str, end_of_day: bool) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    let day = time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        format!("{value:?} is not a date like 2026-11-26 or a time like 2026-11-26T14:00:00Z.")
    })?;
    let day = if end_of_day {
        day.next_day().unwrap_or(day)
    } else {
        day
    };
    Ok(day.midnight().assume_utc())
}

/// `callerdesk audit export`: the log to standard output; the export is itself an event.
pub async fn export(
    database: &Path,
    format: &str,
    since: Option<String>,
    until: Option<String>,
) -> Result<String, CliError> {
    use tokio::io::AsyncWriteExt;
    let format = Format::parse(format).ok_or("--format must be csv or jsonl.")?;
    let filter = Filter {
        since: since.as_deref().map(|s| moment(s, false)).transpose()?,
        until: until.as_deref().map(|s| moment(s, true)).transpose()?,
        ..Filter::default()
    };
    let db = open_existing(database).await?;
    let stdout = Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
    let exported = export::export_recorded(
        &db,
        &Who::command_line(),
        &Clock::system(),
        &filter,
        format,
        |chunk| {
            let stdout = stdout.clone();
            async move { stdout.lock().await.write_all(&chunk).await.is_ok() }
        },
    )
    .await;
    let _ = stdout.lock().await.flush().await;
    db.close().await;
    let rows = exported.map_err(|e| format!("The audit log could not be exported: {e}."))?;
    Ok(format!("Exported {rows} events."))
}
