//! The chain's status for the audit page: checked in full once (at start-up or on demand), then
//! incrementally from the last checked event, so showing it never re-reads a long log.

use sqlx::SqlitePool;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::{ChainStatus, Checkpoint, verify_from};

/// The last result, and where the check got to.
#[derive(Debug, Clone)]
pub struct Checked {
    pub status: ChainStatus,
    pub checkpoint: Checkpoint,
    pub at: OffsetDateTime,
}

/// Shared between requests; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ChainWatch {
    last: Arc<Mutex<Option<Checked>>>,
}

impl ChainWatch {
    /// Checks every event from the first.
    pub async fn full(&self, pool: &SqlitePool, now: OffsetDateTime) -> sqlx::Result<Checked> {
        let mut last = self.last.lock().await;
        let (status, checkpoint) = verify_from(pool, &Checkpoint::default()).await?;
        let checked = Checked {
            status,
            checkpoint,
            at: now,
        };
        *last = Some(checked.clone());
        Ok(checked)
    }

    /// Checks the events added since the last check; `None` until a full check has run. A
    /// broken chain stays broken until a full check finds otherwise.
    pub async fn refresh(
        &self,
        pool: &SqlitePool,
        now: OffsetDateTime,
    ) -> sqlx::Result<Option<Checked>> {
        let mut last = self.last.lock().await;
        let Some(previous) = last.clone() else {
            return Ok(None);
        };
        if matches!(previous.status, ChainStatus::Broken { .. }) {
            return Ok(Some(previous));
        }
        let (status, checkpoint) = verify_from(pool, &previous.checkpoint).await?;
        let checked = Checked {
            status,
            checkpoint,
            at: now,
        };
        *last = Some(checked.clone());
        Ok(Some(checked))
    }
}
