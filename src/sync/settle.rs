//! Settling requests whose outcome was never recorded (callerdesk stopped mid-call): a complete
//! listing from Plivo says what became of most of them. Each settlement is an event by `system`
//! naming the request it answers.

use serde_json::{Value, json};
use sqlx::SqliteConnection;
use std::collections::HashMap;
use time::OffsetDateTime;

use crate::{
    audit::{self, Action, Actor, NewEvent, Outcome, RequestMeta, StoredEvent, query},
    db::{Db, Timestamp, verifications},
    domain::VerificationStatus,
    plivo::CallerId,
};

/// A request is settled once it is this old without an outcome.
pub const GRACE: time::Duration = time::Duration::minutes(2);
/// Older requests are left alone (and keep showing as "outcome unknown").
pub const HORIZON: time::Duration = time::Duration::days(7);

fn action_of(name: &str) -> Option<Action> {
    Action::ALL.iter().copied().find(|a| a.as_str() == name)
}

/// What Plivo's listing says about one request: succeeded or not, and why.
fn judge(request: &StoredEvent, listed: &HashMap<&str, &CallerId>) -> (bool, String) {
    let number = request.phone_number.as_deref().unwrap_or_default();
    let at_plivo = listed.get(number);
    let details: Option<Value> = request
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok());
    match request.action.as_str() {
        "caller_id_deleted" => match at_plivo {
            None => (true, "the number is no longer at Plivo".into()),
            Some(_) => (false, "the number is still at Plivo".into()),
        },
        "caller_id_updated" => {
            let wanted = details
                .as_ref()
                .and_then(|d| d.pointer("/changes/alias/1"))
                .and_then(Value::as_str);
            let now = at_plivo.and_then(|c| c.alias.as_deref()).unwrap_or("");
            match (at_plivo, wanted) {
                (Some(_), Some(wanted)) if wanted == now => {
                    (true, "Plivo shows the new name".into())
                }
                (Some(_), None) => (true, "the number is at Plivo".into()),
                _ => (false, "Plivo does not show the change".into()),
            }
        }
        "verification_completed" | "verification_started" => match at_plivo {
            Some(_) => (true, "the number is a verified caller ID at Plivo".into()),
            None => (
                false,
                "the number is not a verified caller ID at Plivo".into(),
            ),
        },
        _ => (false, "Plivo's listing cannot tell".into()),
    }
}

/// Settles what it can; returns how many requests were settled.
pub async fn settle(
    db: &Db,
    conn: &mut SqliteConnection,
    listing: &[CallerId],
    run_id: i64,
    now: OffsetDateTime,
) -> sqlx::Result<usize> {
    let open = query::unanswered(&db.reader, now - HORIZON, now - GRACE).await?;
    if open.is_empty() {
        return Ok(0);
    }
    let listed: HashMap<&str, &CallerId> = listing
        .iter()
        .map(|c| (c.phone_number.as_str(), c))
        .collect();
    for request in &open {
        let Some(action) = action_of(&request.action) else {
            continue;
        };
        let (succeeded, reason) = judge(request, &listed);
        if let Some(id) = &request.verification_id {
            let pending = verifications::by_id(&mut *conn, id)
                .await?
                .filter(|v| v.status.is_pending());
            if let Some(v) = pending {
                let stamp = Timestamp::from(now);
                if succeeded {
                    verifications::finish(
                        conn,
                        id,
                        VerificationStatus::Verified,
                        None,
                        None,
                        stamp,
                    )
                    .await?;
                } else if v.plivo_uuid.is_none() {
                    let why = "callerdesk stopped before Plivo answered, so no code can be checked here. Start again.";
                    verifications::finish(
                        conn,
                        id,
                        VerificationStatus::Failed,
                        Some(why),
                        None,
                        stamp,
                    )
                    .await?;
                }
            }
        }
        let mut event = NewEvent::new(
            Actor::system(),
            &RequestMeta::default(),
            action,
            if succeeded {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            },
        )
        .with_details(json!({ "settled_by_sync": run_id, "reason": reason }))
        .with_request(request.id);
        event.phone_number = request.phone_number.clone();
        event.verification_id = request.verification_id.clone();
        audit::append(conn, now, event).await?;
    }
    Ok(open.len())
}
