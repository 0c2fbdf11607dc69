//! Events as sentences people can read ("system: removed at Plivo outside callerdesk").

use serde_json::Value;

use super::{Action, Outcome, StoredEvent};
use crate::db::subaccounts::SubaccountNames;

fn detail<'a>(details: Option<&'a Value>, key: &str) -> Option<&'a str> {
    details?.get(key)?.as_str()
}

/// How long a `requested` event may wait for its outcome before it is shown as unknown.
pub const OUTCOME_GRACE: time::Duration = time::Duration::minutes(2);

/// An event's outcome as people are told it. A `requested` event whose outcome has not come
/// within [`OUTCOME_GRACE`] is "outcome unknown" (callerdesk stopped mid-call; the next sync
/// settles it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownOutcome {
    Succeeded,
    Failed,
    Requested,
    Unknown,
}

impl ShownOutcome {
    /// `answered`: an outcome event names this one as its request.
    pub fn of(event: &StoredEvent, answered: bool, now: time::OffsetDateTime) -> Self {
        match Outcome::parse(&event.outcome) {
            Some(Outcome::Succeeded) => ShownOutcome::Succeeded,
            Some(Outcome::Failed) => ShownOutcome::Failed,
            _ if answered => ShownOutcome::Requested,
            _ => {
                let overdue = crate::db::parse_timestamp(&event.occurred_at)
                    .is_some_and(|t| now - t > OUTCOME_GRACE);
                if overdue {
                    ShownOutcome::Unknown
                } else {
                    ShownOutcome::Requested
                }
            }
        }
    }

    /// The word the page's styles and filters use.
    pub fn as_str(self) -> &'static str {
        match self {
            ShownOutcome::Succeeded => "succeeded",
            ShownOutcome::Failed => "failed",
            ShownOutcome::Requested => "requested",
            ShownOutcome::Unknown => "unknown",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ShownOutcome::Succeeded => "Succeeded",
            ShownOutcome::Failed => "Failed",
            ShownOutcome::Requested => "Requested",
            ShownOutcome::Unknown => "Outcome unknown",
        }
    }
}

/// "name Front desk → Reception, subaccount Main account → Sales team": subaccounts by name
/// where `names` knows them.
pub fn changes_text(changes: &Value, names: &SubaccountNames) -> String {
    let Some(map) = changes.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(field, pair)| {
            let show = |v: Option<&Value>| match v.and_then(Value::as_str) {
                Some("") | None if field == "subaccount" => names.label(""),
                Some("") | None => "(none)".to_owned(),
                Some(s) if field == "subaccount" => names.label(s),
                Some(s) => s.to_owned(),
            };
            let name = if field == "alias" {
                "name"
            } else {
                field.as_str()
            };
            format!("{name} {} → {}", show(pair.get(0)), show(pair.get(1)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What happened, without the actor: "changed at Plivo: name Old → New". `details` is the
/// event's details, parsed. Every action has its sentence here (the match is exhaustive, so a
/// new action without one does not compile); a stored word that is no action of ours is shown
/// as it is.
pub fn what(event: &StoredEvent, details: Option<&Value>, names: &SubaccountNames) -> String {
    let Some(action) = Action::parse(&event.action) else {
        return event.action.replace('_', " ");
    };
    let outcome = Outcome::parse(&event.outcome);
    let changes = details
        .and_then(|d| d.get("changes"))
        .map(|c| changes_text(c, names))
        .unwrap_or_default();
    let username = detail(details, "username").unwrap_or("someone");
    let rows = || {
        details
            .and_then(|d| d.get("rows"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    match action {
        Action::SignIn => "signed in".into(),
        Action::SignInThrottled => {
            format!("was refused sign-in as {username} after too many failures")
        }
        Action::SignOut => "signed out".into(),
        Action::SetupCompleted => "set up callerdesk".into(),
        Action::UserCreated => format!("added the user {username}"),
        Action::UserRoleChanged => format!(
            "changed {username}'s role from {} to {}",
            detail(details, "old").unwrap_or("?"),
            detail(details, "new").unwrap_or("?")
        ),
        Action::UserPasswordReset => format!("reset {username}'s password"),
        Action::PasswordChanged if outcome == Some(Outcome::Failed) => format!(
            "could not change their password: {}",
            detail(details, "reason").unwrap_or("refused")
        ),
        Action::PasswordChanged => "changed their password".into(),
        Action::UserDisabled => format!("disabled {username}"),
        Action::UserEnabled => format!("enabled {username}"),
        Action::SyncFinished => "synced the caller ID list with Plivo".into(),
        Action::CallerIdAddedAtPlivo => "added at Plivo outside callerdesk".into(),
        Action::CallerIdChangedAtPlivo => format!("changed at Plivo: {changes}"),
        Action::CallerIdRemovedAtPlivo => "removed at Plivo outside callerdesk".into(),
        Action::CallerIdRestoredAtPlivo => "back at Plivo after being removed".into(),
        Action::CallerIdUpdated => format!("edited the caller ID: {changes}"),
        Action::CallerIdDeleted => "deleted the caller ID".into(),
        Action::VerificationStarted => {
            let channel = match detail(details, "channel") {
                Some("call") => "phone call",
                _ => "text message",
            };
            let again = details
                .and_then(|d| d.get("resend"))
                .and_then(Value::as_bool)
                == Some(true);
            format!(
                "{} a code by {channel}",
                if again { "sent again" } else { "sent" }
            )
        }
        // The request is written before Plivo has checked the code, so it cannot say "right".
        Action::VerificationCompleted if outcome == Some(Outcome::Succeeded) => {
            match detail(details, "verification_had_ended") {
                Some(status) => format!(
                    "entered the right code after the verification had ended ({status}); Plivo verified the number"
                ),
                None => "entered the right code".into(),
            }
        }
        Action::VerificationCompleted => "entered a code".into(),
        Action::VerificationCodeRejected => "entered a wrong code".into(),
        Action::VerificationExpired => {
            "closed the verification: no right code came within 15 minutes".into()
        }
        Action::VerificationCancelled => "cancelled the verification".into(),
        Action::AuditExported => format!("exported the audit log ({} events)", rows()),
        Action::CallerIdsExported => format!("downloaded the caller ID list ({} rows)", rows()),
        Action::AccessRefused => format!(
            "was refused {} {}: {}",
            detail(details, "method").unwrap_or("a request"),
            detail(details, "path").unwrap_or(""),
            detail(details, "reason").unwrap_or("not allowed for their role")
        ),
    }
}

/// The whole sentence for the audit page: what happened and to which number.
pub fn sentence(
    event: &StoredEvent,
    details: Option<&Value>,
    number_display: Option<&str>,
    names: &SubaccountNames,
) -> String {
    let what = what(event, details, names);
    let Some(number) = number_display else {
        return what;
    };
    match Action::parse(&event.action) {
        Some(Action::VerificationStarted) => format!("{what} to {number}"),
        Some(Action::VerificationCompleted | Action::VerificationCodeRejected) => {
            format!("{what} for {number}")
        }
        Some(Action::VerificationExpired) => {
            format!("closed the verification of {number}: no right code came within 15 minutes")
        }
        Some(Action::VerificationCancelled) => format!("{what} of {number}"),
        Some(
            Action::CallerIdAddedAtPlivo
            | Action::CallerIdChangedAtPlivo
            | Action::CallerIdRemovedAtPlivo
            | Action::CallerIdRestoredAtPlivo
            | Action::CallerIdUpdated
            | Action::CallerIdDeleted,
        ) => format!("{number}: {what}"),
        _ => format!("{what} ({number})"),
    }
}
