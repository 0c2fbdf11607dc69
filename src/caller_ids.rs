//! Changing caller IDs as use cases: editing a name and subaccount, and deleting. Both change
//! Plivo first and fail closed (`audit::Attempt`): the `requested` event is committed, Plivo
//! is called with no transaction open, then the outcome and the cache change are committed
//! together. If Plivo says no, the cache stays as it was.

use serde_json::{Map, Value, json};

use crate::{
    Result,
    audit::{self, Action, Attempt, Who},
    clock::Clock,
    db::{
        Db, Timestamp,
        caller_ids::{self, CachedCallerId},
    },
    domain::{Alias, PhoneNumber},
    plivo::{PlivoClient, PlivoError, Update},
    sync::{self, apply::Seen},
};

/// Why a caller ID change could not be tried.
#[derive(Debug, thiserror::Error)]
pub enum CallerIdError {
    /// Not a current caller ID (never seen, or removed).
    #[error("there is no such caller ID")]
    NotFound,
    /// Moving a caller ID back to the main account is not something Plivo's API is known to
    /// do: the official SDKs can't send an empty subaccount, and what Plivo does with one is
    /// not documented. Nothing is sent.
    #[error(
        "callerdesk can't move a caller ID back to the main account: Plivo's API offers no sure way to. Do it in Plivo's console; the next sync shows it here."
    )]
    CannotClearSubaccount,
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// What an edit did.
#[derive(Debug)]
pub enum Edited {
    /// Saved at Plivo, and the cache holds what Plivo answered; the changes as
    /// `{"field": [old, new]}`, as Plivo made them (a change asked for that Plivo did not make
    /// is not among them).
    Saved(Value),
    /// The values were already these: nothing was sent.
    Unchanged,
    /// Plivo said no (or could not be asked); nothing changed.
    Refused(PlivoError),
}

/// What asking Plivo about one caller ID found.
#[derive(Debug)]
pub enum Refreshed {
    /// Plivo has it; the cache now says what Plivo says (`changed`: people will see a
    /// difference, recorded in the audit log).
    AtPlivo { changed: bool },
    /// Plivo answered 404: it is no longer a caller ID there, and the cache says so.
    Gone,
    /// Plivo could not be asked or did not answer clearly; nothing was changed.
    Unknown(PlivoError),
}

/// The caller ID use cases, with what they need. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CallerIds {
    pub db: Db,
    pub plivo: PlivoClient,
    pub clock: Clock,
}

impl CallerIds {
    /// The cached caller ID for `number`, if it is current.
    async fn current(&self, number: &PhoneNumber) -> Result<CachedCallerId, CallerIdError> {
        caller_ids::by_number(&self.db.reader, number.as_str())
            .await?
            .filter(|r| r.removed_at.is_none())
            .ok_or(CallerIdError::NotFound)
    }

    /// Changes the name and subaccount (`""` for none) at Plivo, then in the cache.
    #[tracing::instrument(skip(self, who), fields(number = %number))]
    pub async fn update(
        &self,
        who: &Who,
        number: &PhoneNumber,
        alias: &Alias,
        subaccount: &str,
    ) -> Result<Edited, CallerIdError> {
        let row = self.current(number).await?;
        let mut changes = Map::new();
        if alias.as_str() != row.alias {
            changes.insert("alias".into(), json!([row.alias, alias.as_str()]));
        }
        if subaccount != row.subaccount {
            changes.insert("subaccount".into(), json!([row.subaccount, subaccount]));
        }
        if changes.is_empty() {
            return Ok(Edited::Unchanged);
        }
        if subaccount.is_empty() && !row.subaccount.is_empty() {
            return Err(CallerIdError::CannotClearSubaccount);
        }
        let update = Update {
            alias: changes
                .contains_key("alias")
                .then(|| alias.as_str().to_owned()),
            subaccount: changes
                .contains_key("subaccount")
                .then(|| subaccount.to_owned()),
        };
        let changes = Value::Object(changes);
        let attempt = Attempt::new(who, Action::CallerIdUpdated)
            .number(number)
            .details(json!({ "changes": changes }));
        let request = self.request(&attempt).await?;
        match self.plivo.update(number, &update).await {
            Ok(updated) => {
                // The cache takes what Plivo answered, not what was asked for.
                let now = self.clock.now();
                let answered = sync::apply::fields(&updated);
                let made = Value::Object(sync::apply::changes(&row, &answered));
                let mut tx = self.db.write().await?;
                caller_ids::upsert_seen(&mut tx, number, &answered, Timestamp::from(now)).await?;
                let done =
                    attempt.succeeded(request, updated.api_id.as_deref(), json!({ "made": made }));
                audit::append(&mut tx, now, done).await?;
                tx.commit().await?;
                Ok(Edited::Saved(made))
            }
            Err(e) => {
                tracing::warn!(error = %e, "Plivo refused a caller ID update");
                self.record_failure(&attempt, request, &e).await?;
                Ok(Edited::Refused(e))
            }
        }
    }

