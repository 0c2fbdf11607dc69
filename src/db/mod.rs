//! SQLite: one writer connection for the life of the process and a pool of read-only readers.
//!
//! Why exactly one writer: the SQLite that sqlx 0.8 bundles (3.46) predates the fix (3.51.3) for
//! a WAL corruption bug that needs two connections writing or checkpointing at the same time.
//! With a single writer connection that stays open, and readers opened read-only (which never
//! write or checkpoint), that can't happen. Writes queue for the writer; SQLite's own busy
//! timeout covers other processes (the command line) touching the file.

pub mod caller_id_search;
pub mod caller_ids;
mod group;
pub mod subaccounts;
pub mod sync_runs;
mod timestamp;
pub mod two_step;
mod types;
pub mod users;
pub mod verifications;

pub use group::{Committer, GroupedWrite};
pub use timestamp::{Timestamp, parse_timestamp, timestamp};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use std::{path::Path, time::Duration};

/// How long a statement waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers: enough for two cores and a few slow requests.
const READERS: u32 = 4;

/// The database: [`Db::write`] for a request's writes (they commit in groups), `writer` for
/// long writes of its own (a sync's batches), `reader` for everything else.
#[derive(Clone, Debug)]
pub struct Db {
    pub writer: SqlitePool,
    pub reader: SqlitePool,
    group: Committer,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("The database {path} could not be opened: {}.", explain(.source, *.read_only))]
    Open {
        path: String,
        source: sqlx::Error,
        read_only: bool,
    },
    #[error("The database {path} could not be brought up to date: {source}.")]
    Migrate {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
}

/// SQLite's reasons in plain words (the code stays, for searching). `read_only` says whether
/// the file refused to be opened for writing, which SQLite reports only as "can't open".
fn explain(e: &sqlx::Error, read_only: bool) -> String {
    let code = match e {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()),
        _ => None,
    };
    let Some(code) = code else {
        return e.to_string();
    };
    match (code & 0xff, code) {
        (26, _) => format!(
            "it is not a SQLite database, or it is damaged (SQLite code {code}); nothing was changed"
        ),
        (8 | 14, _) if read_only => format!(
            "the file or the file system it is on is read-only (SQLite code {code}); nothing was changed"
        ),
        (8, _) => format!("the file or its folder is read-only (SQLite code {code})"),
        (13, _) => format!("the disk is full (SQLite code {code})"),
        // SQLITE_IOERR_SHMSIZE: no room for the shared-memory file beside the database.
        (10, 4874) => format!(
            "the disk is full: there is no room for the shared-memory file SQLite keeps beside the database (SQLite code {code}); nothing was changed"
        ),
        (10, _) => format!(
            "the disk could not be read or written (SQLite code {code}); check its free space and health"
        ),
        (14, _) => format!(
            "the file can't be created or opened; check that its folder exists and is writable (SQLite code {code})"
        ),
        _ => e.to_string(),
    }
}

/// Whether an existing file at `path` refuses to be opened for writing.
fn refuses_writes(path: &Path) -> bool {
    path.exists()
        && std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .is_err_and(|e| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
                )
            })
}

impl Db {
    /// Opens (creating if missing) the database at `path` and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        let shown = path.display().to_string();
        let open_err = |source| OpenError::Open {
            path: shown.clone(),
            source,
            read_only: refuses_writes(path),
        };
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full);
        let writer = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(|source| OpenError::Migrate {
                path: shown.clone(),
                source,
            })?;
        // The journal mode is a property of the file (set by the writer above), so readers
        // don't set it: a read-only connection can't.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(Self {
            group: Committer::start(writer.clone()),
            writer,
            reader,
        })
    }

    /// A write in the next group commit: used like a transaction begun with `BEGIN IMMEDIATE`
    /// (what it reads can't change before it writes, so every claim is taken in one), and
    /// answered by `commit()` only once the group is on disk. See [`group`](self::group).
    pub async fn write(&self) -> sqlx::Result<GroupedWrite> {
        self.group.begin().await
    }

    /// Appends one audit event as a write of its own, in the next group commit, and answers it
    /// as stored once the group is on disk. For an event that goes with other changes, append it
    /// in their [`write`](Self::write) instead.
    pub async fn append(
        &self,
        now: time::OffsetDateTime,
        event: crate::audit::NewEvent,
    ) -> sqlx::Result<crate::audit::StoredEvent> {
        self.group
            .append(now, vec![event])
            .await?
            .pop()
            .ok_or_else(|| sqlx::Error::Protocol("no event was appended".into()))
    }

    /// How many group commits (each one fsync) have been made since the database was opened.
    pub fn groups_committed(&self) -> u64 {
        self.group.groups()
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Whether the database answers a trivial query.
    pub async fn is_healthy(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.reader)
            .await
            .is_ok()
    }
}
