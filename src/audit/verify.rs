//! Checking the chain: every event's `prev_hash` is the hash of the one before, and every hash
//! matches the event's canonical encoding. Checks can start from a position (the last event
//! already checked), so a page showing the chain's status only reads what is new.

use futures_util::TryStreamExt;
use sqlx::{SqliteExecutor, SqlitePool};

use super::{EVENT_COLUMNS, GENESIS_HASH, StoredEvent, event_hash};

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

/// Where a check got to: the last event checked and its hash, and how many were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub last_id: i64,
    pub last_hash: String,
    pub events: u64,
}

impl Default for Position {
    fn default() -> Self {
        Self {
            last_id: 0,
            last_hash: GENESIS_HASH.to_owned(),
            events: 0,
        }
    }
}

/// Checks the events after `from`, streaming them in order so memory stays flat however long
/// the log is. Returns the status and the new position (unchanged from `from` if broken).
pub async fn verify_from(
    db: impl SqliteExecutor<'_>,
    from: &Position,
) -> sqlx::Result<(ChainStatus, Position)> {
    let query = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE id > ? ORDER BY id");
    let mut rows = sqlx::query_as::<_, StoredEvent>(&query)
        .bind(from.last_id)
        .fetch(db);
    let mut at = from.clone();
    while let Some(event) = rows.try_next().await? {
        let broken = if event.prev_hash != at.last_hash {
            Some(
                "its previous-event hash does not match the event before it (an event was removed or altered)",
            )
        } else if event_hash(&event) != event.hash {
            Some("its contents do not match its hash (the event was altered)")
        } else {
            None
        };
        if let Some(reason) = broken {
            return Ok((
                ChainStatus::Broken {
                    event_id: event.id,
                    reason: reason.into(),
                },
                from.clone(),
            ));
        }
        at = Position {
            last_id: event.id,
            last_hash: event.hash,
            events: at.events + 1,
        };
    }
    Ok((ChainStatus::Intact { events: at.events }, at))
}

/// Checks every event.
pub async fn verify_chain(pool: &SqlitePool) -> sqlx::Result<ChainStatus> {
    Ok(verify_from(pool, &Position::default()).await?.0)
}
