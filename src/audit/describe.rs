//! Events as sentences people can read: one line per action, starting with who and the verb
//! ("dana verified +1 202-555-0143 “Front desk” by text message (1 wrong code first)").
//!
//! An action at Plivo is recorded as two events (the request, written before Plivo is called,
//! and the outcome that names it); the page shows them as one line, worded from the outcome,
//! with both events kept whole behind "Details". The events themselves never change.

use serde_json::Value;

use super::{Action, Outcome, StoredEvent};
use crate::db::subaccounts::SubaccountNames;

fn detail<'a>(details: Option<&'a Value>, key: &str) -> Option<&'a str> {
    details?.get(key)?.as_str()
}

/// How long a `requested` event may wait for its outcome before it is shown as unknown.
pub const OUTCOME_GRACE: time::Duration = time::Duration::minutes(2);

/// Wrong codes after which a verification stops (as `verify` enforces).
const MAX_WRONG_CODES: u64 = 5;

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
    /// For an event shown on a line of its own: a `requested` event there has no outcome (an
    /// answered one is part of its outcome's line).
    pub fn of(event: &StoredEvent, now: time::OffsetDateTime) -> Self {
        match Outcome::parse(&event.outcome) {
            Some(Outcome::Succeeded) => ShownOutcome::Succeeded,
            Some(Outcome::Failed) => ShownOutcome::Failed,
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
            ShownOutcome::Requested => "Waiting for Plivo",
            ShownOutcome::Unknown => "Outcome unknown",
        }
    }
}

/// Each change as (what changed, old value, new value) in words: "name", “Front desk”,
/// “Reception”; subaccounts by name where `names` knows them, an empty value as `empty`.
fn changes_in_words(
    changes: &Value,
    names: &SubaccountNames,
    empty: &str,
) -> Vec<(String, String, String)> {
    let Some(map) = changes.as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(field, pair)| {
            let show = |v: Option<&Value>| match v.and_then(Value::as_str) {
                Some("") | None if field == "subaccount" => names.label(""),
                Some("") | None => empty.to_owned(),
                Some(s) if field == "subaccount" => names.label(s),
                Some(s) => format!("“{s}”"),
            };
            let what = if field == "alias" { "name" } else { field };
            (what.to_owned(), show(pair.get(0)), show(pair.get(1)))
        })
        .collect()
}

