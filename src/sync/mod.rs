//! Reconciliation: list every caller ID at Plivo and bring the cache in line, in one
//! transaction, recording each difference callerdesk did not cause as an audit event by
//! `system`. A run whose listing is incomplete or inconsistent changes nothing: a partial
//! listing must never look like deletions.

pub(crate) mod apply;
mod fetch;
pub mod settle;

use std::time::Duration;

use crate::{
    audit::{self, Action, Actor, NewEvent, Outcome, RequestMeta},
    clock::Clock,
    db::{Db, Timestamp, sync_runs},
    plivo::PlivoClient,
};
pub use sync_runs::{Counts, Trigger};

/// A running run that has not written a heartbeat for this long is taken as abandoned.
pub const STALE_AFTER: time::Duration = time::Duration::minutes(2);

/// Why a run did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("A sync is already running; {started_by} started it at {started_at}.")]
    AlreadyRunning {
        started_by: String,
        started_at: String,
    },
    #[error("The sync failed: {reason}")]
    Failed { run_id: i64, reason: String },
    #[error("The database could not be used: {0}.")]
    Database(#[from] sqlx::Error),
}

/// The outcome of a successful run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub run_id: i64,
    pub counts: Counts,
    pub took: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "Sync finished in {:.1} s: {} caller IDs at Plivo; {} added, {} changed, {} removed, {} restored.",
            self.took.as_secs_f64(),
            c.seen,
            c.added,
            c.changed,
            c.removed,
            c.restored
        )
    }
}

/// Runs syncs against one Plivo account and one database.
#[derive(Debug, Clone)]
pub struct Syncer {
    pub db: Db,
    pub plivo: PlivoClient,
    pub clock: Clock,
    /// Pages asked for at once (20 unless `CALLERDESK_SYNC_PAGES_IN_FLIGHT` says otherwise);
    /// the shared rate limiter keeps the total under Plivo's limit whatever this is.
    pub pages_in_flight: usize,
}

/// A claimed run, ready to execute.
#[derive(Debug)]
pub struct Claimed {
    pub run_id: i64,
    started_at: time::OffsetDateTime,
    actor: Actor,
}

impl Syncer {
    /// Claims the right to run, or reports the run already going.
    #[tracing::instrument(skip(self, actor))]
    pub async fn claim(&self, trigger: Trigger, actor: Actor) -> Result<Claimed, SyncError> {
        let now = self.clock.now();
        sync_runs::abandon_stale(
            &self.db.writer,
            Timestamp::from(now - STALE_AFTER),
            Timestamp::from(now),
        )
        .await?;
        match sync_runs::claim(&self.db.writer, trigger, &actor.name, Timestamp::from(now)).await? {
            Some(run_id) => Ok(Claimed {
                run_id,
                started_at: now,
                actor,
            }),
            None => {
                let running = sync_runs::running(&self.db.reader).await?;
                Err(SyncError::AlreadyRunning {
                    started_by: running
                        .as_ref()
                        .map_or_else(|| "someone".into(), |r| r.started_by.clone()),
                    started_at: running.as_ref().map(|r| r.started_at.time()).map_or_else(
                        || "a moment ago".into(),
                        |t| {
                            t.format(time::macros::format_description!(
                                "[hour]:[minute]:[second] UTC"
                            ))
                            .unwrap_or_default()
                        },
                    ),
                })
            }
        }
    }

    /// Claims and runs in one go.
    #[tracing::instrument(skip(self, actor))]
    pub async fn run(&self, trigger: Trigger, actor: Actor) -> Result<Summary, SyncError> {
        let claimed = self.claim(trigger, actor).await?;
        self.execute(claimed).await
    }

    /// Lists Plivo, then applies the differences (or records why it could not).
    pub async fn execute(&self, claimed: Claimed) -> Result<Summary, SyncError> {
        let began = std::time::Instant::now();
        let listing = fetch::listing(self, claimed.run_id).await;
        let now = self.clock.now();
        let mut tx = self.db.writer.begin().await?;
        let result = match listing {
            Ok(listing) => {
                let counts = apply::apply(&mut tx, &listing, claimed.started_at, now).await?;
                let settled =
                    settle::settle(&self.db, &mut tx, &listing, claimed.run_id, now).await?;
                if settled > 0 {
                    tracing::info!(settled, "settled requests that had no recorded outcome");
                }
                sync_runs::succeed(&mut tx, claimed.run_id, &counts, Timestamp::from(now)).await?;
                audit::append(
                    &mut tx,
                    now,
                    NewEvent::new(
                        claimed.actor.clone(),
                        &RequestMeta::default(),
                        Action::SyncFinished,
                        Outcome::Succeeded,
                    )
                    .with_details(serde_json::json!({ "run": claimed.run_id, "counts": counts })),
                )
                .await?;
                Ok(Summary {
                    run_id: claimed.run_id,
                    counts,
                    took: began.elapsed(),
                })
            }
            Err(failure) => {
                sync_runs::fail(
                    &mut tx,
                    claimed.run_id,
                    &failure.reason,
                    Timestamp::from(now),
                )
                .await?;
                audit::append(
                    &mut tx,
                    now,
                    NewEvent::new(
                        claimed.actor.clone(),
                        &RequestMeta::default(),
                        Action::SyncFinished,
                        Outcome::Failed,
                    )
                    .with_plivo(failure.api_id.as_deref(), failure.status)
                    .with_details(
                        serde_json::json!({ "run": claimed.run_id, "error": failure.reason }),
                    ),
                )
                .await?;
                Err(SyncError::Failed {
                    run_id: claimed.run_id,
                    reason: failure.reason,
                })
            }
        };
        tx.commit().await?;
        result
    }
}

/// The scheduled runs: once at start-up, then every `interval`. Runs until the task is aborted.
pub async fn schedule(syncer: Syncer, interval: Duration) {
    let mut trigger = Trigger::Startup;
    loop {
        match syncer.run(trigger, Actor::system()).await {
            Ok(summary) => tracing::info!(run = summary.run_id, "{summary}"),
            Err(SyncError::AlreadyRunning { .. }) => {
                tracing::info!("a sync was already running; skipped")
            }
            Err(e) => tracing::warn!(error = %e, "scheduled sync failed"),
        }
        tokio::time::sleep(interval).await;
        trigger = Trigger::Schedule;
    }
}
