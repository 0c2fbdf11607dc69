//! The chain's status for the audit page: checked in full at start-up, at an interval (hourly
//! by default) and on demand, and incrementally from the last checked event in between, so
//! showing it never re-reads a long log. A full check also looks for the triggers that make the
//! table append-only: someone who dropped them to change the log shows up here even if they
//! recomputed every hash.

use sqlx::{SqliteExecutor, SqlitePool};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::{ChainStatus, Position, verify_from};

/// The last result, and where the check got to.
#[derive(Debug, Clone)]
pub struct Checked {
    pub status: ChainStatus,
    pub position: Position,
    pub at: OffsetDateTime,
}

/// Shared between requests; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ChainWatch {
    last: Arc<Mutex<Option<Checked>>>,
    full: Arc<Mutex<Option<FullCheck>>>,
}

/// The last check from the first event, and the append-only triggers it found missing.
#[derive(Debug, Clone)]
pub struct FullCheck {
    pub checked: Checked,
    pub missing: Vec<&'static str>,
}

/// The triggers that refuse changes to `audit_events` (migration 0001).
pub const GUARDS: [&str; 2] = [
    "audit_events_are_never_updated",
    "audit_events_are_never_deleted",
];

/// Which of [`GUARDS`] are missing from the database.
pub async fn missing_guards(db: impl SqliteExecutor<'_>) -> sqlx::Result<Vec<&'static str>> {
    let present: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'",
    )
    .fetch_all(db)
    .await?;
    Ok(GUARDS
        .into_iter()
        .filter(|guard| !present.iter().any(|p| p == guard))
        .collect())
}

impl ChainWatch {
    /// Checks every event from the first. Its result replaces the last one, a broken chain
    /// included. The lock is not held while reading, so pages shown during a long check say
    /// that the chain is being checked instead of waiting for it.
    pub async fn full(&self, pool: &SqlitePool, now: OffsetDateTime) -> sqlx::Result<Checked> {
        let missing = missing_guards(pool).await?;
        let (status, position) = verify_from(pool, &Position::default()).await?;
        let checked = Checked {
            status,
            position,
            at: now,
        };
        *self.full.lock().await = Some(FullCheck {
            checked: checked.clone(),
            missing,
        });
        Ok(self.settle(checked, true).await)
    }

    /// The last full check and the guards it found missing; `None` before the first.
    pub async fn last_full(&self) -> Option<FullCheck> {
        self.full.lock().await.clone()
    }

    /// Checks the whole chain now and then every `interval`, logging what each check found.
    pub async fn check_regularly(
        self,
        pool: SqlitePool,
        clock: crate::clock::Clock,
        interval: Option<std::time::Duration>,
    ) {
        loop {
            match self.full(&pool, clock.now()).await {
                Ok(checked) => {
                    if let Some(FullCheck { missing, .. }) =
                        self.last_full().await.filter(|f| !f.missing.is_empty())
                    {
                        tracing::error!(
                            missing = ?missing,
                            "the audit log's append-only triggers are missing: someone with write access to the database removed them"
                        );
                    }
                    match checked.status {
                        ChainStatus::Intact { .. } => {
                            tracing::info!(status = %checked.status, "audit chain checked in full");
                        }
                        ChainStatus::Broken { .. } => {
                            tracing::error!(status = %checked.status, "audit chain checked in full");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not check the audit chain"),
            }
            let Some(interval) = interval else { return };
            tokio::time::sleep(interval).await;
        }
    }

    /// Stores a finished check and returns the result to show. Another check may have
    /// finished meanwhile: the one that got further along an intact chain is kept, and a
    /// broken result is kept unless this is a full check.
    async fn settle(&self, checked: Checked, full: bool) -> Checked {
        let intact = |c: &Checked| matches!(c.status, ChainStatus::Intact { .. });
        let mut last = self.last.lock().await;
        let keep = last.as_ref().filter(|current| {
            (!full && !intact(current))
                || (intact(current)
                    && intact(&checked)
                    && current.position.last_id > checked.position.last_id)
        });
        if let Some(current) = keep {
            return current.clone();
        }
        *last = Some(checked.clone());
        checked
    }

    /// Checks the events added since the last check; `None` until a full check has run. A
    /// broken chain stays broken until a full check finds otherwise.
    ///
    /// The lock is held only to read and store the result, not while reading the log: pages
    /// shown at the same moment each check the (usually empty) tail side by side instead of
    /// queueing behind one another.
    pub async fn refresh(
        &self,
        db: impl SqliteExecutor<'_>,
        now: OffsetDateTime,
    ) -> sqlx::Result<Option<Checked>> {
        let Some(previous) = self.last.lock().await.clone() else {
            return Ok(None);
        };
        if matches!(previous.status, ChainStatus::Broken { .. }) {
            return Ok(Some(previous));
        }
        let (status, position) = verify_from(db, &previous.position).await?;
        let checked = Checked {
            status,
            position,
            at: now,
        };
        Ok(Some(self.settle(checked, false).await))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{audit::sample, db::Db};

    fn events(checked: &Checked) -> u64 {
        match checked.status {
            ChainStatus::Intact { events } => events,
            ChainStatus::Broken { .. } => panic!("broken: {:?}", checked.status),
        }
    }

    #[tokio::test]
    async fn refreshes_follow_the_log_side_by_side_after_a_full_check() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("w.db")).await.unwrap();
        let now = OffsetDateTime::now_utc();
        let step = time::Duration::seconds(1);
        sample::generate(&db.writer, 300, now, step).await.unwrap();
        let watch = ChainWatch::default();
        assert!(watch.refresh(&db.reader, now).await.unwrap().is_none());

        assert_eq!(events(&watch.full(&db.reader, now).await.unwrap()), 300);
        sample::generate(&db.writer, 200, now, step).await.unwrap();
        let refreshes: Vec<_> = (0..8).map(|_| watch.refresh(&db.reader, now)).collect();
        for checked in futures_util::future::join_all(refreshes).await {
            assert_eq!(events(&checked.unwrap().unwrap()), 500);
        }
        // What was stored is the furthest check: the next refresh reads nothing new.
        let stored = watch.last.lock().await.clone().unwrap();
        assert_eq!(events(&stored), 500);
        assert_eq!(
            events(&watch.refresh(&db.reader, now).await.unwrap().unwrap()),
            500
        );
        db.close().await;
    }

    #[tokio::test]
    async fn a_full_check_notices_the_append_only_triggers_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("w.db")).await.unwrap();
        let now = OffsetDateTime::now_utc();
        let watch = ChainWatch::default();
        assert!(watch.last_full().await.is_none());
        watch.full(&db.reader, now).await.unwrap();
        assert_eq!(watch.last_full().await.unwrap().missing, Vec::<&str>::new());
        sqlx::query("DROP TRIGGER audit_events_are_never_deleted")
            .execute(&db.writer)
            .await
            .unwrap();
        watch.full(&db.reader, now).await.unwrap();
        assert_eq!(
            watch.last_full().await.unwrap().missing,
            vec!["audit_events_are_never_deleted"]
        );
        db.close().await;
    }
}
