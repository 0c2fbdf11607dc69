//! `callerdesk audit verify` and `callerdesk audit export`.

use std::{path::Path, sync::Arc};

use super::{CliError, Said, open_existing};
use crate::{
    audit::{
        self, ChainStatus, Who,
        export::{self, Format},
        query::Filter,
    },
    clock::Clock,
};

/// `callerdesk audit verify`: the chain's status; a broken chain exits 1.
pub async fn verify(database: &Path) -> Result<Said, CliError> {
    let db = open_existing(database).await?;
    let status = audit::verify_chain(&db.reader).await;
    db.close().await;
    match status {
        Ok(status @ ChainStatus::Intact { .. }) => Ok(Said::Done(status.to_string())),
        Ok(status @ ChainStatus::Broken { .. }) => Ok(Said::Found(status.to_string())),
        Err(e) => Err(format!("the audit log could not be read: {e}.").into()),
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
