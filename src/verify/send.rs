//! Sending a code, first or again. A send takes its slot (the limits) and commits its
//! `requested` event in the same transaction as whatever comes before it (a new
//! verification), then asks Plivo with no transaction open, then records the answer: a send
//! Plivo certainly did not make gives its slot back.

use serde_json::json;

use super::{
    CODE_LIFETIME, Limited, Limits, Person, Request, ResendOutcome, SendClaim, Verifier,
    VerifyError, attempt, expire, is_due, new_id,
};
use crate::{
    Result,
    audit::{Action, Attempt, Requested, append},
    db::{
        Timestamp,
        verifications::{self, NewVerification, Verification},
    },
    domain::{PhoneNumber, VerificationStatus},
    plivo::{Channel, PlivoError, StartVerification, Started},
};

/// A code to send for a verification.
struct CodeSend<'a> {
    id: &'a str,
    number: &'a PhoneNumber,
    alias: &'a str,
    channel: Channel,
    subaccount: &'a str,
    /// How the audit log records it.
    attempt: Attempt,
}

impl Verifier {
    /// Starts a verification: our record, a send slot and a `requested` event first, in one
    /// transaction, then Plivo. A Plivo failure leaves the verification `failed` with the
    /// reason; nothing is retried. Runs to the end even if the caller goes away.
    #[tracing::instrument(skip_all, fields(number = %request.number))]
    pub async fn start(
        &self,
        person: &Person,
        request: &Request,
    ) -> Result<Verification, VerifyError> {
        let (this, person, request) = (self.clone(), person.clone(), request.clone());
        self.detached(async move { this.start_now(&person, &request).await })
            .await?
            .map_err(VerifyError::Limited)
    }

    async fn start_now(
        &self,
        person: &Person,
        request: &Request,
    ) -> Result<Result<Verification, Limited>> {
        let id = new_id();
        let now = self.now();
        let number = &request.number;
        let channel = request.channel;
        let subaccount = request.subaccount.clone().unwrap_or_default();
        let mut tx = self.db.write().await?;
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
                started_at: Timestamp::from(now),
                expires_at: Timestamp::from(now + CODE_LIFETIME),
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
        let details = json!({ "alias": request.alias.as_str(), "channel": channel.as_str(), "subaccount": subaccount });
        let send = CodeSend {
            id: &id,
            number: &request.number,
            alias: request.alias.as_str(),
            channel: request.channel,
            subaccount: &subaccount,
            attempt: attempt(
                &person.who(),
                &id,
                number,
                Action::VerificationStarted,
                details,
            ),
        };
        self.send_code(tx, claim, send).await?;
        let stored = verifications::by_id(&self.db.reader, &id).await?;
        stored.map(Ok).ok_or(sqlx::Error::RowNotFound)
    }

    /// Sends a new code (by `channel`), replacing the one sent before. Runs to the end even if
    /// the caller goes away.
    #[tracing::instrument(skip(self, person))]
    pub async fn resend(
        &self,
        person: &Person,
        id: &str,
        channel: Channel,
    ) -> Result<ResendOutcome, VerifyError> {
        let (this, person, id) = (self.clone(), person.clone(), id.to_owned());
        self.detached(async move { this.resend_now(&person, &id, channel).await })
            .await
    }

    async fn resend_now(
        &self,
        person: &Person,
        id: &str,
        channel: Channel,
    ) -> Result<ResendOutcome> {
        let now = self.now();
        let mut tx = self.db.write().await?;
        let Some(v) = verifications::by_id(&mut *tx, id).await? else {
            return Ok(ResendOutcome::NotPending);
        };
        if !v.status.is_pending() {
            return Ok(ResendOutcome::NotPending);
        }
        if is_due(&v, now) {
            expire(&mut tx, &v, &person.who(), now).await?;
            tx.commit().await?;
            return Ok(ResendOutcome::NotPending);
        }
        let claim = match self
            .limits
            .claim(&mut tx, id, &v.phone_number, person.id, channel, now)
            .await?
        {
            Ok(claim) => claim,
            Err(limited) => return Ok(ResendOutcome::Limited(limited)),
        };
        let details = json!({ "channel": channel.as_str(), "resend": true });
        let number = v.phone_number.clone();
        let send = CodeSend {
            id,
            number: &number,
            alias: &v.alias,
            channel,
            subaccount: &v.subaccount,
            attempt: attempt(
                &person.who(),
                id,
                &v.phone_number,
                Action::VerificationStarted,
                details,
            ),
        };
        Ok(match self.send_code(tx, claim, send).await? {
            None => ResendOutcome::Sent,
            Some(message) => ResendOutcome::PlivoFailed(message),
        })
    }

    /// Sends a code whose slot is claimed in `tx`: adds the `requested` event, commits, asks
    /// Plivo with no transaction open, and records what it answered. Returns the plain message
    /// when no code was sent.
    async fn send_code(
        &self,
        mut tx: crate::db::GroupedWrite,
        claim: SendClaim,
        send: CodeSend<'_>,
    ) -> Result<Option<String>> {
        let request = send.attempt.request(&mut tx, self.now()).await?;
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
        self.record_send_outcome(&send, claim, request, answer)
            .await
    }

    /// Commits what Plivo answered to a send (first or again).
    async fn record_send_outcome(
        &self,
        send: &CodeSend<'_>,
        claim: SendClaim,
        request: Requested,
        answer: Result<Started, PlivoError>,
    ) -> Result<Option<String>> {
        let now = self.now();
        let mut tx = self.db.write().await?;
        let message = match answer {
            Ok(started) => {
                verifications::sent(
                    &mut tx,
                    send.id,
                    &started.verification_uuid,
                    send.channel,
                    Timestamp::from(now),
                    Timestamp::from(now + CODE_LIFETIME),
                )
                .await?;
                let done = send
                    .attempt
                    .succeeded(request, started.api_id.as_deref(), json!({}));
                append(&mut tx, now, done).await?;
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, verification = send.id, "Plivo did not send a code");
                let message = e.full_message();
                // A send Plivo certainly did not make does not count against the limits; one
                // it may have made (no answer in time, a 5xx) does.
                if e.certainly_not_acted() {
                    Limits::release(&mut tx, claim).await?;
                }
                let first_send = verifications::by_id(&mut *tx, send.id)
                    .await?
                    .is_some_and(|v| v.plivo_uuid.is_none());
                if first_send {
                    verifications::finish(
                        &mut tx,
                        send.id,
                        VerificationStatus::Failed,
                        Some(&message),
                        None,
                        Timestamp::from(now),
                    )
                    .await?;
                }
                append(&mut tx, now, send.attempt.failed(request, &e)).await?;
                Some(message)
            }
        };
        tx.commit().await?;
        Ok(message)
    }
}