/// "name Front desk → Reception, subaccount Main account → Sales team".
pub fn changes_text(changes: &Value, names: &SubaccountNames) -> String {
    changes_in_words(changes, names, "(none)")
        .into_iter()
        .map(|(what, old, new)| format!("{what} {old} → {new}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "The name is now “Reception” (it was “Front desk”)." for each change, as the notice after
/// an edit says it.
pub fn changes_sentences(changes: &Value, names: &SubaccountNames) -> String {
    changes_in_words(changes, names, "empty")
        .into_iter()
        .map(|(what, old, new)| format!("The {what} is now {new} (it was {old})."))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why an action at Plivo failed, in plain words, from the outcome's stored status and error.
pub fn plivo_failure(status: Option<i64>, error: Option<&str>) -> String {
    let error = error.unwrap_or("").trim();
    if error.starts_with("could not connect to Plivo") {
        "Plivo was unreachable".into()
    } else if error.starts_with("the connection to Plivo broke") {
        "the connection to Plivo broke before it answered".into()
    } else if error.starts_with("Plivo did not answer") {
        "Plivo did not answer in time".into()
    } else if error.starts_with("Plivo's answer could not be read") {
        "Plivo's answer could not be read".into()
    } else {
        match status {
            Some(429) => "Plivo was getting too many requests".into(),
            Some(s) if s >= 500 => format!("Plivo had a fault of its own (HTTP {s})"),
            _ if error.is_empty() => "Plivo did not do it".into(),
            _ => format!("Plivo refused: {error}"),
        }
    }
}

/// What the page knows besides the event: the other steps of its verification (for the
/// channel, the caller ID's name and the wrong codes before it).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub verification: &'a [super::query::VerificationStep],
    /// The number, as people read it ("+1 202-555-0143").
    pub number: Option<&'a str>,
    pub shown: ShownOutcome,
}

/// A sentence that follows the actor: `dana` + " verified …", or, for an action that failed,
/// `dana` + "'s text message to … failed: …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// The actor is written as a possessive ("dana's").
    pub possessive: bool,
    pub text: String,
}

impl Sentence {
    fn plain(text: impl Into<String>) -> Self {
        Self {
            possessive: false,
            text: text.into(),
        }
    }

    fn possessive(text: impl Into<String>) -> Self {
        Self {
            possessive: true,
            text: text.into(),
        }
    }
}

/// The sentence for one line. `details` is the event's details, parsed.
pub fn sentence(
    event: &StoredEvent,
    details: Option<&Value>,
    context: Context<'_>,
    names: &SubaccountNames,
) -> Sentence {
    let Some(action) = Action::parse(&event.action) else {
        return Sentence::plain(event.action.replace('_', " "));
    };
    let earlier: Vec<&super::query::VerificationStep> = context
        .verification
        .iter()
        .filter(|step| step.id < event.id)
        .collect();
    // The caller ID's name: on this event, or on the verification's first request.
    let alias = detail(details, "alias")
        .map(str::to_owned)
        .or_else(|| earlier.iter().find_map(|step| step.alias.clone()))
        .filter(|a| !a.is_empty());
    let number = match (context.number, &alias) {
        (Some(n), Some(a)) => format!("{n} “{a}”"),
        (Some(n), None) => n.to_owned(),
        (None, Some(a)) => format!("the caller ID “{a}”"),
        (None, None) => "a number".to_owned(),
    };
    let channel_word = |channel: Option<&str>| match channel {
        Some("call") => Some("phone call"),
        Some(_) => Some("text message"),
        None => None,
    };
    let channel = channel_word(detail(details, "channel"))
        .or_else(|| {
            earlier
                .iter()
                .rev()
                .find_map(|step| channel_word(step.channel.as_deref()))
        })
        .unwrap_or("text message");
    let why = || plivo_failure(event.plivo_status, detail(details, "error"));
    let changes = details
        .and_then(|d| d.get("changes"))
        .map(|c| changes_text(c, names))
        .unwrap_or_default();
    let waiting = match context.shown {
        ShownOutcome::Unknown => {
            "; no answer from Plivo was recorded (callerdesk stopped before it came), so the next sync with Plivo settles it"
        }
        _ => "; waiting for Plivo's answer",
    };
    let username = detail(details, "username").unwrap_or("someone");
    let count = |key: &str| {
        details
            .and_then(|d| d.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let outcome = Outcome::parse(&event.outcome);
    let resend = details
        .and_then(|d| d.get("resend"))
        .and_then(Value::as_bool)
        == Some(true);
    match action {
        Action::SignIn => {
            let provider = detail(details, "provider");
            let subject = detail(details, "subject").unwrap_or("unknown");
            match (outcome, provider) {
                (Some(Outcome::Failed), Some(provider)) => Sentence::plain(format!(
                    "could not sign in through {provider} (subject {subject}): {}",
                    detail(details, "reason").unwrap_or("refused")
                )),
                (Some(Outcome::Failed), None) => match detail(details, "second_step") {
                    Some(reason) => Sentence::plain(format!(
                        "gave the right password but not the second step: {reason}"
                    )),
                    None => Sentence::plain(format!(
                        "could not sign in as {username}: the name or password was wrong, or the account is disabled"
                    )),
                },
                (_, Some(provider)) => {
                    Sentence::plain(format!("signed in through {provider} (subject {subject})"))
                }
                _ if detail(details, "after") == Some("setup") => Sentence::plain(
                    "signed in for the first time, right after setting up callerdesk",
                ),
                _ => match detail(details, "second_step") {
                    Some("recovery code") => Sentence::plain(format!(
                        "signed in with their password and a recovery code ({} left)",
                        plural(count("recovery_codes_left"), "code", "codes")
                    )),
                    Some(how) => {
                        Sentence::plain(format!("signed in with their password and {how}"))
                    }
                    None => Sentence::plain("signed in"),
                },
            }
        }
        Action::SignInThrottled => Sentence::plain(format!(
            "was refused sign-in as {username} after too many failures"
        )),
        Action::SignOut => match detail(details, "provider") {
            Some(provider) => Sentence::plain(format!(
                "signed out of callerdesk (signed in through {provider})"
            )),
            None => Sentence::plain("signed out"),
        },
        Action::SetupCompleted => Sentence::plain("set up callerdesk"),
        Action::UserCreated => match detail(details, "provider") {
            Some(provider) => Sentence::plain(format!(
                "got the account {username} as {} at their first sign-in through {provider} (subject {})",
                detail(details, "role").unwrap_or("?"),
                detail(details, "subject").unwrap_or("unknown")
            )),
            None if details.and_then(|d| d.get("break_glass")) == Some(&Value::Bool(true)) => {
                Sentence::plain(format!(
                    "added the user {username} as a break-glass account (may use a password when password sign-in is off)"
                ))
            }
            None => Sentence::plain(format!("added the user {username}")),
        },
        Action::UserRoleChanged => match detail(details, "provider") {
            Some(provider) => Sentence::plain(format!(
                "became {} instead of {} because of their groups at {provider}",
                detail(details, "new").unwrap_or("?"),
                detail(details, "old").unwrap_or("?")
            )),
            None => Sentence::plain(format!(
                "changed {username}'s role from {} to {}",
                detail(details, "old").unwrap_or("?"),
                detail(details, "new").unwrap_or("?")
            )),
        },
        Action::UserLinked => Sentence::plain(format!(
            "had the account {username} linked to their sign-in at {} (subject {}, matched by {})",
            detail(details, "provider").unwrap_or("the provider"),
            detail(details, "subject").unwrap_or("unknown"),
            detail(details, "by").unwrap_or("email")
        )),
        Action::UserPasswordReset => Sentence::plain(format!("reset {username}'s password")),
        Action::PasswordChanged if outcome == Some(Outcome::Failed) => Sentence::plain(format!(
            "could not change their password: {}",
            detail(details, "reason").unwrap_or("refused")
        )),
        Action::PasswordChanged => Sentence::plain("changed their password"),
        Action::UserDisabled => Sentence::plain(format!("disabled {username}")),
        Action::UserEnabled => Sentence::plain(format!("enabled {username}")),
        Action::TwoStepEnabled => {
            Sentence::plain("turned on two-step sign-in with an authenticator app")
        }
        Action::RecoveryCodesReplaced if outcome == Some(Outcome::Failed) => {
            Sentence::plain(format!(
                "could not make new recovery codes: {}",
                detail(details, "reason").unwrap_or("refused")
            ))
        }
        Action::RecoveryCodesReplaced => Sentence::plain(
            "made new recovery codes for their two-step sign-in (the old ones no longer work)",
        ),
        Action::UserTwoStepReset => Sentence::plain(format!(
            "reset {username}'s two-step sign-in (their authenticator app and recovery codes no longer work)"
        )),
        Action::SyncFinished if outcome == Some(Outcome::Failed) => Sentence::plain(format!(
            "could not finish a sync with Plivo: {}",
            detail(details, "error").unwrap_or("no reason was recorded")
        )),
        Action::SyncFinished => {
            let counts = details.and_then(|d| d.get("counts"));
            let n = |key: &str| counts.and_then(|c| c.get(key)).and_then(Value::as_u64);
            let mut moved: Vec<String> = [
                ("added", "added"),
                ("changed", "changed"),
                ("removed", "removed"),
                ("restored", "back"),
            ]
            .into_iter()
            .filter_map(|(key, word)| n(key).filter(|&k| k > 0).map(|k| format!("{k} {word}")))
            .collect();
            if moved.is_empty() {
                moved.push("no changes".into());
            }
            match n("seen") {
                Some(seen) => Sentence::plain(format!(
                    "synced the caller ID list with Plivo: {} at Plivo, {}",
                    plural(seen, "caller ID", "caller IDs"),
                    moved.join(", ")
                )),
                None => Sentence::plain("synced the caller ID list with Plivo"),
            }
        }
        Action::CallerIdAddedAtPlivo => {
            Sentence::plain(format!("found {number} added at Plivo outside callerdesk"))
        }
        Action::CallerIdChangedAtPlivo => Sentence::plain(format!(
            "found {number} changed at Plivo outside callerdesk: {changes}"
        )),
        Action::CallerIdRemovedAtPlivo => Sentence::plain(format!(
            "found {number} removed at Plivo outside callerdesk"
        )),
        Action::CallerIdRestoredAtPlivo => Sentence::plain(format!(
            "found {number} back at Plivo after it had been removed"
        )),
        Action::CallerIdUpdated => match context.shown {
            ShownOutcome::Succeeded => Sentence::plain(format!("changed {number}: {changes}")),
            ShownOutcome::Failed => {
                Sentence::possessive(format!("change to {number} ({changes}) failed: {}", why()))
            }
            _ => Sentence::plain(format!(
                "asked Plivo to change {number} ({changes}){waiting}"
            )),
        },
        Action::CallerIdDeleted => match context.shown {
            ShownOutcome::Succeeded => Sentence::plain(format!("deleted {number} at Plivo")),
            ShownOutcome::Failed => {
                Sentence::possessive(format!("deletion of {number} failed: {}", why()))
            }
            _ => Sentence::plain(format!("asked Plivo to delete {number}{waiting}")),
        },
        Action::VerificationStarted => {
            let what = if resend { "new code" } else { "code" };
            match context.shown {
                ShownOutcome::Succeeded => {
                    Sentence::plain(format!("sent a {what} by {channel} to {number}"))
                }
                ShownOutcome::Failed => Sentence::possessive(format!(
                    "{} to {number} failed: {}",
                    if resend {
                        format!("new code by {channel}")
                    } else {
                        channel.to_owned()
                    },
                    why()
                )),
                _ => Sentence::plain(format!(
                    "asked Plivo to send a {what} by {channel} to {number}{waiting}"
                )),
            }
        }
        Action::VerificationCompleted => match context.shown {
            ShownOutcome::Succeeded => {
                let wrong = earlier
                    .iter()
                    .filter(|step| step.action == Action::VerificationCodeRejected.as_str())
                    .count() as u64;
                let mut text = format!("verified {number} by {channel}");
                if wrong > 0 {
                    text.push_str(&format!(
                        " ({} first)",
                        plural(wrong, "wrong code", "wrong codes")
                    ));
                }
                if let Some(status) = detail(details, "verification_had_ended") {
                    text.push_str(&format!(
                        "; the code came after the verification had ended ({status}), and Plivo accepted it"
                    ));
                }
                Sentence::plain(text)
            }
            ShownOutcome::Failed => {
                Sentence::possessive(format!("code for {number} could not be checked: {}", why()))
            }
            _ => Sentence::plain(format!("entered a code for {number}{waiting}")),
        },
        Action::VerificationCodeRejected => {
            let used = count("wrong_attempts");
            if details
                .and_then(|d| d.get("verification_had_ended"))
                .is_some()
            {
                Sentence::plain(format!(
                    "entered a wrong code for {number} after the verification had ended"
                ))
            } else if used >= MAX_WRONG_CODES {
                Sentence::plain(format!(
                    "entered a wrong code for {number} for the {}th time, so the verification was stopped",
                    MAX_WRONG_CODES
                ))
            } else {
                Sentence::plain(format!(
                    "entered a wrong code for {number} ({} left)",
                    plural(MAX_WRONG_CODES - used, "try", "tries")
                ))
            }
        }
        Action::VerificationExpired => Sentence::plain(format!(
            "closed the verification of {number}: no right code came within 15 minutes"
        )),
        Action::VerificationCancelled => {
            Sentence::plain(format!("cancelled the verification of {number}"))
        }
        Action::AuditExported => Sentence::plain(format!(
            "exported the audit log ({})",
            plural(count("rows"), "event", "events")
        )),
        Action::CallerIdsExported => Sentence::plain(format!(
            "downloaded the caller ID list ({})",
            plural(count("rows"), "row", "rows")
        )),
        Action::AccessRefused => Sentence::plain(format!(
            "was refused {} {}: {}",
            match detail(details, "method") {
                Some("GET" | "HEAD") | None => "the page",
                Some(_) => "an action at",
            },
            detail(details, "path").unwrap_or(""),
            detail(details, "reason").unwrap_or("not allowed for their role")
        )),
    }
}

/// "Chrome on Windows", from a browser's user-agent string: what a person can recognise. The
/// string itself stays in the event.
pub fn browser(user_agent: &str) -> String {
    let has = |s: &str| user_agent.contains(s);
    let name = if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        "Edge"
    } else if has("OPR/") {
        "Opera"
    } else if has("HeadlessChrome") {
        "Chrome (headless)"
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        "Chrome"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("Safari/") {
        "Safari"
    } else {
        let program = user_agent.split(['/', ' ']).next().unwrap_or("").trim();
        return if program.is_empty() {
            "an unnamed program".into()
        } else {
            format!("a program calling itself {program}")
        };
    };
    let system = if has("iPhone") {
        "an iPhone"
    } else if has("iPad") {
        "an iPad"
    } else if has("Android") {
        "Android"
    } else if has("Windows") {
        "Windows"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Macintosh") || has("Mac OS X") {
        "a Mac"
    } else if has("Linux") {
        "Linux"
    } else {
        return name.to_owned();
    };
    format!("{name} on {system}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::query::VerificationStep;

    fn event(action: Action, outcome: &str, details: Value, status: Option<i64>) -> StoredEvent {
        StoredEvent {
            id: 10,
            occurred_at: "2026-12-02T10:00:00.000000Z".into(),
            actor_id: Some(1),
            actor_name: "dana".into(),
            client_ip: None,
            user_agent: None,
            request_id: None,
            action: action.as_str().into(),
            phone_number: Some("+12025550143".into()),
            verification_id: Some("v1".into()),
            outcome: outcome.into(),
            plivo_api_id: None,
            plivo_status: status,
            details: Some(details.to_string()),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn step(
        id: i64,
        action: Action,
        alias: Option<&str>,
        channel: Option<&str>,
    ) -> VerificationStep {
        VerificationStep {
            verification_id: "v1".into(),
            id,
            action: action.as_str().into(),
            alias: alias.map(str::to_owned),
            channel: channel.map(str::to_owned),
        }
    }

    /// The line for `e` after `steps`, with the actor in front as the page puts it.
    fn line(e: &StoredEvent, steps: &[VerificationStep], shown: ShownOutcome) -> String {
        let details: Option<Value> = e
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok());
        let s = sentence(
            e,
            details.as_ref(),
            Context {
                verification: steps,
                number: Some("+1 202-555-0143"),
                shown,
            },
            &SubaccountNames::default(),
        );
        format!("dana{} {}", if s.possessive { "'s" } else { "" }, s.text)
    }

    #[test]
    fn every_action_at_plivo_reads_as_one_sentence_per_outcome() {
        use ShownOutcome::{Failed, Requested, Succeeded, Unknown};
        use serde_json::json;
        let sent = [step(
            3,
            Action::VerificationStarted,
            Some("Front desk"),
            Some("sms"),
        )];
        let wrong_twice = [
            step(
                3,
                Action::VerificationStarted,
                Some("Front desk"),
                Some("sms"),
            ),
            step(5, Action::VerificationCodeRejected, None, None),
            step(6, Action::VerificationStarted, None, Some("call")),
            step(8, Action::VerificationCodeRejected, None, None),
        ];
        let unreachable = json!({ "error": "could not connect to Plivo: connection refused" });
        let cases: Vec<(StoredEvent, &[VerificationStep], ShownOutcome, &str)> = vec![
            (
                event(
                    Action::VerificationStarted,
                    "succeeded",
                    json!({ "alias": "Front desk", "channel": "sms" }),
                    None,
                ),
                &[],
                Succeeded,
                "dana sent a code by text message to +1 202-555-0143 “Front desk”",
            ),
            (
                event(
                    Action::VerificationStarted,
                    "succeeded",
                    json!({ "channel": "call", "resend": true }),
                    None,
                ),
                &sent,
                Succeeded,
                "dana sent a new code by phone call to +1 202-555-0143 “Front desk”",
            ),
            (
                event(
                    Action::VerificationStarted,
                    "failed",
                    json!({ "alias": "", "channel": "sms", "error": "could not connect to Plivo: refused" }),
                    None,
                ),
                &[],
                Failed,
                "dana's text message to +1 202-555-0143 failed: Plivo was unreachable",
            ),
            (
                event(
                    Action::VerificationStarted,
                    "requested",
                    json!({ "alias": "", "channel": "call" }),
                    None,
                ),
                &[],
                Requested,
                "dana asked Plivo to send a code by phone call to +1 202-555-0143; waiting for Plivo's answer",
            ),
            (
                event(
                    Action::VerificationCompleted,
                    "succeeded",
                    json!({ "alias": "Front desk" }),
                    None,
                ),
                &wrong_twice,
                Succeeded,
                "dana verified +1 202-555-0143 “Front desk” by phone call (2 wrong codes first)",
            ),
            (
                event(
                    Action::VerificationCompleted,
                    "failed",
                    json!({ "error": "Plivo did not answer within 10s" }),
                    None,
                ),
                &sent,
                Failed,
                "dana's code for +1 202-555-0143 “Front desk” could not be checked: Plivo did not answer in time",
            ),
            (
                event(Action::VerificationCompleted, "requested", json!({}), None),
                &sent,
                Unknown,
                "dana entered a code for +1 202-555-0143 “Front desk”; no answer from Plivo was recorded",
            ),
            (
                event(
                    Action::VerificationCodeRejected,
                    "failed",
                    json!({ "wrong_attempts": 1 }),
                    Some(400),
                ),
                &sent,
                Failed,
                "dana entered a wrong code for +1 202-555-0143 “Front desk” (4 tries left)",
            ),
            (
                event(
                    Action::VerificationCodeRejected,
                    "failed",
                    json!({ "wrong_attempts": 5 }),
                    Some(400),
                ),
                &sent,
                Failed,
                "dana entered a wrong code for +1 202-555-0143 “Front desk” for the 5th time, so the verification was stopped",
            ),
            (
                event(Action::VerificationExpired, "succeeded", json!({}), None),
                &sent,
                Succeeded,
                "dana closed the verification of +1 202-555-0143 “Front desk”: no right code came within 15 minutes",
            ),
            (
                event(Action::VerificationCancelled, "succeeded", json!({}), None),
                &sent,
                Succeeded,
                "dana cancelled the verification of +1 202-555-0143 “Front desk”",
            ),
            (
                event(
                    Action::CallerIdUpdated,
                    "succeeded",
                    json!({ "changes": { "alias": ["Front desk", "Reception"] } }),
                    None,
                ),
                &[],
                Succeeded,
                "dana changed +1 202-555-0143: name “Front desk” → “Reception”",
            ),
            (
                event(
                    Action::CallerIdUpdated,
                    "failed",
                    json!({ "changes": { "alias": ["Front desk", "Reception"] }, "error": "busy" }),
                    Some(503),
                ),
                &[],
                Failed,
                "dana's change to +1 202-555-0143 (name “Front desk” → “Reception”) failed: Plivo had a fault of its own (HTTP 503)",
            ),
            (
                event(
                    Action::CallerIdDeleted,
                    "succeeded",
                    json!({ "alias": "Reception" }),
                    None,
                ),
                &[],
                Succeeded,
                "dana deleted +1 202-555-0143 “Reception” at Plivo",
            ),
            (
                event(
                    Action::CallerIdDeleted,
                    "failed",
                    json!({ "alias": "Reception", "error": "not found" }),
                    Some(404),
                ),
                &[],
                Failed,
                "dana's deletion of +1 202-555-0143 “Reception” failed: Plivo refused: not found",
            ),
            (
                event(
                    Action::CallerIdDeleted,
                    "requested",
                    json!({ "alias": "Reception" }),
                    None,
                ),
                &[],
                Unknown,
                "dana asked Plivo to delete +1 202-555-0143 “Reception”; no answer from Plivo was recorded",
            ),
            (
                event(
                    Action::CallerIdAddedAtPlivo,
                    "succeeded",
                    json!({ "alias": "Sales" }),
                    None,
                ),
                &[],
                Succeeded,
                "dana found +1 202-555-0143 “Sales” added at Plivo outside callerdesk",
            ),
            (
                event(
                    Action::SyncFinished,
                    "succeeded",
                    json!({ "counts": { "seen": 12, "added": 2, "changed": 0, "removed": 1, "restored": 0 } }),
                    None,
                ),
                &[],
                Succeeded,
                "dana synced the caller ID list with Plivo: 12 caller IDs at Plivo, 2 added, 1 removed",
            ),
            (
                event(
                    Action::SyncFinished,
                    "failed",
                    json!({ "error": "Plivo refused the credentials" }),
                    Some(401),
                ),
                &[],
                Failed,
                "dana could not finish a sync with Plivo: Plivo refused the credentials",
            ),
        ];
        for (e, steps, shown, expected) in cases {
            let said = line(&e, steps, shown);
            assert!(
                said.starts_with(expected),
                "{said:?}\n  expected {expected:?}"
            );
        }
        let unreachable_send = event(Action::VerificationStarted, "failed", unreachable, None);
        assert!(line(&unreachable_send, &[], Failed).ends_with("failed: Plivo was unreachable"));
    }

    #[test]
    fn plivo_failures_read_as_what_happened() {
        assert_eq!(
            plivo_failure(None, Some("could not connect to Plivo: refused")),
            "Plivo was unreachable"
        );
        assert_eq!(
            plivo_failure(None, Some("Plivo did not answer within 10s")),
            "Plivo did not answer in time"
        );
        assert_eq!(
            plivo_failure(Some(503), Some("busy")),
            "Plivo had a fault of its own (HTTP 503)"
        );
        assert_eq!(
            plivo_failure(Some(400), Some("invalid phone number")),
            "Plivo refused: invalid phone number"
        );
    }

    #[test]
    fn browsers_read_as_names_people_know() {
        assert_eq!(
            browser(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
            ),
            "Edge on Windows"
        );
        assert_eq!(
            browser(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
            ),
            "Safari on an iPhone"
        );
        assert_eq!(
            browser("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            "Firefox on Linux"
        );
        assert_eq!(browser("curl/8.5.0"), "a program calling itself curl");
    }
}
