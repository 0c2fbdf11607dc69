//! Bringing the cache in line with a complete listing, inside the run's transaction.

use serde_json::json;
use sqlx::SqliteConnection;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

use super::Counts;
use crate::{
    audit::{self, Action, Actor, NewEvent, Outcome, RequestMeta, Who},
    db::{
        Timestamp,
        caller_ids::{self, CachedCallerId, PlivoFields},
    },
    domain::PhoneNumber,
    plivo::CallerId,
};

/// The cache's fields from what Plivo said about a caller ID.
pub(crate) fn fields(c: &CallerId) -> PlivoFields {
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
pub(crate) fn changes(
    old: &CachedCallerId,
    new: &PlivoFields,
) -> serde_json::Map<String, serde_json::Value> {
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

/// What Plivo's word on one caller ID means for its cached row.
pub(crate) enum Seen {
    /// Not in the cache: added at Plivo outside callerdesk.
    Added,
    /// Marked removed, but Plivo has it again.
    Restored,
    /// Its name, subaccount or country changed at Plivo: `{"field": [old, new]}`.
    Changed(serde_json::Map<String, serde_json::Value>),
    /// Only fields people don't see changed (Plivo's uuid or times): stored quietly.
    Refreshed,
    /// The cache already says what Plivo says.
    Same,
}

impl Seen {
    /// Compares the cached row (if any) with Plivo's fields for it.
    pub(crate) fn of(row: Option<&CachedCallerId>, new: &PlivoFields) -> Self {
        let Some(row) = row else {
            return Seen::Added;
        };
        if row.removed_at.is_some() {
            return Seen::Restored;
        }
        let diff = changes(row, new);
        if !diff.is_empty() {
            Seen::Changed(diff)
        } else if row.verification_uuid != new.verification_uuid
            || row.plivo_created_at != new.plivo_created_at
            || row.plivo_modified_at != new.plivo_modified_at
        {
            Seen::Refreshed
        } else {
            Seen::Same
        }
    }

    /// The audit event it calls for (by `who`), if people should hear of it.
    pub(crate) fn event(&self, who: &Who, number: &str, new: &PlivoFields) -> Option<NewEvent> {
        let details =
            json!({ "alias": new.alias, "subaccount": new.subaccount, "country": new.country });
        let (action, details) = match self {
            Seen::Added => (Action::CallerIdAddedAtPlivo, details),
            Seen::Restored => (Action::CallerIdRestoredAtPlivo, details),
            Seen::Changed(diff) => (Action::CallerIdChangedAtPlivo, json!({ "changes": diff })),
            Seen::Refreshed | Seen::Same => return None,
        };
        Some(
            who.event(action, Outcome::Succeeded)
                .with_number(number)
                .with_details(details),
        )
    }
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
        let row = cached.get(number.as_str());
        if row.is_some_and(changed_since_start) {
            continue;
        }
        let seen = Seen::of(row, &new);
        match seen {
            Seen::Added => counts.added += 1,
            Seen::Restored => counts.restored += 1,
            Seen::Changed(_) => counts.changed += 1,
            Seen::Refreshed | Seen::Same => {}
        }
        events.extend(seen.event(&Who::system(), number.as_str(), &new));
        if !matches!(seen, Seen::Same) {
            upserts.push((number, new));
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