    /// Deletes the caller ID at Plivo, then marks it removed in the cache. Returns the row as it
    /// was, or what Plivo said when it did not delete it.
    #[tracing::instrument(skip(self, who), fields(number = %number))]
    pub async fn delete(
        &self,
        who: &Who,
        number: &PhoneNumber,
    ) -> Result<Result<CachedCallerId, PlivoError>, CallerIdError> {
        let row = self.current(number).await?;
        let attempt = Attempt::new(who, Action::CallerIdDeleted)
            .number(number)
            .details(json!({ "alias": row.alias }));
        let request = self.request(&attempt).await?;
        match self.plivo.delete(number).await {
            Ok(()) => {
                let now = self.clock.now();
                let mut tx = self.db.write().await?;
                caller_ids::mark_removed(&mut tx, number.as_str(), Timestamp::from(now)).await?;
                audit::append(&mut tx, now, attempt.succeeded(request, None, json!({}))).await?;
                tx.commit().await?;
                Ok(Ok(row))
            }
            Err(e) => {
                tracing::warn!(error = %e, "Plivo refused a caller ID delete");
                self.record_failure(&attempt, request, &e).await?;
                Ok(Err(e))
            }
        }
    }

    /// Asks Plivo about one number (`GET VerifiedCallerId/{number}/`) and brings the cache in
    /// line with the answer, recording what changed as the sync would, by `who`. Only a 404
    /// from Plivo marks a number removed.
    #[tracing::instrument(skip(self, who), fields(number = %number))]
    pub async fn refresh(
        &self,
        who: &Who,
        number: &PhoneNumber,
    ) -> Result<Refreshed, CallerIdError> {
        let answer = self.plivo.get(number).await;
        let now = self.clock.now();
        let mut tx = self.db.write().await?;
        let row = caller_ids::by_number(&mut *tx, number.as_str()).await?;
        let refreshed = match answer {
            Ok(item) => {
                let new = sync::apply::fields(&item);
                let seen = Seen::of(row.as_ref(), &new);
                let event = seen.event(who, number.as_str(), &new);
                let changed = event.is_some();
                if let Some(event) = event {
                    audit::append(&mut tx, now, event).await?;
                }
                // Stored even when nothing people see changed: it was confirmed just now.
                caller_ids::upsert_seen(&mut tx, number, &new, Timestamp::from(now)).await?;
                Refreshed::AtPlivo { changed }
            }
            Err(PlivoError::Refused { status: 404, .. }) => {
                if let Some(row) = row.filter(|r| r.removed_at.is_none()) {
                    caller_ids::mark_removed(&mut tx, number.as_str(), Timestamp::from(now))
                        .await?;
                    let event = who
                        .event(Action::CallerIdRemovedAtPlivo, audit::Outcome::Succeeded)
                        .with_number(number.as_str())
                        .with_details(json!({ "alias": row.alias }));
                    audit::append(&mut tx, now, event).await?;
                }
                Refreshed::Gone
            }
            Err(e) => Refreshed::Unknown(e),
        };
        tx.commit().await?;
        Ok(refreshed)
    }

    /// Commits the `requested` event before anything is sent to Plivo.
    async fn request(&self, attempt: &Attempt) -> Result<audit::Requested, CallerIdError> {
        Ok(attempt.request_alone(&self.db, self.clock.now()).await?)
    }

    async fn record_failure(
        &self,
        attempt: &Attempt,
        request: audit::Requested,
        e: &PlivoError,
    ) -> Result<(), CallerIdError> {
        self.db
            .append(self.clock.now(), attempt.failed(request, e))
            .await?;
        Ok(())
    }
}
