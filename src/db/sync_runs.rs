//! The record of sync runs. A partial unique index allows one `running` row at a time, so
//! claiming a run is one INSERT that either wins or finds the run already going, whichever
//! process (web app or command line) asks.

use sqlx::{FromRow, SqliteConnection, SqliteExecutor, SqlitePool};

use super::{Timestamp, caller_id_search::CURRENT_COUNT};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    Schedule,
    Manual,
    CommandLine,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::Startup,
        Trigger::Schedule,
        Trigger::Manual,
        Trigger::CommandLine,
    ];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::CommandLine => "command line",
        }
    }
}

/// Where a run stands. At most one is `Running` at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRunStatus {
    Running,
    Succeeded,
    Failed,
}

impl SyncRunStatus {
    pub const ALL: [SyncRunStatus; 3] = [
        SyncRunStatus::Running,
        SyncRunStatus::Succeeded,
        SyncRunStatus::Failed,
    ];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncRunStatus::Running => "running",
            SyncRunStatus::Succeeded => "succeeded",
            SyncRunStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct SyncRun {
    pub id: i64,
    pub trigger: Trigger,
    pub started_by: String,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub status: SyncRunStatus,
    pub pages_done: i64,
    pub pages_total: Option<i64>,
    pub seen: Option<i64>,
    pub added: Option<i64>,
    pub changed: Option<i64>,
    pub removed: Option<i64>,
    pub restored: Option<i64>,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, trigger, started_by, started_at, heartbeat_at, finished_at, status, \
    pages_done, pages_total, seen, added, changed, removed, restored, error";

/// Starts a run; `Ok(None)` when one is already going.
pub async fn claim(
    pool: &SqlitePool,
    trigger: Trigger,
    started_by: &str,
    now: Timestamp,
) -> sqlx::Result<Option<i64>> {
    let result = sqlx::query(
        "INSERT INTO sync_runs (trigger, started_by, started_at, heartbeat_at, status)
         VALUES (?, ?, ?, ?, 'running')",
    )
    .bind(trigger)
    .bind(started_by)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await;
    match result {
        Ok(done) => Ok(Some(done.last_insert_rowid())),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Fails running rows whose heartbeat stopped before `stale_before` (the process died).
pub async fn abandon_stale(
    pool: &SqlitePool,
    stale_before: Timestamp,
    now: Timestamp,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE sync_runs SET status = 'failed', finished_at = ?,
             error = 'callerdesk stopped during the run, so it did not finish. Nothing was changed.'
         WHERE status = 'running' AND heartbeat_at < ?",
    )
    .bind(now)
    .bind(stale_before)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Progress and a heartbeat.
pub async fn progress(
    pool: &SqlitePool,
    id: i64,
    done: i64,
    total: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE sync_runs SET pages_done = ?, pages_total = ?, heartbeat_at = ? WHERE id = ?",
    )
    .bind(done)
    .bind(total)
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The counts of a finished run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub seen: i64,
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
    pub restored: i64,
}

pub async fn succeed(
    conn: &mut SqliteConnection,
    id: i64,
    counts: &Counts,
    note: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE sync_runs SET status = 'succeeded', finished_at = ?, heartbeat_at = ?, seen = ?,
             added = ?, changed = ?, removed = ?, restored = ?, error = ?
         WHERE id = ?",
    )
    .bind(now)
    .bind(now)
    .bind(counts.seen)
    .bind(counts.added)
    .bind(counts.changed)
    .bind(counts.removed)
    .bind(counts.restored)
    .bind(note)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn fail(
    conn: &mut SqliteConnection,
    id: i64,
    error: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE sync_runs SET status = 'failed', finished_at = ?, heartbeat_at = ?, error = ? WHERE id = ?",
    )
    .bind(now)
    .bind(now)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(pool: &SqlitePool, id: i64) -> sqlx::Result<Option<SyncRun>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM sync_runs WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The run going now, if any.
pub async fn running(pool: &SqlitePool) -> sqlx::Result<Option<SyncRun>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sync_runs WHERE status = 'running'"
    ))
    .fetch_optional(pool)
    .await
}

/// What the status area shows, read in one query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The run going now, if any.
    pub running: Option<SyncRun>,
    /// The most recent finished run.
    pub last: Option<SyncRun>,
    /// The most recent successful run.
    pub succeeded: Option<SyncRun>,
    /// How many caller IDs are current.
    pub current: i64,
}

#[derive(FromRow)]
struct SummaryRow {
    #[sqlx(flatten)]
    run: SyncRun,
    current: i64,
}

/// The running run, the most recent finished one and the most recent successful one (each
/// row at most once), and the count of current caller IDs (kept by triggers).
pub async fn summary(db: impl SqliteExecutor<'_>) -> sqlx::Result<Summary> {
    let rows: Vec<SummaryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, {CURRENT_COUNT} AS current
         FROM sync_runs WHERE id IN (
             (SELECT id FROM sync_runs WHERE status = 'running'),
             (SELECT id FROM sync_runs WHERE status != 'running' ORDER BY id DESC LIMIT 1),
             (SELECT id FROM sync_runs WHERE status = 'succeeded' ORDER BY id DESC LIMIT 1))
         ORDER BY id DESC"
    ))
    .fetch_all(db)
    .await?;
    let mut summary = Summary {
        current: rows.first().map_or(0, |r| r.current),
        ..Summary::default()
    };
    for SummaryRow { run, .. } in rows {
        if run.status == SyncRunStatus::Running {
            summary.running = Some(run);
            continue;
        }
        if run.status == SyncRunStatus::Succeeded && summary.succeeded.is_none() {
            summary.succeeded = Some(run.clone());
        }
        if summary.last.is_none() {
            summary.last = Some(run);
        }
    }
    Ok(summary)
}
