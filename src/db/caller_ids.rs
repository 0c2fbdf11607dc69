//! The cache of verified caller IDs: its rows, one number for its page, and the writes that
//! verification, editing, deleting and the sync make. (Searching it is `caller_id_search`.)

use sqlx::{FromRow, QueryBuilder, SqliteConnection};

use super::Timestamp;
use crate::domain::PhoneNumber;

/// A cached caller ID.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct CachedCallerId {
    pub phone_number: PhoneNumber,
    pub alias: String,
    pub country: String,
    pub subaccount: String,
    pub verification_uuid: Option<String>,
    pub plivo_created_at: Option<Timestamp>,
    pub plivo_modified_at: Option<Timestamp>,
    pub first_seen_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
    pub removed_at: Option<Timestamp>,
    pub verified_by_id: Option<i64>,
    pub verified_by_name: Option<String>,
    pub verified_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// "+1 202-555-0143"; empty for rows written before it was stored.
    pub display: String,
}

pub(super) const COLUMNS: &str = "phone_number, alias, country, subaccount, verification_uuid, \
    plivo_created_at, plivo_modified_at, first_seen_at, last_seen_at, removed_at, \
    verified_by_id, verified_by_name, verified_at, updated_at, display";

pub async fn by_number(
    conn: impl sqlx::SqliteExecutor<'_>,
    number: &str,
) -> sqlx::Result<Option<CachedCallerId>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM caller_ids WHERE phone_number = ?"
    ))
    .bind(number)
    .fetch_optional(conn)
    .await
}

/// The rows of these numbers (those that have one).
pub async fn by_numbers(
    conn: &mut SqliteConnection,
    numbers: &[&PhoneNumber],
) -> sqlx::Result<Vec<CachedCallerId>> {
    let mut rows = Vec::with_capacity(numbers.len());
    for chunk in numbers.chunks(500) {
        let mut q = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM caller_ids WHERE phone_number IN ("
        ));
        let mut list = q.separated(", ");
        for number in chunk {
            list.push_bind(number.as_str());
        }
        q.push(")");
        rows.extend(q.build_query_as().fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// Every current (not removed) caller ID.
pub async fn current(db: impl sqlx::SqliteExecutor<'_>) -> sqlx::Result<Vec<CachedCallerId>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM caller_ids WHERE removed_at IS NULL"
    ))
    .fetch_all(db)
    .await
}

/// The fields Plivo tells us about a caller ID.
#[derive(Debug, Clone, PartialEq)]
pub struct PlivoFields {
    pub alias: String,
    pub country: String,
    pub subaccount: String,
    pub verification_uuid: Option<String>,
    pub plivo_created_at: Option<Timestamp>,
    pub plivo_modified_at: Option<Timestamp>,
}

/// Adds a caller ID first seen at Plivo (by a sync), or brings back a removed one.
pub async fn upsert_seen(
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
    fields: &PlivoFields,
    now: Timestamp,
) -> sqlx::Result<()> {
    upsert_many(conn, &[(number.clone(), fields.clone())], now).await
}

/// [`upsert_seen`] for many at once, 500 rows per statement (a sync writes thousands).
pub async fn upsert_many(
    conn: &mut SqliteConnection,
    rows: &[(PhoneNumber, PlivoFields)],
    now: Timestamp,
) -> sqlx::Result<()> {
    for batch in rows.chunks(500) {
        let mut upsert = QueryBuilder::new(
            "INSERT INTO caller_ids (phone_number, digits, national_digits, alias, alias_folded,
                 country, subaccount, verification_uuid, plivo_created_at, plivo_modified_at,
                 first_seen_at, last_seen_at, updated_at, display) ",
        );
        upsert.push_values(batch, |mut row, (number, fields)| {
            row.push_bind(number.as_str().to_owned())
                .push_bind(number.digits())
                .push_bind(number.national_digits())
                .push_bind(fields.alias.clone())
                .push_bind(fields.alias.to_lowercase())
                .push_bind(fields.country.clone())
                .push_bind(fields.subaccount.clone())
                .push_bind(fields.verification_uuid.clone())
                .push_bind(fields.plivo_created_at)
                .push_bind(fields.plivo_modified_at)
                .push_bind(now.to_owned())
                .push_bind(now.to_owned())
                .push_bind(now.to_owned())
                .push_bind(number.international());
        });
        upsert.push(
            " ON CONFLICT (phone_number) DO UPDATE SET
                 display = excluded.display,
                 alias = excluded.alias, alias_folded = excluded.alias_folded,
                 country = excluded.country, subaccount = excluded.subaccount,
                 verification_uuid = excluded.verification_uuid,
                 plivo_created_at = excluded.plivo_created_at,
                 plivo_modified_at = excluded.plivo_modified_at,
                 last_seen_at = excluded.last_seen_at, removed_at = NULL,
                 updated_at = excluded.updated_at",
        );
        upsert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records that a number was verified here, by whom (the row is added or brought back).
pub async fn record_verified(
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
    fields: &PlivoFields,
    by_id: i64,
    by_name: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    upsert_seen(conn, number, fields, now).await?;
    sqlx::query(
        "UPDATE caller_ids SET verified_by_id = ?, verified_by_name = ?, verified_at = ?
         WHERE phone_number = ?",
    )
    .bind(by_id)
    .bind(by_name)
    .bind(now)
    .bind(number.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Changes alias and subaccount after Plivo accepted the change.
pub async fn update_fields(
    conn: &mut SqliteConnection,
    number: &str,
    alias: &str,
    subaccount: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE caller_ids SET alias = ?, alias_folded = ?, subaccount = ?, updated_at = ?
         WHERE phone_number = ?",
    )
    .bind(alias)
    .bind(alias.to_lowercase())
    .bind(subaccount)
    .bind(now)
    .bind(number)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a caller ID removed (kept for its history).
pub async fn mark_removed(
    conn: &mut SqliteConnection,
    number: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE caller_ids SET removed_at = ?, updated_at = ? WHERE phone_number = ?")
        .bind(now)
        .bind(now)
        .bind(number)
        .execute(conn)
        .await?;
    Ok(())
}

/// Notes that a sync saw these (current) numbers.
pub async fn mark_seen(conn: &mut SqliteConnection, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE caller_ids SET last_seen_at = ? WHERE removed_at IS NULL")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
