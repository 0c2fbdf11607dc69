//! Bringing the cache in line with what Plivo listed: pages stored as they are read, and
//! numbers marked removed only once Plivo confirms them gone.

use serde_json::json;
use sqlx::SqliteConnection;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::Counts;
use crate::{
    audit::{self, Action, NewEvent, Outcome, Who},
    clock::Clock,
    db::{
        Db, Timestamp,
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

/// Stores pages as the reading hands them on, a few hundred caller IDs to a transaction,
/// until the reading is done; returns what it added, changed and brought back. A row
/// callerdesk changed after the run began is left alone: the page may predate that change.
pub async fn store_pages(
    db: Db,
    clock: Clock,
    mut pages: mpsc::Receiver<Vec<CallerId>>,
    run_started: OffsetDateTime,
) -> sqlx::Result<Counts> {
    let mut counts = Counts::default();
    while let Some(mut batch) = pages.recv().await {
        while batch.len() < BATCH {
            match pages.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        let mut tx = db.writer.begin().await?;
        store_batch(&mut tx, &batch, run_started, clock.now(), &mut counts).await?;
        tx.commit().await?;
    }
    Ok(counts)
}

/// Caller IDs stored in one transaction, at most (when more are waiting).
const BATCH: usize = 500;

async fn store_batch(
    conn: &mut SqliteConnection,
    items: &[CallerId],
    run_started: OffsetDateTime,
    now: OffsetDateTime,
    counts: &mut Counts,
) -> sqlx::Result<()> {
    // The last word on each number (a number read twice was read twice because the list moved).
    let mut latest: HashMap<PhoneNumber, &CallerId> = HashMap::new();
    for item in items {
        match PhoneNumber::from_path(&item.phone_number) {
            Ok(number) => {
                latest.insert(number, item);
            }
            Err(_) => {
                tracing::warn!(number = %item.phone_number, "Plivo listed a number that is not in international format; skipped");
            }
        }
    }
    let numbers: Vec<&PhoneNumber> = latest.keys().collect();
    let cached: HashMap<PhoneNumber, CachedCallerId> = caller_ids::by_numbers(&mut *conn, &numbers)
        .await?
        .into_iter()
        .map(|row| (row.phone_number.clone(), row))
        .collect();
    let mut upserts = Vec::new();
    let mut events = Vec::new();
    for (number, item) in latest {
        let row = cached.get(&number);
        if row.is_some_and(|row| row.updated_at.time() >= run_started) {
            continue;
        }
        let new = fields(item);
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
    let stamp = Timestamp::from(now);
    caller_ids::upsert_many(conn, &upserts, stamp).await?;
    audit::append_many(conn, now, events).await?;
    Ok(())
}

/// The cached current caller IDs a consistent listing did not have, leaving out any callerdesk
/// changed after the run began (the listing may predate them). Absence alone proves nothing:
/// each must be confirmed gone by Plivo before it is marked removed.
pub async fn absent(
    db: &Db,
    listed: &HashSet<&str>,
    run_started: OffsetDateTime,
) -> sqlx::Result<Vec<CachedCallerId>> {
    Ok(caller_ids::current(&db.reader)
        .await?
        .into_iter()
        .filter(|row| {
            !listed.contains(row.phone_number.as_str()) && row.updated_at.time() < run_started
        })
        .collect())
}

/// Marks removed the caller IDs Plivo confirmed gone, each with its event by `system`.
pub async fn remove(
    conn: &mut SqliteConnection,
    gone: &[CachedCallerId],
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    let stamp = Timestamp::from(now);
    let mut events = Vec::new();
    for row in gone {
        caller_ids::mark_removed(conn, row.phone_number.as_str(), stamp).await?;
        events.push(
            Who::system()
                .event(Action::CallerIdRemovedAtPlivo, Outcome::Succeeded)
                .with_number(row.phone_number.as_str())
                .with_details(json!({ "alias": row.alias })),
        );
    }
    audit::append_many(conn, now, events).await?;
    Ok(())
}
