//! Where sessions are kept: SQLite, so they survive a restart, with the recently used ones also
//! in memory. Every page view loads its session, and loading it from SQLite through the single
//! writer connection queued page views behind every write.
//!
//! Only this process writes sessions (the command line ends sessions through the user's session
//! epoch, which every request checks in the database), so the copy in memory can't go stale:
//! every create, save and delete goes to both.

use async_trait::async_trait;
use sqlx::SqlitePool;
use tower_sessions::{
    CachingSessionStore, ExpiredDeletion, SessionStore,
    session::{Id, Record},
    session_store,
};
use tower_sessions_moka_store::MokaStore;
use tower_sessions_sqlx_store::SqliteStore;

/// How many sessions are kept in memory; the rest are read from SQLite when they come back.
/// Sessions are a few hundred bytes, so this bounds the cache to a few megabytes however many
/// sign-in pages a stranger opens.
const IN_MEMORY: u64 = 10_000;

/// The session table, written through the writer and read through the read-only pool.
#[derive(Debug, Clone)]
pub struct SqliteSessions {
    reader: SqliteStore,
    writer: SqliteStore,
}

impl SqliteSessions {
    pub fn new(reader: SqlitePool, writer: SqlitePool) -> Self {
        Self {
            reader: SqliteStore::new(reader),
            writer: SqliteStore::new(writer),
        }
    }
}

#[async_trait]
impl SessionStore for SqliteSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.writer.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.writer.save(record).await
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        self.reader.load(session_id).await
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        self.writer.delete(session_id).await
    }
}

#[async_trait]
impl ExpiredDeletion for SqliteSessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.writer.delete_expired().await
    }
}

/// The store the app uses: memory in front of SQLite.
pub type Sessions = CachingSessionStore<MokaStore, SqliteSessions>;

pub fn store(sqlite: SqliteSessions) -> Sessions {
    CachingSessionStore::new(MokaStore::new(Some(IN_MEMORY)), sqlite)
}
