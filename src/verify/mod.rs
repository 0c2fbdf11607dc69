//! Verifying a number: start (Plivo sends a code), submit the code, send a new one, cancel,
//! and expiry. Every step that reaches Plivo first commits a `requested` audit event, then calls
//! Plivo with no transaction open, then commits the outcome with the state change. The code
//! itself passes straight through to Plivo: it is never stored, logged or put in an event.

mod code;
mod limits;

pub use limits::{Limited, Limits, SendClaim};

use serde_json::json;
use std::{future::Future, time::Duration};
use time::OffsetDateTime;

use crate::{
    audit::{self, Action, Actor, NewEvent, Outcome, RequestMeta},
    clock::Clock,
    db::{
        Db, parse_timestamp, timestamp,
        verifications::{self, NewVerification, Verification},
    },
    domain::{Alias, PhoneNumber},
    plivo::{Channel, PlivoClient, PlivoError, StartVerification},
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
        status: String,
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
}

/// The result of asking for a new code.
#[derive(Debug, Clone, PartialEq)]
pub enum ResendOutcome {
    Sent,
    Limited(Limited),
    NotPending,
    PlivoFailed(String),
}

/// A code to send for a verification (first or again).
struct CodeSend<'a> {
    id: &'a str,
    number: &'a PhoneNumber,
    alias: &'a str,
    channel: Channel,
    subaccount: &'a str,
    /// What the `requested` event and its outcome record.
    details: serde_json::Value,
}

/// Why a verification step could not be carried out (beyond what its outcome says).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The step's task ended without an answer (it panicked).
    #[error("the verification step stopped unexpectedly: {0}")]
    Stopped(String),
}

/// Runs a step that calls Plivo on a task of its own and waits for it. A request whose caller
/// goes away (a closed tab, a timeout) is dropped by the web server mid-step; on its own task
/// the step still records Plivo's answer and gives back the slot it claimed.
async fn detached<T: Send + 'static>(
    step: impl Future<Output = Result<T, sqlx::Error>> + Send + 'static,
) -> Result<T, VerifyError> {
    match tokio::spawn(step).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(VerifyError::Stopped(e.to_string())),
    }
}

/// The verification steps, with what they need.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub db: Db,
    pub plivo: PlivoClient,
    pub clock: Clock,
    pub limits: Limits,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The event for a verification step.
fn event(
    person: &Actor,
    meta: &RequestMeta,
    action: Action,
    outcome: Outcome,
    v_id: &str,
    number: &str,
) -> NewEvent {
    NewEvent::new(person.clone(), meta, action, outcome)
        .with_verification(v_id)
        .with_number(number)
}

fn failure_details(e: &PlivoError, mut details: serde_json::Value) -> serde_json::Value {
    if let Some(map) = details.as_object_mut() {
        map.insert(
            "error".into(),
            json!(e.plivo_error().map_or_else(|| e.to_string(), str::to_owned)),
        );
    }
    details
}

impl Verifier {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Starts a verification: our record, a send slot and a `requested` event first, in one
    /// transaction, then Plivo. A Plivo failure leaves the verification `failed` with the
    /// reason; nothing is retried. Runs to the end even if the caller goes away.
    pub async fn start(
        &self,
        person: &Person,
        request: &Request,
    ) -> Result<Result<Verification, Limited>, VerifyError> {
        let (this, person, request) = (self.clone(), person.clone(), request.clone());
        detached(async move { this.start_now(&person, &request).await }).await
    }

