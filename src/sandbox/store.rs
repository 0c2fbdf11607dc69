//! The sandbox's caller IDs in SQLite, and seeding many of them quickly.

use serde::Serialize;
use sqlx::{FromRow, SqlitePool};

use crate::db::Db;

/// One verified caller ID as the sandbox stores it (empty text for unset fields, as Plivo
/// answers).
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Row {
    pub alias: String,
    pub country: String,
    pub created_at: String,
    pub modified_at: String,
    pub phone_number: String,
    pub subaccount: String,
    pub verification_uuid: String,
}

const COLUMNS: &str =
    "alias, country, created_at, modified_at, phone_number, subaccount, verification_uuid";

pub async fn get(pool: &SqlitePool, number: &str) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sandbox_caller_ids WHERE phone_number = ?"
    ))
    .bind(number)
    .fetch_optional(pool)
    .await
}

/// The list filters Plivo offers; each matches exactly.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub country: Option<String>,
    pub subaccount: Option<String>,
    pub alias: Option<String>,
}

/// One page, newest first, and the total matching.
pub async fn list(
    pool: &SqlitePool,
    filters: &Filters,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Row>, i64)> {
    let condition = "(?1 IS NULL OR country = ?1) AND (?2 IS NULL OR subaccount = ?2) AND (?3 IS NULL OR alias = ?3)";
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM sandbox_caller_ids WHERE {condition}"
    ))
    .bind(&filters.country)
    .bind(&filters.subaccount)
    .bind(&filters.alias)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sandbox_caller_ids WHERE {condition} ORDER BY id DESC LIMIT ?4 OFFSET ?5"
    ))
    .bind(&filters.country)
    .bind(&filters.subaccount)
    .bind(&filters.alias)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok((rows, total))
}

/// Adds or (on re-verification) replaces a caller ID.
pub async fn upsert(db: &Db, row: &Row) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sandbox_caller_ids
             (alias, country, created_at, modified_at, phone_number, subaccount, verification_uuid)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (phone_number) DO UPDATE SET
             alias = excluded.alias, subaccount = excluded.subaccount,
             verification_uuid = excluded.verification_uuid, modified_at = excluded.modified_at",
    )
    .bind(&row.alias)
    .bind(&row.country)
    .bind(&row.created_at)
    .bind(&row.modified_at)
    .bind(&row.phone_number)
    .bind(&row.subaccount)
    .bind(&row.verification_uuid)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// Changes alias and/or subaccount; false when there is no such number.
pub async fn update(
    db: &Db,
    number: &str,
    alias: Option<&str>,
    subaccount: Option<&str>,
    now: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE sandbox_caller_ids
         SET alias = COALESCE(?, alias), subaccount = COALESCE(?, subaccount), modified_at = ?
         WHERE phone_number = ?",
    )
    .bind(alias)
    .bind(subaccount)
    .bind(now)
    .bind(number)
    .execute(&db.writer)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a caller ID; false when there was none.
pub async fn delete(db: &Db, number: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM sandbox_caller_ids WHERE phone_number = ?")
        .bind(number)
        .execute(&db.writer)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Countries seeded numbers are spread over: a prefix, and how many running digits complete a
/// number of that country's usual length (10,000 or more per country).
const SEED_PLANS: [(&str, &str, usize); 8] = [
    ("US", "+1202555", 4),
    ("GB", "+4477009", 5),
    ("CA", "+1416555", 4),
    ("AU", "+614915", 5),
    ("DE", "+4930", 7),
    ("FR", "+3361", 7),
    ("IN", "+9198", 8),
    ("BR", "+55119", 8),
];
const SEED_ALIASES: [&str; 8] = [
    "Front desk",
    "Support line",
    "Sales",
    "Billing",
    "Head office",
    "Night shift",
    "",
    "Warehouse",
];
const SEED_SUBACCOUNTS: [&str; 3] = ["", "SA2B3C4D5E6F7G8H9J0K", "SAKXQ7M2P9R4T6V8W1Y3"];

/// Makes sure `count` seeded caller IDs exist (seeding the same count twice adds nothing).
/// One multi-row statement per few hundred rows, in one transaction: 10,000 take well under a
/// second.
pub async fn seed(db: &Db, count: u32, now: &str) -> sqlx::Result<()> {
    const BATCH: u32 = 500;
    let mut tx = db.writer.begin().await?;
    let mut start = 0;
    while start < count {
        let end = (start + BATCH).min(count);
        let mut sql = String::from(
            "INSERT OR IGNORE INTO sandbox_caller_ids
                 (alias, country, created_at, modified_at, phone_number, subaccount, verification_uuid)
             VALUES ",
        );
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; (end - start) as usize];
        sql.push_str(&rows.join(","));
        let mut query = sqlx::query(&sql);
        for i in start..end {
            let (country, prefix, width) = SEED_PLANS[(i as usize) % SEED_PLANS.len()];
            let serial = i / SEED_PLANS.len() as u32;
            let alias = match SEED_ALIASES[(i as usize / 3) % SEED_ALIASES.len()] {
                "" => String::new(),
                name => format!("{name} {}", serial + 1),
            };
            let subaccount = SEED_SUBACCOUNTS[(i as usize / 7) % SEED_SUBACCOUNTS.len()];
            // Plivo leaves `country` empty for some numbers (PLIVO.md): one in ten here.
            let country = if i % 10 == 9 { "" } else { country };
            query = query
                .bind(alias)
                .bind(country)
                .bind(now)
                .bind(now)
                .bind(format!("{prefix}{serial:0width$}"))
                .bind(subaccount)
                .bind(format!("00000000-0000-4000-8000-{i:012}"));
        }
        query.execute(&mut *tx).await?;
        start = end;
    }
    tx.commit().await
}
