//! Submitting a code. A code reaches Plivo only with the verification's one code-check slot
//! taken in the writer: the verification is pending, unexpired and has tries left, and no other
//! code for it is being checked. So five wrong codes are all Plivo ever sees, however many
//! arrive at once, and a code arriving while another is checked is told to wait.

use serde_json::json;
use time::OffsetDateTime;

use super::{CodeOutcome, MAX_WRONG_CODES, Person, Verifier, VerifyError, attempt, expire, is_due};
use crate::{
    Result,
    audit::{self, Action, Attempt, Outcome, Requested},
    db::{
        Timestamp,
        caller_ids::{self, PlivoFields},
        verifications::{self, Verification},
    },
    domain::VerificationStatus,
    plivo::{PlivoError, Verified},
};

/// A code check older than this can't still be running (Plivo's timeout is far shorter), so
/// its slot may be taken again: a safety net, since every check gives its slot back and a
/// server start frees any left by a crash.
const CHECK_GIVEN_UP_AFTER: time::Duration = time::Duration::minutes(5);

/// What Plivo's refusal of a code says. Plivo does not document the status or wording of a
/// wrong or expired code (PLIVO.md), so a try is counted only when both say it plainly: a 400
/// whose words call the code invalid, incorrect or wrong. Anything else is shown in Plivo's
/// own words and uses no try. The rule and what it rests on are in docs/plivo.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodeRefusal {
    Wrong,
    Expired,
    Other,
}

impl CodeRefusal {
    pub(super) fn of(status: u16, words: &str) -> Self {
        let words = words.to_lowercase();
        let about_the_code = ["otp", "code", "token"].iter().any(|w| words.contains(w));
        if status != 400 || !about_the_code {
            CodeRefusal::Other
        } else if words.contains("expired") {
            CodeRefusal::Expired
        } else if [
            "invalid",
            "incorrect",
            "wrong",
            "mismatch",
            "does not match",
        ]
        .iter()
        .any(|w| words.contains(w))
        {
            CodeRefusal::Wrong
        } else {
            CodeRefusal::Other
        }
    }
}

impl Verifier {
    /// Submits a code (already 4 to 8 digits). Runs to the end even if the caller goes away, so
    /// Plivo's answer is recorded and the slot given back. The code is never a span field.
    #[tracing::instrument(skip(self, person, code), fields(verification = id))]
    pub async fn submit_code(
        &self,
        person: &Person,
        id: &str,
        code: &str,
    ) -> Result<CodeOutcome, VerifyError> {
        let (this, person, id, code) =
            (self.clone(), person.clone(), id.to_owned(), code.to_owned());
        self.detached(async move { this.submit_code_now(&person, &id, &code).await })
            .await
    }

    async fn submit_code_now(&self, person: &Person, id: &str, code: &str) -> Result<CodeOutcome> {
        let now = self.now();
        let mut tx = self.db.write().await?;
        let claimed = verifications::claim_code_check(
            &mut tx,
            id,
            Timestamp::from(now),
            Timestamp::from(now - CHECK_GIVEN_UP_AFTER),
            MAX_WRONG_CODES,
        )
        .await?;
        let Some(v) = verifications::by_id(&mut *tx, id).await? else {
            return Ok(CodeOutcome::NotPending);
        };
        if !claimed {
            // Why not, from the same transaction's view.
            return Ok(
                if !v.status.is_pending() || v.wrong_attempts >= MAX_WRONG_CODES {
                    CodeOutcome::NotPending
                } else if is_due(&v, now) {
                    expire(&mut tx, &v, &person.who(), now).await?;
                    tx.commit().await?;
                    CodeOutcome::Expired
                } else if v.plivo_uuid.is_none() {
                    CodeOutcome::NotSent
                } else {
                    CodeOutcome::Busy
                },
            );
        }
        let plivo_uuid = v.plivo_uuid.clone().unwrap_or_default();
        let check = attempt(
            &person.who(),
            id,
            &v.phone_number,
            Action::VerificationCompleted,
            serde_json::json!({}),
        );
        let request = check.request(&mut tx, now).await?;
        tx.commit().await?;

        let answer = self.plivo.submit_code(&plivo_uuid, code).await;
        self.record_code_outcome(person, &v, &check, request, answer)
            .await
    }

