//! Reconciliation: list every caller ID at Plivo and bring the cache in line, recording each
//! difference callerdesk did not cause as an audit event by `system`. What is read is stored as
//! it arrives (anything Plivo lists is there). A number is marked removed only when a
//! consistent read lacks it and Plivo answers 404 for it: a partial or moving listing never
//! looks like deletions. A list that moves under the read is read again, up to three times.

pub(crate) mod apply;
mod fetch;
pub mod settle;

use std::time::Duration;

use futures_util::{StreamExt, stream};
use tokio::sync::mpsc;

use crate::{
    audit::{self, Action, Actor, Outcome, RequestMeta, Who},
    clock::Clock,
    db::{Db, Timestamp, subaccounts, sync_runs},
    plivo::{PlivoClient, PlivoError},
};
pub use sync_runs::{Counts, Trigger};

/// How many times a run reads the list when it moves under the read.
pub const PASSES: usize = 3;

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
    /// Storing the pages stopped without an answer (it panicked).
    #[error("The sync stopped unexpectedly: {0}.")]
    Stopped(String),
}

/// The outcome of a successful run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub run_id: i64,
    pub counts: Counts,
    pub took: Duration,
    /// The list moving under the run, removals left for the next one.
    pub note: Option<String>,
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
        )?;
        if let Some(note) = &self.note {
            write!(f, " {note}")?;
        }
        Ok(())
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

impl Claimed {
    fn who(&self) -> Who {
        Who::new(self.actor.clone(), RequestMeta::default())
    }
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

    /// Reads Plivo's list (again when it moved under the read, at most [`PASSES`] times),
    /// storing pages as they arrive; then marks removed what a consistent read lacked and
    /// Plivo confirms gone, settles requests left without an outcome, and records the run.
    pub async fn execute(&self, claimed: Claimed) -> Result<Summary, SyncError> {
        let began = std::time::Instant::now();
        let (pages, received) = mpsc::channel(64);
        let storing = tokio::spawn(apply::store_pages(
            self.db.clone(),
            self.clock.clone(),
            received,
            claimed.started_at,
        ));
        let read = async {
            let mut moves = Vec::new();
            let mut last = None;
            let mut failure = None;
            for _ in 0..PASSES {
                match fetch::pass(self, claimed.run_id, &pages).await {
                    Ok(pass) => {
                        let consistent = pass.moved.is_none();
                        moves.extend(pass.moved.clone());
                        last = Some(pass);
                        if consistent {
                            break;
                        }
                    }
                    Err(f) => {
                        failure = Some(f);
                        break;
                    }
                }
            }
            (moves, last, failure)
        };
        // The subaccounts' names are read beside the caller IDs (main-account credentials only).
        let names = async {
            if self.plivo.may_set_subaccounts() {
                Some(self.plivo.all_subaccounts().await)
            } else {
                None
            }
        };
        let ((moves, last, failure), subaccounts) = tokio::join!(read, names);
        drop(pages);
        let mut counts = storing
            .await
            .map_err(|e| SyncError::Stopped(e.to_string()))??;
        let consistent = last.as_ref().filter(|pass| pass.moved.is_none());

        // Removals: only from a consistent read, and only what Plivo itself says is gone.
        let mut gone = Vec::new();
        let mut unconfirmed = 0usize;
        if let (None, Some(pass)) = (&failure, consistent) {
            let listed = pass.listed().unwrap_or_default();
            let absent = apply::absent(&self.db, &listed, claimed.started_at).await?;
            let mut answers = stream::iter(absent)
                .map(|row| async move { (self.plivo.get(&row.phone_number).await, row) })
                .buffer_unordered(self.pages_in_flight.max(1));
            while let Some((answer, row)) = answers.next().await {
                match answer {
                    Err(PlivoError::Refused { status: 404, .. }) => gone.push(row),
                    // Still there after all: the list moved after this read; the next run
                    // will list it.
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, number = %row.phone_number, "could not confirm a number is gone");
                        unconfirmed += 1;
                    }
                }
            }
        }

        let now = self.clock.now();
        let mut tx = self.db.writer.begin().await?;
        let result = match failure {
            None => {
                apply::remove(&mut tx, &gone, now).await?;
                counts.removed = gone.len() as i64;
                counts.seen = last.as_ref().map_or(0, |pass| {
                    pass.objects
                        .iter()
                        .map(|c| c.phone_number.as_str())
                        .collect::<std::collections::HashSet<_>>()
                        .len() as i64
                });
                if let Some(pass) = consistent {
                    let settled =
                        settle::settle(&self.db, &mut tx, &pass.objects, claimed.run_id, now)
                            .await?;
                    if settled > 0 {
                        tracing::info!(settled, "settled requests that had no recorded outcome");
                    }
                }
                let names_failed = match &subaccounts {
                    Some(Ok(listed)) => {
                        subaccounts::replace(&mut tx, listed, Timestamp::from(now)).await?;
                        false
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "could not list the subaccounts");
                        true
                    }
                    None => false,
                };
                let note = run_note(&moves, consistent.is_some(), unconfirmed, names_failed);
                sync_runs::succeed(
                    &mut tx,
                    claimed.run_id,
                    &counts,
                    note.as_deref(),
                    Timestamp::from(now),
                )
                .await?;
                let event = claimed
                    .who()
                    .event(Action::SyncFinished, Outcome::Succeeded)
                    .with_details(serde_json::json!({
                        "run": claimed.run_id, "counts": counts,
                        "passes": moves.len() + usize::from(consistent.is_some()),
                        "note": note,
                    }));
                audit::append(&mut tx, now, event).await?;
                Ok(Summary {
                    run_id: claimed.run_id,
                    counts,
                    took: began.elapsed(),
                    note,
                })
            }
            Some(failure) => {
                sync_runs::fail(
                    &mut tx,
                    claimed.run_id,
                    &failure.reason,
                    Timestamp::from(now),
                )
                .await?;
                let event = claimed
                    .who()
                    .event(Action::SyncFinished, Outcome::Failed)
                    .with_plivo(failure.api_id.as_deref(), failure.status)
                    .with_details(serde_json::json!({
                        "run": claimed.run_id, "error": failure.reason, "stored": counts,
                    }));
                audit::append(&mut tx, now, event).await?;
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

/// What a successful run has to say beyond its counts: the list moving under it, removals
/// left for the next run, numbers Plivo could not be asked about.
fn run_note(
    moves: &[String],
    consistent: bool,
    unconfirmed: usize,
    names_failed: bool,
) -> Option<String> {
    let mut note = Vec::new();
    if !moves.is_empty() {
        note.push(format!(
            "Plivo's list changed while it was read ({}), so it was read again",
            moves.join("; ")
        ));
    }
    if !consistent {
        note.push(format!(
            "it kept changing for {PASSES} reads: what was read was stored, and numbers that may be gone are left for the next run"
        ));
    }
    if unconfirmed > 0 {
        note.push(format!(
            "{unconfirmed} numbers missing from the list could not be checked with Plivo and are left for the next run"
        ));
    }
    if names_failed {
        note.push(
            "the subaccounts' names could not be read, so the names shown are from an earlier run"
                .to_owned(),
        );
    }
    let note = note.join("; ");
    let mut letters = note.chars();
    // One sentence, starting with a capital.
    letters
        .next()
        .map(|first| format!("{}{}.", first.to_uppercase(), letters.as_str()))
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
