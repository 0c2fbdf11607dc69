//! What an event says: who, from where, did what, with which outcome.

use serde_json::Value;

/// Who did it: a user (id and name copied, so history survives a renamed user) or the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Option<i64>,
    pub name: String,
}

impl Actor {
    pub fn user(id: i64, name: &str) -> Self {
        Self {
            id: Some(id),
            name: name.to_owned(),
        }
    }

    /// The application itself (scheduled work, the command line's sync).
    pub fn system() -> Self {
        Self {
            id: None,
            name: "system".to_owned(),
        }
    }

    /// Someone not signed in (a failed sign-in, the first-run setup).
    pub fn anonymous() -> Self {
        Self {
            id: None,
            name: "anonymous".to_owned(),
        }
    }

    /// The command line, run by whoever has the server's shell.
    pub fn command_line() -> Self {
        Self {
            id: None,
            name: "command line".to_owned(),
        }
    }
}

/// Where a request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Who acts, and from where: what every event of one request shares.
#[derive(Debug, Clone)]
pub struct Who {
    pub actor: Actor,
    pub meta: RequestMeta,
}

impl Who {
    pub fn new(actor: Actor, meta: RequestMeta) -> Self {
        Self { actor, meta }
    }

    /// The command line, run by whoever has the server's shell.
    pub fn command_line() -> Self {
        Self::new(Actor::command_line(), RequestMeta::default())
    }

    /// The application itself (scheduled work).
    pub fn system() -> Self {
        Self::new(Actor::system(), RequestMeta::default())
    }

    /// An event by this actor, from this request.
    pub fn event(&self, action: Action, outcome: Outcome) -> NewEvent {
        NewEvent::new(self.actor.clone(), &self.meta, action, outcome)
    }
}

/// What happened. The stored names are stable: renaming one breaks old exports' meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignInThrottled,
    SignOut,
    SetupCompleted,
    UserCreated,
    UserRoleChanged,
    UserPasswordReset,
    PasswordChanged,
    UserDisabled,
    UserEnabled,
    /// Someone turned on two-step sign-in (an authenticator app) for their account.
    TwoStepEnabled,
    /// Someone made new recovery codes (the old ones stopped working).
    RecoveryCodesReplaced,
    /// An admin removed someone's authenticator app and recovery codes.
    UserTwoStepReset,
    /// An account was linked to a person at the single sign-on provider.
    UserLinked,
    /// A sync run ended (its counts, or why it failed).
    SyncFinished,
    /// A caller ID appeared at Plivo that callerdesk did not add.
    CallerIdAddedAtPlivo,
    /// A caller ID's alias, subaccount or country changed at Plivo outside callerdesk.
    CallerIdChangedAtPlivo,
    /// A caller ID disappeared from Plivo outside callerdesk.
    CallerIdRemovedAtPlivo,
    /// A caller ID marked removed is back at Plivo.
    CallerIdRestoredAtPlivo,
    /// Someone changed a caller ID's alias or subaccount here.
    CallerIdUpdated,
    /// Someone deleted a caller ID here.
    CallerIdDeleted,
    /// A code was sent (first or again) to verify a number.
    VerificationStarted,
    /// A code was submitted; succeeded means the number is now a verified caller ID.
    VerificationCompleted,
    /// Plivo said the code was wrong.
    VerificationCodeRejected,
    /// A verification ran out of time.
    VerificationExpired,
    /// Someone ended a verification before it was completed.
    VerificationCancelled,
    /// Someone exported the audit log.
    AuditExported,
    /// Someone downloaded the caller ID list.
    CallerIdsExported,
    /// Someone signed in asked for something their role does not allow.
    AccessRefused,
}

impl Action {
    /// Every action, for the audit page's filter.
    pub const ALL: [Action; 29] = [
        Action::SignIn,
        Action::SignInThrottled,
        Action::SignOut,
        Action::SetupCompleted,
        Action::UserCreated,
        Action::UserRoleChanged,
        Action::UserPasswordReset,
        Action::PasswordChanged,
        Action::UserDisabled,
        Action::UserEnabled,
        Action::TwoStepEnabled,
        Action::RecoveryCodesReplaced,
        Action::UserTwoStepReset,
        Action::UserLinked,
        Action::SyncFinished,
        Action::CallerIdAddedAtPlivo,
        Action::CallerIdChangedAtPlivo,
        Action::CallerIdRemovedAtPlivo,
        Action::CallerIdRestoredAtPlivo,
        Action::CallerIdUpdated,
        Action::CallerIdDeleted,
        Action::VerificationStarted,
        Action::VerificationCompleted,
        Action::VerificationCodeRejected,
        Action::VerificationExpired,
        Action::VerificationCancelled,
        Action::AuditExported,
        Action::CallerIdsExported,
        Action::AccessRefused,
    ];