    async fn start_now(
        &self,
        person: &Person,
        request: &Request,
    ) -> Result<Result<Verification, Limited>, sqlx::Error> {
        let id = new_id();
        let now = self.now();
        let number = request.number.as_str();
        let channel = request.channel.as_str();
        let subaccount = request.subaccount.clone().unwrap_or_default();
        let details = json!({ "alias": request.alias.as_str(), "channel": channel, "subaccount": subaccount });
        let mut tx = self.db.begin_immediate().await?;
        verifications::insert(
            &mut tx,
            &NewVerification {
                id: &id,
                phone_number: number,
                alias: request.alias.as_str(),
                channel,
                subaccount: &subaccount,
                started_by_id: person.id,
                started_by_name: &person.name,
                started_at: &timestamp(now),
                expires_at: &timestamp(now + CODE_LIFETIME),
            },
        )
        .await?;
        let claim = match self
            .limits
            .claim(&mut tx, &id, number, person.id, channel, now)
            .await?
        {
            Ok(claim) => claim,
            // Dropping the transaction forgets the verification too.
            Err(limited) => return Ok(Err(limited)),
        };
        let send = CodeSend {
            id: &id,
            number: &request.number,
            alias: request.alias.as_str(),
            channel: request.channel,
            subaccount: &subaccount,
            details,
        };
        self.send_code(person, tx, claim, send).await?;
        let stored = verifications::by_id(&self.db.reader, &id).await?;
        stored.map(Ok).ok_or(sqlx::Error::RowNotFound)
    }

    /// Sends a code whose slot is claimed in `tx`: adds the `requested` event, commits, asks
    /// Plivo with no transaction open, and records what it answered. Returns the plain message
    /// when no code was sent.
    async fn send_code(
        &self,
        person: &Person,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        claim: SendClaim,
        send: CodeSend<'_>,
    ) -> Result<Option<String>, sqlx::Error> {
        let now = self.now();
        let (id, number) = (send.id, send.number.as_str());
        let requested = event(
            &person.actor(),
            &person.meta,
            Action::VerificationStarted,
            Outcome::Requested,
            id,
            number,
        )
        .with_details(send.details.clone());
        let request_event = audit::append(&mut tx, now, requested).await?.id;
        tx.commit().await?;
        let answer = self
            .plivo
            .start_verification(&StartVerification {
                phone_number: send.number.clone(),
                alias: Some(send.alias.to_owned()).filter(|a| !a.is_empty()),
                channel: send.channel,
                subaccount: Some(send.subaccount.to_owned()).filter(|s| !s.is_empty()),
            })
            .await;
        self.record_send_outcome(person, &send, claim, request_event, answer)
            .await
    }

