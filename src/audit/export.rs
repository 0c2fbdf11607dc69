//! Exports: the events matching a filter, oldest first, as CSV or JSON Lines, produced in
//! chunks as the rows are read so memory stays flat for any number of events. Every event
//! carries `prev_hash` and `hash`, so a whole-log export can be checked on its own
//! (`docs/audit-log.md`). CSV cells that a spreadsheet would run as formulas are made text
//! (`crate::spreadsheet`), reversibly.

use futures_util::TryStreamExt;
use sqlx::SqlitePool;
use std::future::Future;

use serde_json::json;

use crate::{clock::Clock, spreadsheet::optional_cell};

use super::{
    Action, Outcome, StoredEvent, Who,
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

/// An event's fields in [`CSV_HEADER`]'s order, as cells no spreadsheet runs (a missing value
/// is an empty cell; see `crate::spreadsheet` and docs/audit-log.md).
fn csv_cells(e: &StoredEvent) -> [String; 16] {
    let text = |v: &Option<String>| optional_cell(v.as_deref()).into_owned();
    let number = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let required = |v: &str| optional_cell(Some(v)).into_owned();
    [
        e.id.to_string(),
        required(&e.occurred_at),
        number(e.actor_id),
        required(&e.actor_name),
        text(&e.client_ip),
        text(&e.user_agent),
        text(&e.request_id),
        required(&e.action),
        text(&e.phone_number),
        text(&e.verification_id),
        required(&e.outcome),
        text(&e.plivo_api_id),
        number(e.plivo_status),
        text(&e.details),
        required(&e.prev_hash),
        required(&e.hash),
    ]
}

/// A chunk is handed on once it holds this much.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the audit log could not be read: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the export was written but could not be recorded in the audit log: {0}")]
    Record(sqlx::Error),
    #[error("an event could not be written: {0}")]
    Encode(String),
}

/// Where events are written: a byte buffer, wrapped in one CSV writer for the whole export
/// (building a writer per row costs more than the row).
enum Sink {
    Csv(Box<csv::Writer<Vec<u8>>>),
    JsonLines(Vec<u8>),
}

impl Sink {
    fn new(format: Format) -> Self {
        match format {
            Format::Csv => Sink::Csv(Box::new(Self::csv())),
            Format::JsonLines => Sink::JsonLines(Vec::with_capacity(CHUNK + 4096)),
        }
    }

    fn csv() -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::with_capacity(CHUNK + 4096))
    }

    fn write(&mut self, event: &StoredEvent) -> Result<(), ExportError> {
        match self {
            Sink::JsonLines(out) => {
                serde_json::to_writer(&mut *out, event)
                    .map_err(|e| ExportError::Encode(e.to_string()))?;
                out.push(b'\n');
            }
            Sink::Csv(writer) => writer
                .write_record(csv_cells(event))
                .map_err(|e| ExportError::Encode(e.to_string()))?,
        }
        Ok(())
    }

    /// The bytes written so far, leaving the sink empty; `None` while under `at_least` bytes.
    fn take(&mut self, at_least: usize) -> Result<Option<Vec<u8>>, ExportError> {
        let at_least = at_least.max(1);
        match self {
            Sink::JsonLines(out) if out.len() >= at_least => Ok(Some(std::mem::replace(
                out,
                Vec::with_capacity(CHUNK + 4096),
            ))),
            Sink::JsonLines(_) => Ok(None),
            Sink::Csv(writer) => {
                writer
                    .flush()
                    .map_err(|e| ExportError::Encode(e.to_string()))?;
                if writer.get_ref().len() < at_least {
                    return Ok(None);
                }
                let full = std::mem::replace(writer.as_mut(), Self::csv());
                full.into_inner()
                    .map(Some)
                    .map_err(|e| ExportError::Encode(e.to_string()))
            }
        }
    }
}

/// [`export`], then the export itself recorded as an `audit_exported` event by `who`, with
/// its filter, format and how many events it held. Used by the page and the command line.
pub async fn export_recorded<F, Fut>(
    db: &crate::db::Db,
    who: &Who,
    clock: &Clock,
    filter: &Filter,
    format: Format,
    emit: F,
) -> Result<u64, ExportError>
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = bool>,
{
    let rows = export(&db.reader, filter, format, emit).await?;
    let event = who
        .event(Action::AuditExported, Outcome::Succeeded)
        .with_details(json!({ "filter": filter, "format": format.extension(), "rows": rows }));
    db.append(clock.now(), event)
        .await
        .map_err(ExportError::Record)?;
    Ok(rows)
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
    if format == Format::Csv && !emit(CSV_HEADER.as_bytes().to_vec()).await {
        return Ok(0);
    }
    let mut sink = Sink::new(format);
    let mut count = 0u64;
    while let Some(event) = rows.try_next().await? {
        sink.write(&event)?;
        count += 1;
        // The CSV writer buffers internally; check its size only now and then.
        if count % 256 == 0 {
            if let Some(full) = sink.take(CHUNK)? {
                if !emit(full).await {
                    return Ok(count);
                }
            }
        }
    }
    if let Some(rest) = sink.take(1)? {
        emit(rest).await;
    }
    Ok(count)
}
