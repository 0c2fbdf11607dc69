//! `callerdesk generate` (hidden): made-up data and the audit append measurement, for
//! `scripts/bench`.

use std::path::Path;

use super::CliError;
use crate::{
    clock::Clock,
    db::{Db, timestamp},
};

/// Fills the database, then (with `measure_append`) times appends.
pub async fn run(
    database: &Path,
    audit_events: u64,
    sandbox_caller_ids: u32,
    measure_append: u64,
    writers: u64,
) -> Result<String, CliError> {
    let said = generate(database, audit_events, sandbox_caller_ids).await?;
    if measure_append > 0 {
        return measure(database, measure_append, writers).await;
    }
    Ok(said)
}

/// `callerdesk generate`: made-up data for benchmarks.
async fn generate(
    database: &Path,
    audit_events: u64,
    sandbox_caller_ids: u32,
) -> Result<String, CliError> {
    let db = Db::open(database).await.map_err(|e| e.to_string())?;
    let now = Clock::system().now();
    if audit_events > 0 {
        crate::audit::sample::generate_answered(
            &db.writer,
            audit_events,
            now,
            time::Duration::milliseconds(50),
        )
        .await
        .map_err(|e| format!("Generating events failed: {e}."))?;
    }
    if sandbox_caller_ids > 0 {
        crate::sandbox::store::seed(&db, sandbox_caller_ids, &timestamp(now))
            .await
            .map_err(|e| format!("Seeding the sandbox failed: {e}."))?;
    }
    db.close().await;
    Ok(format!(
        "Added {audit_events} audit events; the sandbox holds at least {sandbox_caller_ids} caller IDs."
    ))
}

/// The audit append benchmark (`generate --measure-append`).
async fn measure(database: &Path, events: u64, writers: u64) -> Result<String, CliError> {
    let db = Db::open(database).await.map_err(|e| e.to_string())?;
    let figures = crate::audit::sample::measure_append(&db, events, writers, Clock::system().now())
        .await
        .map_err(|e| format!("Appending events failed: {e}."))?;
    db.close().await;
    Ok(figures.to_string())
}
