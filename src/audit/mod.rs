//! The audit log: append-only (triggers refuse UPDATE and DELETE) and hash-chained (each event
//! carries the previous event's hash and its own SHA-256 over a canonical encoding, defined in
//! `docs/audit-log.md` and in [`canonical_encoding`]).
//!
//! Every event goes through [`append`], inside the caller's transaction, so an event is
//! recorded if and only if the change it describes is.

pub mod attempt;
pub mod checkpoints;
pub mod describe;
mod event;
pub mod export;
pub mod forward;
pub mod query;
pub mod sample;
mod verify;
mod watch;

pub use attempt::{Attempt, Requested};
pub use event::{Action, Actor, NewEvent, Outcome, RequestMeta, Who};
pub use verify::{ChainStatus, Position, verify_chain, verify_from};
pub use watch::{ChainWatch, Checked, FullCheck, missing_guards};

use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use crate::db::timestamp;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The version tag that starts every canonical encoding.
pub const ENCODING_VERSION: &str = "callerdesk-audit-v1";

/// An event's fields exactly as stored, in the order the hash covers them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub occurred_at: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub phone_number: Option<String>,
    pub verification_id: Option<String>,
    pub outcome: String,
    pub plivo_api_id: Option<String>,
    pub plivo_status: Option<i64>,
    pub details: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The bytes the hash is taken over: a compact JSON array of the version tag, every field but
/// `hash` in table order, and `prev_hash` last.
pub fn canonical_encoding(e: &StoredEvent) -> String {
    serde_json::json!([
        ENCODING_VERSION,
        e.id,
        e.occurred_at,
        e.actor_id,
        e.actor_name,
        e.client_ip,
        e.user_agent,
        e.request_id,
        e.action,
        e.phone_number,
        e.verification_id,
        e.outcome,
        e.plivo_api_id,
        e.plivo_status,
        e.details,
        e.prev_hash,
    ])
    .to_string()
}

/// Lower-case hex SHA-256 of the canonical encoding.
pub fn event_hash(e: &StoredEvent) -> String {
    hex::encode(Sha256::digest(canonical_encoding(e).as_bytes()))
}

/// Appends one event after the current head, in the caller's transaction: the event is stored
/// exactly when the change it describes is.
pub async fn append(
    conn: &mut SqliteConnection,
    now: time::OffsetDateTime,
    event: NewEvent,
) -> sqlx::Result<StoredEvent> {
    let mut stored = append_many(conn, now, vec![event]).await?;
    stored
        .pop()
        .ok_or_else(|| sqlx::Error::Protocol("no event was appended".into()))
}

/// Appends events in order after the current head, in the caller's transaction, with one
/// statement per [`INSERT_BATCH`] events (a sync records thousands at once).
pub async fn append_many(
    conn: &mut SqliteConnection,
    now: time::OffsetDateTime,
    events: Vec<NewEvent>,
) -> sqlx::Result<Vec<StoredEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let stored = chain(head(conn).await?, now, events);
    insert_stored(conn, &stored).await?;
    Ok(stored)
}

/// The chain's head: the last event's id and hash, or (0, the genesis hash) when it is empty.
pub(crate) async fn head(conn: &mut SqliteConnection) -> sqlx::Result<Head> {
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(head.unwrap_or((0, GENESIS_HASH.to_owned())))
}

/// The last event's id and hash: what the next event follows.
pub(crate) type Head = (i64, String);

/// Numbers and hashes `events` in order after `head`, all at `now` (nothing is written).
pub(crate) fn chain(
    head: Head,
    now: time::OffsetDateTime,
    events: Vec<NewEvent>,
) -> Vec<StoredEvent> {
    let (mut id, mut prev_hash) = head;
    let occurred_at = timestamp(now);
    let mut stored = Vec::with_capacity(events.len());
    for event in events {
        id += 1;
        let mut next = StoredEvent {
            id,
            occurred_at: occurred_at.clone(),
            actor_id: event.actor.id,
            actor_name: event.actor.name,
            client_ip: event.meta.client_ip,
            user_agent: event.meta.user_agent,
            request_id: event.meta.request_id,
            action: event.action.as_str().to_owned(),
            phone_number: event.phone_number,
            verification_id: event.verification_id,
            outcome: event.outcome.as_str().to_owned(),
            plivo_api_id: event.plivo_api_id,
            plivo_status: event.plivo_status.map(i64::from),
            details: event.details.map(|d| d.to_string()),
            prev_hash,
            hash: String::new(),
        };
        next.hash = event_hash(&next);
        prev_hash = next.hash.clone();
        stored.push(next);
    }
    stored
}