    /// How the filter names it.
    pub fn label(self) -> &'static str {
        match self {
            Action::SignIn => "Sign-in",
            Action::SignInThrottled => "Sign-in refused (too many tries)",
            Action::SignOut => "Sign-out",
            Action::SetupCompleted => "First-run setup",
            Action::UserCreated => "User added",
            Action::UserRoleChanged => "Role changed",
            Action::UserPasswordReset => "Password reset",
            Action::PasswordChanged => "Password changed",
            Action::UserDisabled => "User disabled",
            Action::UserEnabled => "User enabled",
            Action::TwoStepEnabled => "Two-step sign-in turned on",
            Action::RecoveryCodesReplaced => "New recovery codes",
            Action::UserTwoStepReset => "Two-step sign-in reset",
            Action::UserLinked => "Linked to single sign-on",
            Action::SyncFinished => "Sync with Plivo",
            Action::CallerIdAddedAtPlivo => "Added at Plivo (outside callerdesk)",
            Action::CallerIdChangedAtPlivo => "Changed at Plivo (outside callerdesk)",
            Action::CallerIdRemovedAtPlivo => "Removed at Plivo (outside callerdesk)",
            Action::CallerIdRestoredAtPlivo => "Back at Plivo",
            Action::CallerIdUpdated => "Caller ID edited",
            Action::CallerIdDeleted => "Caller ID deleted",
            Action::VerificationStarted => "Code sent",
            Action::VerificationCompleted => "Code entered",
            Action::VerificationCodeRejected => "Wrong code",
            Action::VerificationExpired => "Verification expired",
            Action::VerificationCancelled => "Verification cancelled",
            Action::AuditExported => "Audit log exported",
            Action::CallerIdsExported => "Caller ID list downloaded",
            Action::AccessRefused => "Refused (not allowed for the role)",
        }
    }

    /// The action stored as `word`, if it is one of ours.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == word)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::SignIn => "sign_in",
            Action::SignInThrottled => "sign_in_throttled",
            Action::SignOut => "sign_out",
            Action::SetupCompleted => "setup_completed",
            Action::UserCreated => "user_created",
            Action::UserRoleChanged => "user_role_changed",
            Action::UserPasswordReset => "user_password_reset",
            Action::PasswordChanged => "password_changed",
            Action::UserDisabled => "user_disabled",
            Action::UserEnabled => "user_enabled",
            Action::TwoStepEnabled => "two_step_enabled",
            Action::RecoveryCodesReplaced => "recovery_codes_replaced",
            Action::UserTwoStepReset => "user_two_step_reset",
            Action::UserLinked => "user_linked",
            Action::SyncFinished => "sync_finished",
            Action::CallerIdAddedAtPlivo => "caller_id_added_at_plivo",
            Action::CallerIdChangedAtPlivo => "caller_id_changed_at_plivo",
            Action::CallerIdRemovedAtPlivo => "caller_id_removed_at_plivo",
            Action::CallerIdRestoredAtPlivo => "caller_id_restored_at_plivo",
            Action::CallerIdUpdated => "caller_id_updated",
            Action::CallerIdDeleted => "caller_id_deleted",
            Action::VerificationStarted => "verification_started",
            Action::VerificationCompleted => "verification_completed",
            Action::VerificationCodeRejected => "verification_code_rejected",
            Action::VerificationExpired => "verification_expired",
            Action::VerificationCancelled => "verification_cancelled",
            Action::AuditExported => "audit_exported",
            Action::CallerIdsExported => "caller_ids_exported",
            Action::AccessRefused => "access_refused",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The attempt was recorded before anything changed (the outcome follows as its own event).
    Requested,
    Succeeded,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Requested, Outcome::Succeeded, Outcome::Failed];

    /// The outcome stored as `word`, if it is one of ours.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == word)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Requested => "requested",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }
    }
}

/// An event to append. Build with [`NewEvent::new`] and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub actor: Actor,
    pub meta: RequestMeta,
    pub action: Action,
    pub outcome: Outcome,
    pub phone_number: Option<String>,
    pub verification_id: Option<String>,
    pub plivo_api_id: Option<String>,
    pub plivo_status: Option<u16>,
    /// Extra facts (old and new values, the username tried); never secrets.
    pub details: Option<Value>,
}

impl NewEvent {
    pub fn new(actor: Actor, meta: &RequestMeta, action: Action, outcome: Outcome) -> Self {
        Self {
            actor,
            meta: meta.clone(),
            action,
            outcome,
            phone_number: None,
            verification_id: None,
            plivo_api_id: None,
            plivo_status: None,
            details: None,
        }
    }

    pub fn with_verification(mut self, id: &str) -> Self {
        self.verification_id = Some(id.to_owned());
        self
    }

    pub fn with_number(mut self, number: &str) -> Self {
        self.phone_number = Some(number.to_owned());
        self
    }

    /// Plivo's `api_id` and HTTP status, as far as known.
    pub fn with_plivo(mut self, api_id: Option<&str>, status: Option<u16>) -> Self {
        self.plivo_api_id = api_id.map(str::to_owned);
        self.plivo_status = status;
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        let request = self
            .details
            .as_ref()
            .and_then(|d| d.get("request"))
            .cloned();
        self.details = Some(details);
        if let Some(request) = request {
            self.set_detail("request", request);
        }
        self
    }

    /// Marks this event as the outcome of the `requested` event with id `request` (kept in the
    /// details as `"request"`), so a request without an outcome can be found.
    pub fn with_request(mut self, request: i64) -> Self {
        self.set_detail("request", Value::from(request));
        self
    }

    fn set_detail(&mut self, key: &str, value: Value) {
        match &mut self.details {
            Some(Value::Object(map)) => {
                map.insert(key.to_owned(), value);
            }
            _ => {
                let mut map = serde_json::Map::new();
                map.insert(key.to_owned(), value);
                self.details = Some(Value::Object(map));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_user_can_take_the_name_of_an_actor_that_is_not_a_person() {
        for actor in [Actor::system(), Actor::anonymous(), Actor::command_line()] {
            assert_eq!(actor.id, None);
            for name in [actor.name.clone(), actor.name.to_uppercase()] {
                assert!(
                    crate::domain::Username::parse(&name).is_err(),
                    "{name} could be a username"
                );
            }
        }
    }
}
