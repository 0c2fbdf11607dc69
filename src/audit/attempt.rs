//! Actions that change something at Plivo, recorded fail-closed: a `requested` event is
//! committed before Plivo is called, then the outcome (`succeeded` or `failed`, naming the
//! request it answers) is committed with whatever the answer changes. A request without an
//! outcome (a crash mid-call) shows as "outcome unknown" until a sync settles it.
//!
//! Every Plivo-changing action (sending a code, checking one, editing and deleting a caller
//! ID) builds its three events here, so they carry the same fields the same way.

use serde_json::{Value, json};
use sqlx::SqliteConnection;
use time::OffsetDateTime;

use super::{Action, NewEvent, Outcome, Who, append};
use crate::{domain::PhoneNumber, plivo::PlivoError};

/// One action at Plivo: who, what, about which number and verification, with which details.
#[derive(Debug, Clone)]
pub struct Attempt {
    who: Who,
    action: Action,
    number: Option<String>,
    verification: Option<String>,
    details: Value,
}

/// The committed `requested` event an outcome answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requested(pub i64);

impl Attempt {
    pub fn new(who: &Who, action: Action) -> Self {
        Self {
            who: who.clone(),
            action,
            number: None,
            verification: None,
            details: json!({}),
        }
    }

    pub fn number(mut self, number: &PhoneNumber) -> Self {
        self.number = Some(number.as_str().to_owned());
        self
    }

    pub fn verification(mut self, id: &str) -> Self {
        self.verification = Some(id.to_owned());
        self
    }

    /// Facts every event of the attempt carries (values typed, changes asked for).
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    fn event(&self, action: Action, outcome: Outcome, details: Value) -> NewEvent {
        let mut event = self.who.event(action, outcome).with_details(details);
        event.phone_number.clone_from(&self.number);
        event.verification_id.clone_from(&self.verification);
        event
    }

    /// Appends the `requested` event in `conn`; the caller commits it before calling Plivo.
    pub async fn request(
        &self,
        conn: &mut SqliteConnection,
        now: OffsetDateTime,
    ) -> sqlx::Result<Requested> {
        let event = self.event(self.action, Outcome::Requested, self.details.clone());
        Ok(Requested(append(conn, now, event).await?.id))
    }

    /// Appends and commits the `requested` event as a write of its own.
    pub async fn request_alone(
        &self,
        db: &crate::db::Db,
        now: OffsetDateTime,
    ) -> sqlx::Result<Requested> {
        let event = self.event(self.action, Outcome::Requested, self.details.clone());
        Ok(Requested(db.append(now, event).await?.id))
    }

    /// The outcome when Plivo did it, with its `api_id` and any facts from its answer.
    pub fn succeeded(&self, request: Requested, api_id: Option<&str>, more: Value) -> NewEvent {
        self.outcome(self.action, Outcome::Succeeded, request, more)
            .with_plivo(api_id, None)
    }

    /// The outcome when Plivo did not (or could not be asked): its status, reference and words.
    pub fn failed(&self, request: Requested, error: &PlivoError) -> NewEvent {
        let text = error
            .plivo_error()
            .map_or_else(|| error.to_string(), str::to_owned);
        self.outcome(
            self.action,
            Outcome::Failed,
            request,
            json!({ "error": text }),
        )
        .with_plivo(error.api_id(), error.status())
    }

    /// An outcome under another action (a wrong code answers the request to check one).
    pub fn outcome(
        &self,
        action: Action,
        outcome: Outcome,
        request: Requested,
        more: Value,
    ) -> NewEvent {
        let mut details = self.details.clone();
        if let (Some(all), Value::Object(more)) = (details.as_object_mut(), more) {
            all.extend(more);
        }
        self.event(action, outcome, details).with_request(request.0)
    }
}
