//! Generating a long, valid audit log quickly, for tests and benchmarks: realistic events with
//! a correct hash chain, written in large transactions.

use sqlx::SqlitePool;
use time::{Duration, OffsetDateTime};

use super::{GENESIS_HASH, StoredEvent, event_hash};
use crate::db::timestamp;

const ACTORS: [&str; 5] = ["olive", "otis", "ada", "system", "ivy"];
const ACTIONS: [(&str, &str); 6] = [
    ("verification_started", "requested"),
    ("verification_started", "succeeded"),
    ("verification_completed", "succeeded"),
    ("sign_in", "succeeded"),
    ("caller_id_updated", "succeeded"),
    ("caller_id_added_at_plivo", "succeeded"),
];

/// Appends `count` made-up events after the current head, spaced `step` apart and ending near
/// `end`. Uses the writer pool; returns the new head's id. Every event stands on its own: each
/// shows as a line of the audit page.
pub async fn generate(
    pool: &SqlitePool,
    count: u64,
    end: OffsetDateTime,
    step: Duration,
) -> sqlx::Result<i64> {
    write(pool, count, end, step, false).await
}

/// The same, with each sent code's outcome naming its request (`details.request`), as real
/// logs have them: the page shows the pair as one line, hiding the answered request (the
/// benchmark's log, `callerdesk generate --audit-events`).
pub async fn generate_answered(
    pool: &SqlitePool,
    count: u64,
    end: OffsetDateTime,
    step: Duration,
) -> sqlx::Result<i64> {
    write(pool, count, end, step, true).await
}

async fn write(
    pool: &SqlitePool,
    count: u64,
    end: OffsetDateTime,
    step: Duration,
    answered: bool,
) -> sqlx::Result<i64> {
    const BATCH: u64 = 5_000;
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1")
            .fetch_optional(pool)
            .await?;
    let (mut id, mut prev) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
    let start = end - step * i32::try_from(count).unwrap_or(i32::MAX);
    let mut written = 0u64;
    while written < count {
        let mut tx = pool.begin().await?;
        let mut batch = Vec::new();
        for _ in 0..BATCH.min(count - written) {
            id += 1;
            let n = usize::try_from(written).unwrap_or(0);
            let (action, outcome) = ACTIONS[n % ACTIONS.len()];
            // An outcome right after its request (`ACTIONS` lists them in that order) names it,
            // and is by the same person about the same number.
            let pair = answered && (action, outcome) == ("verification_started", "succeeded");
            let m = n - usize::from(pair);
            let actor = ACTORS[(m / 7) % ACTORS.len()];
            let number = format!("+1202555{:04}", m % 10_000);
            let mut event = StoredEvent {
                id,
                occurred_at: timestamp(start + step * i32::try_from(written).unwrap_or(i32::MAX)),
                actor_id: (actor != "system").then_some(1 + (m as i64 % 4)),
                actor_name: actor.to_owned(),
                client_ip: (actor != "system").then(|| "192.0.2.10".to_owned()),
                user_agent: (actor != "system").then(|| "Mozilla/5.0 (sample)".to_owned()),
                request_id: Some(format!("sample-{id}")),
                action: action.to_owned(),
                phone_number: (action != "sign_in").then_some(number),
                verification_id: action
                    .starts_with("verification")
                    .then(|| format!("sample{:08}", n / 3)),
                outcome: outcome.to_owned(),
                plivo_api_id: (outcome == "succeeded" && action != "sign_in")
                    .then(|| format!("api-{id}")),
                plivo_status: None,
                details: Some(if pair {
                    format!("{{\"n\":{n},\"request\":{}}}", id - 1)
                } else {
                    format!("{{\"n\":{n}}}")
                }),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            event.hash = event_hash(&event);
            prev = event.hash.clone();
            batch.push(event);
            written += 1;
        }
        super::insert_stored(&mut tx, &batch).await?;
        tx.commit().await?;
    }
    Ok(id)
}

/// What [`measure_append`] found.
#[derive(Debug)]
pub struct AppendFigures {
    pub events: u64,
    pub writers: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Group commits (fsyncs) the appends took.
    pub groups: u64,
}

impl std::fmt::Display for AppendFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "appended {} events from {} concurrent writers in {:.2} s: {:.0} events/s; \
             each append (its own write, committed) took p50 {:.2} ms, p99 {:.2} ms; {} group commits",
            self.events,
            self.writers,
            self.seconds,
            self.events as f64 / self.seconds.max(f64::EPSILON),
            self.p50_ms,
            self.p99_ms,
            self.groups
        )
    }
}

/// Appends `events` events from `writers` concurrent tasks, each its own write committed (with
/// others waiting beside it) before the next, as requests do; times every append.
pub async fn measure_append(
    db: &crate::db::Db,
    events: u64,
    writers: u64,
    now: OffsetDateTime,
) -> sqlx::Result<AppendFigures> {
    use super::{Action, Actor, NewEvent, Outcome, RequestMeta};
    let writers = writers.max(1);
    let groups_before = db.groups_committed();
    let began = std::time::Instant::now();
    let tasks = (0..writers).map(|w| {
        let db = db.clone();
        let share = events / writers + u64::from(w < events % writers);
        tokio::spawn(async move {
            let meta = RequestMeta {
                client_ip: Some("127.0.0.1".into()),
                user_agent: Some("bench".into()),
                request_id: None,
            };
            let mut took = Vec::with_capacity(usize::try_from(share).unwrap_or(0));
            for _ in 0..share {
                let start = std::time::Instant::now();
                // As a request writes: in the next group commit, answered once it is on disk.
                let event = NewEvent::new(
                    Actor::user(1, "bench"),
                    &meta,
                    Action::CallerIdUpdated,
                    Outcome::Succeeded,
                )
                .with_number("+12025550143");
                db.append(now, event).await?;
                took.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, sqlx::Error>(took)
        })
    });
    let mut all = Vec::new();
    for task in futures_util::future::join_all(tasks).await {
        all.extend(task.map_err(|e| sqlx::Error::Protocol(e.to_string()))??);
    }
    let seconds = began.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((all.len() as f64 * q).ceil() as usize).saturating_sub(1);
        all.get(i).copied().unwrap_or_default()
    };
    Ok(AppendFigures {
        events,
        writers,
        seconds,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        groups: db.groups_committed() - groups_before,
    })
}
