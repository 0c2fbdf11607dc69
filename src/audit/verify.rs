//! Checking the chain: every event's `prev_hash` is the hash of the one before, and every hash
//! matches the event's canonical encoding.

use futures_util::TryStreamExt;
use sqlx::SqlitePool;

use super::{GENESIS_HASH, StoredEvent, event_hash};

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStatus {
    /// Every event checks out.
    Intact { events: u64 },
    /// The first event that does not.
    Broken { event_id: i64, reason: String },
}

impl std::fmt::Display for ChainStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainStatus::Intact { events } => write!(f, "intact, {events} events"),
            ChainStatus::Broken { event_id, reason } => {
                write!(f, "broken at event {event_id}: {reason}")
            }
        }
    }
}

/// Checks every event, streaming them in order so memory stays flat however long the log is.
pub async fn verify_chain(pool: &SqlitePool) -> sqlx::Result<ChainStatus> {
    let mut rows = sqlx::query_as::<_, StoredEvent>(
        "SELECT id, occurred_at, actor_id, actor_name, client_ip, user_agent, request_id, action,
                phone_number, verification_id, outcome, plivo_api_id, plivo_status, details,
                prev_hash, hash
         FROM audit_events ORDER BY id",
    )
    .fetch(pool);
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut count = 0u64;
    while let Some(event) = rows.try_next().await? {
        if event.prev_hash != expected_prev {
            return Ok(ChainStatus::Broken {
                event_id: event.id,
                reason: "its previous-event hash does not match the event before it (an event \
                         was removed or altered)"
                    .into(),
            });
        }
        if event_hash(&event) != event.hash {
            return Ok(ChainStatus::Broken {
                event_id: event.id,
                reason: "its contents do not match its hash (the event was altered)".into(),
            });
        }
        expected_prev = event.hash;
        count += 1;
    }
    Ok(ChainStatus::Intact { events: count })
}
