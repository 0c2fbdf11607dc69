//! Reading the log: filtered pages (newest first, keyset by id) and the rows of an export.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor, SqlitePool};
use time::OffsetDateTime;

use super::{EVENT_COLUMNS, StoredEvent};
use crate::db::Timestamp;

/// Whose events: a person by their user id, or one of the actors that are not people
/// (`system`, `anonymous`, `command line`), which have no id. Never a person by name: a name
/// can be reused or can look like one of the others.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ActorFilter {
    Person(i64),
    NotAPerson(String),
}

/// What to show. Every field narrows; all are optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Filter {
    pub actor: Option<ActorFilter>,
    /// International format, `+12025551234`.
    pub number: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// From this time, inclusive.
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Before this time, exclusive.
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

/// The ids a date range covers, found through the time index: ids grow with time, so the range
/// becomes `id BETWEEN lo AND hi` and needs no sort.
pub async fn id_range(
    conn: &mut SqliteConnection,
    filter: &Filter,
) -> sqlx::Result<Option<(i64, i64)>> {
    let lo = match filter.since {
        None => 1,
        Some(since) => {
            let first: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM audit_events WHERE occurred_at >= ? ORDER BY occurred_at, id LIMIT 1",
            )
            .bind(Timestamp::from(since))
            .fetch_optional(&mut *conn)
            .await?;
            match first {
                Some(id) => id,
                None => return Ok(Some((1, 0))),
            }
        }
    };
    let hi = match filter.until {
        None => i64::MAX,
        Some(until) => {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM audit_events WHERE occurred_at < ? ORDER BY occurred_at DESC, id DESC LIMIT 1",
            )
            .bind(Timestamp::from(until))
            .fetch_optional(&mut *conn)
            .await?;
            match last {
                Some(id) => id,
                None => return Ok(Some((1, 0))),
            }
        }
    };
    Ok(Some((lo, hi)))
}

/// Events by id, in id order (the requests a page's outcomes answer).
pub async fn by_ids(conn: &mut SqliteConnection, ids: &[i64]) -> sqlx::Result<Vec<StoredEvent>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::new(format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE id IN ("
    ));
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    q.push(") ORDER BY id");
    q.build_query_as().fetch_all(conn).await
}

/// What the audit page needs from a verification's steps to word its other lines: the
/// caller ID's name and the channel from each send, and where the wrong codes were.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VerificationStep {
    pub verification_id: String,
    pub id: i64,
    pub action: String,
    pub alias: Option<String>,
    pub channel: Option<String>,
}

/// The answered sends and the wrong codes of these verifications, in id order (through
/// `audit_events_by_verification`).
pub async fn verification_steps(
    conn: &mut SqliteConnection,
    verifications: &[String],
) -> sqlx::Result<Vec<VerificationStep>> {
    if verifications.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::new(
        "SELECT verification_id, id, action, json_extract(details, '$.alias') AS alias,
                json_extract(details, '$.channel') AS channel
         FROM audit_events
         WHERE +action IN ('verification_started', 'verification_code_rejected')
           AND +outcome <> 'requested' AND verification_id IN (",
    );
    let mut list = q.separated(", ");
    for id in verifications {
        list.push_bind(id.as_str());
    }
    // The `+` keeps SQLite off the action and outcome indexes: through them it read every
    // send in the log. Outcomes carry what their request said (the name, the channel).
    q.push(") ORDER BY id");
    q.build_query_as().fetch_all(conn).await
}

/// Events on one page of the audit log: as many as the caller ID list shows. Each event is a
/// sentence with its details and hashes; at 100 a page, rendering them put the page's p99 over
/// 20 ms under 16 connections at 1,000,000 events (BENCHMARKS.md).
pub const PAGE_SIZE: i64 = 50;

fn push_conditions<'a>(
    q: &mut QueryBuilder<'a, Sqlite>,
    filter: &'a Filter,
    range: Option<(i64, i64)>,
) {
    q.push(" WHERE 1 = 1");
    match &filter.actor {
        Some(ActorFilter::Person(id)) => {
            q.push(" AND actor_id = ").push_bind(*id);
        }
        Some(ActorFilter::NotAPerson(name)) => {
            q.push(" AND actor_id IS NULL AND actor_name = ")
                .push_bind(name.as_str());
        }
        None => {}
    }
    if let Some(number) = &filter.number {
        q.push(" AND phone_number = ").push_bind(number.as_str());
    }
    if let Some(action) = &filter.action {
        q.push(" AND action = ").push_bind(action.as_str());
    }
    if let Some(outcome) = &filter.outcome {
        q.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if let Some((lo, hi)) = range {
        if lo > 1 || hi < i64::MAX {
            q.push(" AND id BETWEEN ")
                .push_bind(lo)
                .push(" AND ")
                .push_bind(hi);
        }
    }
}

/// The SQL and binds of a page query, for `EXPLAIN QUERY PLAN` in tests.
pub fn page_sql(
    filter: &Filter,
    range: Option<(i64, i64)>,
    before: Option<i64>,
    limit: usize,
) -> QueryBuilder<'_, Sqlite> {
    let mut q = QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM audit_events"));
    push_conditions(&mut q, filter, range);
    if let Some(before) = before {
        q.push(" AND id < ").push_bind(before);
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::try_from(limit).unwrap_or(PAGE_SIZE));
    q
}

