//! Verifying a number: start (Plivo sends a code), submit the code, send a new one, cancel,
//! and expiry. Every step that reaches Plivo first commits a `requested` audit event, then calls
//! Plivo with no transaction open, then commits the outcome with the state change. The code
//! itself passes straight through to Plivo: it is never stored, logged or put in an event.

mod code;
mod limits;
mod send;

pub use limits::{Limited, Limits, SendClaim};

use std::{future::Future, time::Duration};
use time::OffsetDateTime;
use tokio_util::task::TaskTracker;

use crate::{
    Result,
    audit::{self, Action, Actor, Attempt, NewEvent, Outcome, RequestMeta, Who},
    clock::Clock,
    db::{
        Db, Timestamp,
        verifications::{self, Verification},
    },
    domain::{Alias, PhoneNumber, VerificationStatus},
    plivo::{Channel, PlivoClient},
};

/// How long a code is valid.
pub const CODE_LIFETIME: time::Duration = time::Duration::minutes(15);
/// Wrong codes allowed per verification; the next wrong one fails it.
pub const MAX_WRONG_CODES: i64 = 5;

/// Who is acting, as the audit log records them.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub meta: RequestMeta,
}

impl Person {
    fn actor(&self) -> Actor {
        Actor::user(self.id, &self.name)
    }

    fn who(&self) -> Who {
        Who::new(self.actor(), self.meta.clone())
    }
}

/// What to verify.
#[derive(Debug, Clone)]
pub struct Request {
    pub number: PhoneNumber,
    pub alias: Alias,
    pub channel: Channel,
    pub subaccount: Option<String>,
}

/// The result of submitting a code.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeOutcome {
    Verified,
    /// Plivo accepted the code, so the number is verified, but the verification had already
    /// ended (cancelled or expired while the code was being checked); it keeps that status.
    VerifiedAfterEnd {
        /// How it had ended, when its record could be read.
        status: Option<VerificationStatus>,
    },
    /// Plivo said no; this many tries are left.
    WrongCode {
        attempts_left: i64,
    },
    /// That was the last allowed wrong code: the verification failed.
    Locked,
    /// Too late: the verification expired (Plivo was not asked).
    Expired,
    /// It is no longer waiting for a code.
    NotPending,
    /// Plivo's answer to the start never arrived, so there is nothing to submit to.
    NotSent,
    /// Another code for this verification is being checked right now; try again when it is.
    Busy,
    /// Plivo could not be asked; nothing was used up. The plain message.
    PlivoFailed(String),
    /// Plivo refused the code for a reason that is not plainly "wrong code"; no try was used.
    /// Plivo's own words.
    PlivoRefusedCode(String),
}

/// The result of asking for a new code.
#[derive(Debug, Clone, PartialEq)]
pub enum ResendOutcome {
    Sent,
    Limited(Limited),
    NotPending,
    PlivoFailed(String),
}

/// Why a verification step could not be carried out (beyond what its outcome says).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A limit refused the send; nothing was started or sent.
    #[error("{}", .0.message())]
    Limited(Limited),
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The step's task ended without an answer (it panicked).
    #[error("the verification step stopped unexpectedly: {0}")]
    Stopped(String),
}

/// The verification steps, with what they need.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub db: Db,
    pub plivo: PlivoClient,
    pub clock: Clock,
    pub limits: Limits,
    /// Where steps run to the end; shutdown waits for them.
    pub tasks: TaskTracker,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Verifier {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Runs a step that calls Plivo on a task of its own and waits for it. A request whose
    /// caller goes away (a closed tab, a timeout) is dropped by the web server mid-step; on its
    /// own task the step still records Plivo's answer and gives back the slot it claimed, and a
    /// shutdown waits for it.
    async fn detached<T: Send + 'static>(
        &self,
        step: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T, VerifyError> {
        match self.tasks.spawn(step).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(VerifyError::Stopped(e.to_string())),
        }
    }

    /// Marks every overdue pending verification expired, as the system.
    pub async fn expire_overdue(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.db.write().await?;
        let overdue = verifications::overdue(&mut tx, Timestamp::from(now)).await?;
        for v in &overdue {
            expire(&mut tx, v, &Who::system(), now).await?;
        }
        tx.commit().await?;
        Ok(overdue.len())
    }

    /// Ends a pending verification. False if it was no longer pending.
    #[tracing::instrument(skip(self, person), fields(verification = id))]
    pub async fn cancel(&self, person: &Person, id: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.db.write().await?;
        let Some(v) = verifications::by_id(&mut *tx, id).await? else {
            return Ok(false);
        };
        let cancelled = verifications::finish(
            &mut tx,
            id,
            VerificationStatus::Cancelled,
            None,
            Some((person.id, &person.name)),
            Timestamp::from(now),
        )
        .await?;
        if cancelled {
            let event = step_event(&person.who(), &v, Action::VerificationCancelled);
            audit::append(&mut tx, now, event).await?;
        }
        tx.commit().await?;
        Ok(cancelled)
    }
}

/// Whether a verification's time is up.
fn is_due(v: &Verification, now: OffsetDateTime) -> bool {
    v.expires_at.time() <= now
}

/// Ends a pending verification as expired, with its event (nothing if it was no longer pending).
async fn expire(
    conn: &mut sqlx::SqliteConnection,
    v: &Verification,
    who: &Who,
    now: OffsetDateTime,
) -> Result<()> {
    if verifications::finish(
        conn,
        &v.id,
        VerificationStatus::Expired,
        None,
        None,
        Timestamp::from(now),
    )
    .await?
    {
        let expired = step_event(who, v, Action::VerificationExpired);
        audit::append(conn, now, expired).await?;
    }
    Ok(())
}

/// The event of a step that changes nothing at Plivo (cancel, expiry).
fn step_event(who: &Who, v: &Verification, action: Action) -> NewEvent {
    who.event(action, Outcome::Succeeded)
        .with_verification(&v.id)
        .with_number(v.phone_number.as_str())
}

/// A step that reaches Plivo for verification `v`, as the audit log records it.
fn attempt(
    who: &Who,
    v_id: &str,
    number: &PhoneNumber,
    action: Action,
    details: serde_json::Value,
) -> Attempt {
    Attempt::new(who, action)
        .verification(v_id)
        .number(number)
        .details(details)
}

/// Marks overdue verifications expired every `every`, until the task is aborted.
pub async fn expire_regularly(verifier: Verifier, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match verifier.expire_overdue().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "verifications expired"),
            Err(e) => tracing::warn!(error = %e, "could not expire verifications"),
        }
    }
}
