//! Events as sentences people can read ("system: removed at Plivo outside callerdesk").

use serde_json::Value;

use super::StoredEvent;

fn detail<'a>(details: Option<&'a Value>, key: &str) -> Option<&'a str> {
    details?.get(key)?.as_str()
}

/// "alias Front desk → Reception, subaccount (none) → SA…"
pub fn changes_text(changes: &Value) -> String {
    let Some(map) = changes.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(field, pair)| {
            let show = |v: Option<&Value>| match v.and_then(Value::as_str) {
                Some("") | None => "(none)".to_owned(),
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
/// event's details, parsed.
pub fn what(event: &StoredEvent, details: Option<&Value>) -> String {
    let changes = details
        .and_then(|d| d.get("changes"))
        .map(changes_text)
        .unwrap_or_default();
    let username = detail(details, "username").unwrap_or("someone");
    match event.action.as_str() {
        "sign_in" => "signed in".into(),
        "sign_in_throttled" => format!("was refused sign-in as {username} after too many failures"),
        "sign_out" => "signed out".into(),
        "setup_completed" => "set up callerdesk".into(),
        "user_created" => format!("added the user {username}"),
        "user_role_changed" => format!(
            "changed {username}'s role from {} to {}",
            detail(details, "old").unwrap_or("?"),
            detail(details, "new").unwrap_or("?")
        ),
        "user_password_reset" => format!("reset {username}'s password"),
        "password_changed" if event.outcome == "failed" => format!(
            "could not change their password: {}",
            detail(details, "reason").unwrap_or("refused")
        ),
        "password_changed" => "changed their password".into(),
        "user_disabled" => format!("disabled {username}"),
        "user_enabled" => format!("enabled {username}"),
        "sync_finished" => "synced the caller ID list with Plivo".into(),
        "caller_id_added_at_plivo" => "added at Plivo outside callerdesk".into(),
        "caller_id_changed_at_plivo" => format!("changed at Plivo: {changes}"),
        "caller_id_removed_at_plivo" => "removed at Plivo outside callerdesk".into(),
        "caller_id_restored_at_plivo" => "back at Plivo after being removed".into(),
        "caller_id_updated" => format!("edited the caller ID: {changes}"),
        "caller_id_deleted" => "deleted the caller ID".into(),
        "verification_started" => {
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
        "verification_completed" if event.outcome == "succeeded" => {
            match details
                .and_then(|d| d.get("verification_had_ended"))
                .and_then(Value::as_str)
            {
                Some(status) => format!(
                    "entered the right code after the verification had ended ({status}); Plivo verified the number"
                ),
                None => "entered the right code".into(),
            }
        }
        "verification_completed" => "entered a code".into(),
        "verification_code_rejected" => "entered a wrong code".into(),
        "verification_expired" => {
            "closed the verification: no right code came within 15 minutes".into()
        }
        "verification_cancelled" => "cancelled the verification".into(),
        "audit_exported" => format!(
            "exported the audit log ({} events)",
            details
                .and_then(|d| d.get("rows"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        ),
        "caller_ids_exported" => format!(
            "downloaded the caller ID list ({} rows)",
            details
                .and_then(|d| d.get("rows"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        ),
        "access_refused" => format!(
            "was refused {} {}: {}",
            detail(details, "method").unwrap_or("a request"),
            detail(details, "path").unwrap_or(""),
            detail(details, "reason").unwrap_or("not allowed for their role")
        ),
        other => other.replace('_', " "),
    }
}

/// The whole sentence for the audit page: what happened and to which number.
pub fn sentence(
    event: &StoredEvent,
    details: Option<&Value>,
    number_display: Option<&str>,
) -> String {
    let what = what(event, details);
    match number_display {
        Some(number) if event.action.starts_with("verification") => match event.action.as_str() {
            "verification_started" => format!("{what} to {number}"),
            "verification_completed" | "verification_code_rejected" => {
                format!("{what} for {number}")
            }
            "verification_expired" => {
                format!("closed the verification of {number}: no right code came within 15 minutes")
            }
            _ => format!("{what} of {number}"),
        },
        Some(number) if event.action.starts_with("caller_id") => format!("{number}: {what}"),
        Some(number) => format!("{what} ({number})"),
        None => what,
    }
}