    /// Commits what Plivo answered to a send (first or again).
    async fn record_send_outcome(
        &self,
        person: &Person,
        send: &CodeSend<'_>,
        claim: SendClaim,
        request_event: i64,
        answer: Result<crate::plivo::Started, PlivoError>,
    ) -> Result<Option<String>, sqlx::Error> {
        let (id, number, channel) = (send.id, send.number.as_str(), send.channel);
        let details = send.details.clone();
        let now = self.now();
        let mut tx = self.db.writer.begin().await?;
        let message = match answer {
            Ok(started) => {
                verifications::sent(
                    &mut tx,
                    id,
                    &started.verification_uuid,
                    channel.as_str(),
                    &timestamp(now),
                    &timestamp(now + CODE_LIFETIME),
                )
                .await?;
                audit::append(
                    &mut tx,
                    now,
                    event(
                        &person.actor(),
                        &person.meta,
                        Action::VerificationStarted,
                        Outcome::Succeeded,
                        id,
                        number,
                    )
                    .with_plivo(started.api_id.as_deref(), None)
                    .with_request(request_event)
                    .with_details(details),
                )
                .await?;
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, verification = id, "Plivo did not send a code");
                let message = e.full_message();
                // A send Plivo certainly did not make does not count against the limits; one
                // it may have made (no answer in time, a 5xx) does.
                if e.certainly_not_acted() {
                    Limits::release(&mut tx, claim).await?;
                }
                let first_send = verifications::by_id(&mut *tx, id)
                    .await?
                    .is_some_and(|v| v.plivo_uuid.is_none());
                if first_send {
                    verifications::finish(
                        &mut tx,
                        id,
                        "failed",
                        Some(&message),
                        None,
                        &timestamp(now),
                    )
                    .await?;
                }
                audit::append(
                    &mut tx,
                    now,
                    event(
                        &person.actor(),
                        &person.meta,
                        Action::VerificationStarted,
                        Outcome::Failed,
                        id,
                        number,
                    )
                    .with_plivo(e.api_id(), e.status())
                    .with_request(request_event)
                    .with_details(failure_details(&e, details)),
                )
                .await?;
                Some(message)
            }
        };
        tx.commit().await?;
        Ok(message)
    }

    /// Marks every overdue pending verification expired, as the system.
    pub async fn expire_overdue(&self) -> Result<usize, sqlx::Error> {
        let now = self.now();
        let mut tx = self.db.writer.begin().await?;
        let overdue = verifications::overdue(&mut tx, &timestamp(now)).await?;
        for v in &overdue {
            expire(&mut tx, v, &Actor::system(), &RequestMeta::default(), now).await?;
        }
        tx.commit().await?;
        Ok(overdue.len())
    }

    /// Sends a new code (by `channel`), replacing the one sent before. Runs to the end even if
    /// the caller goes away.
    pub async fn resend(
        &self,
        person: &Person,
        id: &str,
        channel: Channel,
    ) -> Result<ResendOutcome, VerifyError> {
        let (this, person, id) = (self.clone(), person.clone(), id.to_owned());
        detached(async move { this.resend_now(&person, &id, channel).await }).await
    }

    async fn resend_now(
        &self,
        person: &Person,
        id: &str,
        channel: Channel,
    ) -> Result<ResendOutcome, sqlx::Error> {
        let now = self.now();
        let mut tx = self.db.begin_immediate().await?;
        let Some(v) = verifications::by_id(&mut *tx, id).await? else {
            return Ok(ResendOutcome::NotPending);
        };
        if v.status != "pending" {
            return Ok(ResendOutcome::NotPending);
        }
        if is_due(&v, now) {
            expire(&mut tx, &v, &person.actor(), &person.meta, now).await?;
            tx.commit().await?;
            return Ok(ResendOutcome::NotPending);
        }
        let claim = match self
            .limits
            .claim(
                &mut tx,
                id,
                &v.phone_number,
                person.id,
                channel.as_str(),
                now,
            )
            .await?
        {
            Ok(claim) => claim,
            Err(limited) => return Ok(ResendOutcome::Limited(limited)),
        };
        let details = json!({ "channel": channel.as_str(), "resend": true });
        let number = PhoneNumber::from_e164(&v.phone_number)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let send = CodeSend {
            id,
            number: &number,
            alias: &v.alias,
            channel,
            subaccount: &v.subaccount,
            details,
        };
        Ok(match self.send_code(person, tx, claim, send).await? {
            None => ResendOutcome::Sent,
            Some(message) => ResendOutcome::PlivoFailed(message),
        })
    }

    /// Ends a pending verification. False if it was no longer pending.
    pub async fn cancel(&self, person: &Person, id: &str) -> Result<bool, sqlx::Error> {
        let now = self.now();
        let mut tx = self.db.writer.begin().await?;
        let Some(v) = verifications::by_id(&mut *tx, id).await? else {
            return Ok(false);
        };
        let cancelled = verifications::finish(
            &mut tx,
            id,
            "cancelled",
            None,
            Some((person.id, &person.name)),
            &timestamp(now),
        )
        .await?;
        if cancelled {
            audit::append(
                &mut tx,
                now,
                event(
                    &person.actor(),
                    &person.meta,
                    Action::VerificationCancelled,
                    Outcome::Succeeded,
                    id,
                    &v.phone_number,
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(cancelled)
    }
}

/// Whether a verification's time is up.
fn is_due(v: &Verification, now: OffsetDateTime) -> bool {
    parse_timestamp(&v.expires_at).is_none_or(|t| t <= now)
}

/// Ends a pending verification as expired, with its event (nothing if it was no longer pending).
async fn expire(
    conn: &mut sqlx::SqliteConnection,
    v: &Verification,
    actor: &Actor,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    if verifications::finish(conn, &v.id, "expired", None, None, &timestamp(now)).await? {
        let expired = event(
            actor,
            meta,
            Action::VerificationExpired,
            Outcome::Succeeded,
            &v.id,
            &v.phone_number,
        );
        audit::append(conn, now, expired).await?;
    }
    Ok(())
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
