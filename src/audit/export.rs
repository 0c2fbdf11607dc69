//! Exports: the events matching a filter, oldest first, as CSV or JSON Lines, produced in
//! chunks as the rows are read so memory stays flat for any number of events. Every event
//! carries `prev_hash` and `hash`, so a whole-log export can be checked on its own
//! (`docs/audit-log.md`).

use futures_util::TryStreamExt;
use sqlx::SqlitePool;
use std::future::Future;

use super::{
    StoredEvent,
    query::{Filter, export_sql},
};

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Format::Csv),
            "jsonl" => Some(Format::JsonLines),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::JsonLines => "application/x-ndjson; charset=utf-8",
        }
    }
}

/// The CSV header: the event's fields in table order.
pub const CSV_HEADER: &str = "id,occurred_at,actor_id,actor_name,client_ip,user_agent,request_id,action,\
phone_number,verification_id,outcome,plivo_api_id,plivo_status,details,prev_hash,hash\n";

/// A chunk is handed on once it holds this much.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the audit log could not be read: {0}")]
    Database(#[from] sqlx::Error),
    #[error("an event could not be written: {0}")]
    Encode(String),
}

fn encode(format: Format, event: &StoredEvent, out: &mut Vec<u8>) -> Result<(), ExportError> {
    match format {
        Format::JsonLines => {
            serde_json::to_writer(&mut *out, event)
                .map_err(|e| ExportError::Encode(e.to_string()))?;
            out.push(b'\n');
        }
        Format::Csv => {
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut *out);
            writer
                .serialize(event)
                .map_err(|e| ExportError::Encode(e.to_string()))?;
            writer
                .flush()
                .map_err(|e| ExportError::Encode(e.to_string()))?;
        }
    }
    Ok(())
}

/// Streams the export to `emit`, a chunk at a time; `emit` answers false to stop early (the
/// reader went away). Returns how many events were written.
pub async fn export<F, Fut>(
    pool: &SqlitePool,
    filter: &Filter,
    format: Format,
    mut emit: F,
) -> Result<u64, ExportError>
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut query = export_sql(pool, filter).await?;
    let mut rows = query.build_query_as::<StoredEvent>().fetch(pool);
    let mut chunk = Vec::with_capacity(CHUNK + 4096);
    if format == Format::Csv {
        chunk.extend_from_slice(CSV_HEADER.as_bytes());
    }
    let mut count = 0u64;
    while let Some(event) = rows.try_next().await? {
        encode(format, &event, &mut chunk)?;
        count += 1;
        if chunk.len() >= CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK + 4096));
            if !emit(full).await {
                return Ok(count);
            }
        }
    }
    if !chunk.is_empty() {
        emit(chunk).await;
    }
    Ok(count)
}