/// One page of lines: up to [`PAGE_SIZE`] events matching `filter`, newest first, older than
/// `before` if given, without the requests Plivo answered; and the id to read on from, if there
/// are older ones. A request Plivo answered has no line of its own (it is part of its outcome's),
/// so such requests are left out in Rust and more is read until the page is full: checked in
/// SQL, the correlated lookup made SQLite sort every match instead of reading the index in
/// order.
pub async fn page(
    conn: &mut SqliteConnection,
    filter: &Filter,
    before: Option<i64>,
) -> sqlx::Result<(Vec<StoredEvent>, Option<i64>)> {
    let range = id_range(conn, filter).await?;
    let page_size = usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
    let mut lines: Vec<StoredEvent> = Vec::with_capacity(page_size);
    let mut from = before;
    let mut more = true;
    // A page's worth and half as much again first (a request and its answer share a line, so
    // real logs hide about one event in five), then twice what is missing (at least ten) until
    // it is full. Reading a few rows more costs less than a second query.
    let mut batch = page_size + page_size / 2;
    while more && lines.len() < page_size {
        let read: Vec<StoredEvent> = page_sql(filter, range, from, batch)
            .build_query_as()
            .fetch_all(&mut *conn)
            .await?;
        more = read.len() == batch;
        from = read.last().map(|e| e.id);
        lines.extend(without_answered_requests(conn, read).await?);
        batch = (page_size.saturating_sub(lines.len()) * 2).max(10);
    }
    let more = more || lines.len() > page_size;
    lines.truncate(page_size);
    let older = more.then(|| lines.last().map(|e| e.id)).flatten();
    Ok((lines, older))
}

/// `events` without the requests an outcome answers (those are part of the outcome's line).
pub async fn without_answered_requests(
    conn: &mut SqliteConnection,
    events: Vec<StoredEvent>,
) -> sqlx::Result<Vec<StoredEvent>> {
    let requests: Vec<i64> = events
        .iter()
        .filter(|e| e.outcome == "requested")
        .map(|e| e.id)
        .collect();
    let answered: std::collections::HashSet<i64> =
        answered(&mut *conn, &requests).await?.into_iter().collect();
    Ok(events
        .into_iter()
        .filter(|e| !answered.contains(&e.id))
        .collect())
}

/// Counting stops here: past it the page says "more than", so a broad filter over a long log
/// costs a bounded read.
pub const COUNT_CAP: i64 = 10_000;

/// How many events match `filter`: exact up to [`COUNT_CAP`], `None` beyond it. With no filter
/// it is the last id (ids run 1, 2, 3… without gaps), however long the log.
pub async fn count(conn: &mut SqliteConnection, filter: &Filter) -> sqlx::Result<Option<i64>> {
    if *filter == Filter::default() {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM audit_events")
            .fetch_one(&mut *conn)
            .await?;
        return Ok(Some(last.unwrap_or(0)));
    }
    let range = id_range(conn, filter).await?;
    let mut q = QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM audit_events");
    push_conditions(&mut q, filter, range);
    q.push(" LIMIT ").push_bind(COUNT_CAP + 1).push(")");
    let counted: i64 = q.build_query_scalar().fetch_one(conn).await?;
    Ok((counted <= COUNT_CAP).then_some(counted))
}

/// The export query: the events matching `filter`, oldest first (chain order).
pub async fn export_sql<'a>(
    pool: &SqlitePool,
    filter: &'a Filter,
) -> sqlx::Result<QueryBuilder<'a, Sqlite>> {
    let range = id_range(&mut *pool.acquire().await?, filter).await?;
    let mut q = QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM audit_events"));
    push_conditions(&mut q, filter, range);
    q.push(" ORDER BY id");
    Ok(q)
}

/// Which of these `requested` events have an outcome event.
pub async fn answered(db: impl SqliteExecutor<'_>, requests: &[i64]) -> sqlx::Result<Vec<i64>> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::new(
        "SELECT DISTINCT json_extract(details, '$.request') FROM audit_events
         WHERE json_extract(details, '$.request') IS NOT NULL AND json_extract(details, '$.request') IN (",
    );
    let mut list = q.separated(", ");
    for id in requests {
        list.push_bind(*id);
    }
    q.push(")");
    q.build_query_scalar().fetch_all(db).await
}

/// `requested` events older than `before` (and newer than `since`) with no outcome yet.
pub async fn unanswered(
    pool: &SqlitePool,
    since: OffsetDateTime,
    before: OffsetDateTime,
) -> sqlx::Result<Vec<StoredEvent>> {
    sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events r
         WHERE r.outcome = 'requested' AND r.occurred_at >= ? AND r.occurred_at < ?
           AND NOT EXISTS (SELECT 1 FROM audit_events o
                           WHERE json_extract(o.details, '$.request') = +r.id)
         ORDER BY r.id"
    ))
    .bind(Timestamp::from(since))
    .bind(Timestamp::from(before))
    .fetch_all(pool)
    .await
}