/// Writes events already numbered and hashed, [`INSERT_BATCH`] to a statement.
pub(crate) async fn insert_stored(
    conn: &mut SqliteConnection,
    events: &[StoredEvent],
) -> sqlx::Result<()> {
    for batch in events.chunks(INSERT_BATCH) {
        let mut insert =
            sqlx::QueryBuilder::new(format!("INSERT INTO audit_events ({EVENT_COLUMNS}) "));
        insert.push_values(batch, |mut row, e| {
            row.push_bind(e.id)
                .push_bind(&e.occurred_at)
                .push_bind(e.actor_id)
                .push_bind(&e.actor_name)
                .push_bind(&e.client_ip)
                .push_bind(&e.user_agent)
                .push_bind(&e.request_id)
                .push_bind(&e.action)
                .push_bind(&e.phone_number)
                .push_bind(&e.verification_id)
                .push_bind(&e.outcome)
                .push_bind(&e.plivo_api_id)
                .push_bind(e.plivo_status)
                .push_bind(&e.details)
                .push_bind(&e.prev_hash)
                .push_bind(&e.hash);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per multi-row INSERT: 16 columns × 500 stays far below SQLite's 32,766 variables.
const INSERT_BATCH: usize = 500;

/// The columns of [`StoredEvent`], in order.
pub const EVENT_COLUMNS: &str = "id, occurred_at, actor_id, actor_name, client_ip, user_agent, \
    request_id, action, phone_number, verification_id, outcome, plivo_api_id, plivo_status, \
    details, prev_hash, hash";

/// Everything that happened to a number, newest first, as lines (a request Plivo answered is
/// part of its outcome's line): the last `limit` events' lines.
pub async fn for_number(
    pool: &sqlx::SqlitePool,
    number: &str,
    limit: i64,
) -> sqlx::Result<Vec<StoredEvent>> {
    let mut conn = pool.acquire().await?;
    let events = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE phone_number = ? ORDER BY id DESC LIMIT ?"
    ))
    .bind(number)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    query::without_answered_requests(&mut conn, events).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredEvent {
        StoredEvent {
            id: 7,
            occurred_at: "2026-11-26T00:26:36.123456Z".into(),
            actor_id: Some(1),
            actor_name: "Zoë \"the admin\"".into(),
            client_ip: Some("127.0.0.1".into()),
            user_agent: None,
            request_id: Some("r-1".into()),
            action: "sign_in".into(),
            phone_number: None,
            verification_id: None,
            outcome: "succeeded".into(),
            plivo_api_id: None,
            plivo_status: None,
            details: Some(r#"{"username":"zoë"}"#.into()),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_canonical_encoding_is_compact_json_in_the_documented_order() {
        assert_eq!(
            canonical_encoding(&sample()),
            concat!(
                r#"["callerdesk-audit-v1",7,"2026-11-26T00:26:36.123456Z",1,"Zoë \"the admin\"","#,
                r#""127.0.0.1",null,"r-1","sign_in",null,null,"succeeded",null,null,"#,
                r#""{\"username\":\"zoë\"}","0000000000000000000000000000000000000000000000000000000000000000"]"#
            )
        );
    }

    #[test]
    fn any_changed_field_changes_the_hash() {
        let base = event_hash(&sample());
        let mut changed = sample();
        changed.actor_name.push(' ');
        assert_ne!(event_hash(&changed), base);
        let mut changed = sample();
        changed.prev_hash = "1".repeat(64);
        assert_ne!(event_hash(&changed), base);
        // The stored hash itself is not part of what is hashed.
        let mut changed = sample();
        changed.hash = "x".into();
        assert_eq!(event_hash(&changed), base);
    }
}
