//! Bringing the cache in line with a complete listing, inside the run's transaction.

use serde_json::json;
use sqlx::SqliteConnection;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

use super::Counts;
use crate::{
    audit::{self, Action, Actor, NewEvent, Outcome, RequestMeta},
    db::{
        Timestamp,
        caller_ids::{self, CachedCallerId, PlivoFields},
    },
    domain::PhoneNumber,
    plivo::CallerId,
};

fn fields(c: &CallerId) -> PlivoFields {
    PlivoFields {
        alias: c.alias.clone().unwrap_or_default(),
        country: c.country.clone().unwrap_or_default(),
        subaccount: c.subaccount.clone().unwrap_or_default(),
        verification_uuid: c.verification_uuid.clone(),
        plivo_created_at: c.created_at.map(Timestamp::from),
        plivo_modified_at: c.modified_at.map(Timestamp::from),
    }
}

/// The visible fields that differ, as `{"alias": ["Old", "New"], ...}`.
fn changes(old: &CachedCallerId, new: &PlivoFields) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for (name, before, after) in [
        ("alias", &old.alias, &new.alias),
        ("subaccount", &old.subaccount, &new.subaccount),
        ("country", &old.country, &new.country),
    ] {
        if before != after {
            map.insert(name.to_owned(), json!([before, after]));
        }
    }
    map
}

fn event(action: Action, number: &str, details: serde_json::Value) -> NewEvent {
    NewEvent::new(
        Actor::system(),
        &RequestMeta::default(),
        action,
        Outcome::Succeeded,
    )
    .with_number(number)
    .with_details(details)
}

/// Applies `listing`. Rows callerdesk changed after the run started are left alone: the listing
/// may predate that change.
pub async fn apply(
    conn: &mut SqliteConnection,
    listing: &[CallerId],
    run_started: OffsetDateTime,
    now: OffsetDateTime,
) -> sqlx::Result<Counts> {
    let stamp = Timestamp::from(now);
    let cached: HashMap<String, CachedCallerId> = caller_ids::all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| (row.phone_number.as_str().to_owned(), row))
        .collect();
    let changed_since_start = |row: &CachedCallerId| row.updated_at.time() >= run_started;
    let mut counts = Counts::default();
    let mut listed = HashSet::new();
    // Collected, then written in a few large statements rather than two per row.
    let mut upserts = Vec::new();
    let mut events = Vec::new();

    for item in listing {
        let Ok(number) = PhoneNumber::from_path(&item.phone_number) else {
            tracing::warn!(number = %item.phone_number, "Plivo listed a number that is not in international format; skipped");
            continue;
        };
        counts.seen += 1;
        listed.insert(number.as_str().to_owned());
        let new = fields(item);
        let details =
            json!({ "alias": new.alias, "subaccount": new.subaccount, "country": new.country });
        match cached.get(number.as_str()) {
            None => {
                events.push(event(
                    Action::CallerIdAddedAtPlivo,
                    number.as_str(),
                    details,
                ));
                upserts.push((number, new));
                counts.added += 1;
            }
            Some(row) if changed_since_start(row) => {}
            Some(row) if row.removed_at.is_some() => {
                events.push(event(
                    Action::CallerIdRestoredAtPlivo,
                    number.as_str(),
                    details,
                ));
                upserts.push((number, new));
                counts.restored += 1;
            }
            Some(row) => {
                let diff = changes(row, &new);
                let quiet_change = row.verification_uuid != new.verification_uuid
                    || row.plivo_created_at != new.plivo_created_at
                    || row.plivo_modified_at != new.plivo_modified_at;
                if !diff.is_empty() {
                    events.push(event(
                        Action::CallerIdChangedAtPlivo,
                        number.as_str(),
                        json!({ "changes": diff }),
                    ));
                    upserts.push((number, new));
                    counts.changed += 1;
                } else if quiet_change {
                    upserts.push((number, new));
                }
            }
        }
    }
    caller_ids::upsert_many(conn, &upserts, stamp).await?;

    for row in cached.values() {
        if row.removed_at.is_none()
            && !listed.contains(row.phone_number.as_str())
            && !changed_since_start(row)
        {
            caller_ids::mark_removed(conn, row.phone_number.as_str(), stamp).await?;
            events.push(event(
                Action::CallerIdRemovedAtPlivo,
                row.phone_number.as_str(),
                json!({ "alias": row.alias }),
            ));
            counts.removed += 1;
        }
    }
    audit::append_many(conn, now, events).await?;
    caller_ids::mark_seen(conn, stamp).await?;
    Ok(counts)
}