    /// Commits what Plivo answered to a code, and gives the slot back. The verification leaves
    /// `pending` at most once: an answer for one that ended meanwhile is recorded as what it
    /// is, without changing how it ended.
    async fn record_code_outcome(
        &self,
        person: &Person,
        v: &Verification,
        check: &Attempt,
        request: Requested,
        answer: Result<Verified, PlivoError>,
    ) -> Result<CodeOutcome> {
        let now = self.now();
        let id = v.id.as_str();
        let mut tx = self.db.write().await?;
        verifications::end_code_check(&mut tx, id).await?;
        let refusal = match &answer {
            Err(PlivoError::Refused { status, error, .. }) => Some(CodeRefusal::of(*status, error)),
            _ => None,
        };
        let outcome = match answer {
            Ok(verified) => {
                let ended = !verifications::finish(
                    &mut tx,
                    id,
                    VerificationStatus::Verified,
                    None,
                    Some((person.id, &person.name)),
                    Timestamp::from(now),
                )
                .await?;
                // Plivo says the number is verified: the cache says so, whatever became of
                // our record of the attempt meanwhile.
                let (fields, inferred) = self
                    .record_verified(&mut tx, person, v, &verified, now)
                    .await?;
                let mut details = json!({ "alias": fields.alias, "country": fields.country, "subaccount": fields.subaccount });
                if !inferred.is_empty() {
                    details["inferred"] = json!(inferred);
                }
                let status = if ended {
                    let status = verifications::by_id(&mut *tx, id)
                        .await?
                        .map(|now| now.status);
                    details["verification_had_ended"] =
                        json!(status.map_or("unknown", VerificationStatus::as_str));
                    Some(status)
                } else {
                    None
                };
                let done = check.succeeded(request, verified.api_id.as_deref(), details);
                audit::append(&mut tx, now, done).await?;
                match status {
                    None => CodeOutcome::Verified,
                    Some(status) => CodeOutcome::VerifiedAfterEnd { status },
                }
            }
            Err(e) if refusal == Some(CodeRefusal::Expired) => {
                // Plivo says the code's time is up: so is the verification's. No try is used.
                expire(&mut tx, v, &person.who(), now).await?;
                audit::append(&mut tx, now, check.failed(request, &e)).await?;
                CodeOutcome::Expired
            }
            Err(PlivoError::Refused {
                status,
                error,
                api_id,
            }) if refusal == Some(CodeRefusal::Wrong) => {
                let attempts = verifications::wrong_code(&mut tx, id).await?;
                let mut details = json!({ "error": error });
                match attempts {
                    Some(attempts) => details["wrong_attempts"] = json!(attempts),
                    None => details["verification_had_ended"] = json!(true),
                }
                let rejected = check
                    .outcome(
                        Action::VerificationCodeRejected,
                        Outcome::Failed,
                        request,
                        details,
                    )
                    .with_plivo(api_id.as_deref(), Some(status));
                audit::append(&mut tx, now, rejected).await?;
                match attempts {
                    Some(attempts) if attempts >= MAX_WRONG_CODES => {
                        let why = "Five wrong codes were entered, so this verification was stopped. Start again to send a new code.";
                        verifications::finish(
                            &mut tx,
                            id,
                            VerificationStatus::Failed,
                            Some(why),
                            None,
                            Timestamp::from(now),
                        )
                        .await?;
                        CodeOutcome::Locked
                    }
                    Some(attempts) => CodeOutcome::WrongCode {
                        attempts_left: MAX_WRONG_CODES - attempts,
                    },
                    None => CodeOutcome::NotPending,
                }
            }
            Err(e @ PlivoError::Refused { status, .. })
                if (400..500).contains(&status) && !matches!(status, 401 | 404) =>
            {
                // A refusal that does not clearly say "wrong code": Plivo's words, no try used.
                tracing::warn!(error = %e, verification = id, "Plivo refused the code for a reason of its own");
                audit::append(&mut tx, now, check.failed(request, &e)).await?;
                CodeOutcome::PlivoRefusedCode(e.plivo_error().unwrap_or_default().to_owned())
            }
            Err(e) => {
                tracing::warn!(error = %e, verification = id, "Plivo did not check the code");
                audit::append(&mut tx, now, check.failed(request, &e)).await?;
                CodeOutcome::PlivoFailed(e.full_message())
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Writes the caller ID Plivo just verified into the cache; returns what was written.
    async fn record_verified(
        &self,
        tx: &mut sqlx::SqliteConnection,
        person: &Person,
        v: &Verification,
        verified: &Verified,
        now: OffsetDateTime,
    ) -> Result<(PlivoFields, Vec<&'static str>)> {
        let number = &v.phone_number;
        let fields = PlivoFields {
            alias: verified.alias.clone().unwrap_or_else(|| v.alias.clone()),
            country: verified
                .country
                .clone()
                .or_else(|| number.country())
                .unwrap_or_default(),
            subaccount: verified
                .subaccount
                .clone()
                .unwrap_or_else(|| v.subaccount.clone()),
            verification_uuid: verified
                .verification_uuid
                .clone()
                .or_else(|| v.plivo_uuid.clone()),
            plivo_created_at: verified.created_at.map(Timestamp::from),
            plivo_modified_at: verified.created_at.map(Timestamp::from),
        };
        // What Plivo's answer left out was filled in from what was asked for (or, for the
        // country, from the number): named, so the audit log says it was not Plivo's word.
        let inferred: Vec<&'static str> = [
            ("alias", verified.alias.is_none(), &fields.alias),
            ("country", verified.country.is_none(), &fields.country),
            (
                "subaccount",
                verified.subaccount.is_none(),
                &fields.subaccount,
            ),
        ]
        .into_iter()
        .filter_map(|(name, missing, value)| (missing && !value.is_empty()).then_some(name))
        .collect();
        caller_ids::record_verified(
            tx,
            number,
            &fields,
            person.id,
            &person.name,
            Timestamp::from(now),
        )
        .await?;
        Ok((fields, inferred))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_wrong_code_uses_a_try() {
        assert_eq!(CodeRefusal::of(400, "invalid otp"), CodeRefusal::Wrong);
        assert_eq!(
            CodeRefusal::of(400, "Incorrect code entered"),
            CodeRefusal::Wrong
        );
        assert_eq!(
            CodeRefusal::of(400, "otp has expired"),
            CodeRefusal::Expired
        );
        // Not plainly about the code, or not a 400: Plivo's words, no try.
        assert_eq!(CodeRefusal::of(400, "invalid request"), CodeRefusal::Other);
        assert_eq!(
            CodeRefusal::of(400, "verification locked"),
            CodeRefusal::Other
        );
        assert_eq!(CodeRefusal::of(422, "invalid otp"), CodeRefusal::Other);
        assert_eq!(CodeRefusal::of(403, "forbidden"), CodeRefusal::Other);
        assert_eq!(CodeRefusal::of(400, "otp already used"), CodeRefusal::Other);
    }
}
