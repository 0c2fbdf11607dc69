//! The cache of verified caller IDs: search for the list page, one number for its page, and the
//! writes that verification, editing, deleting and the sync make.

use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::domain::PhoneNumber;

/// A cached caller ID.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct CachedCallerId {
    pub phone_number: String,
    pub alias: String,
    pub country: String,
    pub subaccount: String,
    pub verification_uuid: Option<String>,
    pub plivo_created_at: Option<String>,
    pub plivo_modified_at: Option<String>,
    pub first_seen_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub removed_at: Option<String>,
    pub verified_by_id: Option<i64>,
    pub verified_by_name: Option<String>,
    pub verified_at: Option<String>,
    pub updated_at: String,
    /// "+1 202-555-0143"; empty for rows written before it was stored.
    pub display: String,
}

const COLUMNS: &str = "phone_number, alias, country, subaccount, verification_uuid, \
    plivo_created_at, plivo_modified_at, first_seen_at, last_seen_at, removed_at, \
    verified_by_id, verified_by_name, verified_at, updated_at, display";

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Alias,
    Number,
    /// Most recently verified first.
    Verified,
}

impl Sort {
    pub fn parse(s: &str) -> Self {
        match s {
            "number" => Sort::Number,
            "verified" => Sort::Verified,
            _ => Sort::Alias,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Alias => "alias",
            Sort::Number => "number",
            Sort::Verified => "verified",
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            Sort::Alias => "alias_folded = '', alias_folded, phone_number",
            Sort::Number => "phone_number",
            Sort::Verified => {
                "COALESCE(verified_at, plivo_created_at, first_seen_at) DESC, phone_number"
            }
        }
    }
}

/// What the list page asks for.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub query: String,
    pub country: Option<String>,
    pub subaccount: Option<String>,
    pub sort: Sort,
    pub show_removed: bool,
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Search {
    fn push_conditions<'a>(&'a self, q: &mut QueryBuilder<'a, Sqlite>) {
        q.push(" WHERE 1 = 1");
        if !self.show_removed {
            q.push(" AND removed_at IS NULL");
        }
        if let Some(country) = &self.country {
            q.push(" AND country = ").push_bind(country.as_str());
        }
        if let Some(subaccount) = &self.subaccount {
            q.push(" AND subaccount = ").push_bind(subaccount.as_str());
        }
        let text = self.query.trim();
        if text.is_empty() {
            return;
        }
        let folded = format!("%{}%", like_escape(&text.to_lowercase()));
        q.push(" AND (alias_folded LIKE ")
            .push_bind(folded)
            .push(" ESCAPE '\\'");
        // A query without letters ("555 12", "(202)", "+44 7700") also matches the number's
        // digits, with or without the country code.
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() && !text.chars().any(char::is_alphabetic) {
            let national = digits.trim_start_matches('0');
            q.push(" OR digits LIKE ").push_bind(format!("%{digits}%"));
            if !national.is_empty() {
                q.push(" OR national_digits LIKE ")
                    .push_bind(format!("%{national}%"));
            }
        }
        q.push(")");
    }
}

/// One page of the search and the number of matches.
pub async fn search(
    pool: &SqlitePool,
    search: &Search,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<CachedCallerId>, i64)> {
    let total: i64 = if search.query.trim().is_empty() && !search.show_removed {
        // Only country and subaccount filters: the counts kept by triggers answer it.
        let mut count =
            QueryBuilder::new("SELECT COALESCE(SUM(current), 0) FROM caller_id_groups WHERE 1 = 1");
        if let Some(country) = &search.country {
            count.push(" AND country = ").push_bind(country.as_str());
        }
        if let Some(subaccount) = &search.subaccount {
            count
                .push(" AND subaccount = ")
                .push_bind(subaccount.as_str());
        }
        count.build_query_scalar().fetch_one(pool).await?
    } else if !search.show_removed {
        // The index holding every searched column of the current rows: counting reads it
        // alone. (SQLite's planner would pick a smaller index and then read every row.)
        let mut count = QueryBuilder::new(
            "SELECT COUNT(*) FROM caller_ids INDEXED BY caller_ids_current_by_alias",
        );
        search.push_conditions(&mut count);
        count.build_query_scalar().fetch_one(pool).await?
    } else {
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM caller_ids");
        search.push_conditions(&mut count);
        count.build_query_scalar().fetch_one(pool).await?
    };

    let mut rows = QueryBuilder::new(format!("SELECT {COLUMNS} FROM caller_ids"));
    search.push_conditions(&mut rows);
    rows.push(" ORDER BY ").push(search.sort.order_by());
    rows.push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = rows.build_query_as().fetch_all(pool).await?;
    Ok((rows, total))
}

/// Every match, in order (for the CSV export).
pub async fn search_all(pool: &SqlitePool, search: &Search) -> sqlx::Result<Vec<CachedCallerId>> {
    let mut rows = QueryBuilder::new(format!("SELECT {COLUMNS} FROM caller_ids"));
    search.push_conditions(&mut rows);
    rows.push(" ORDER BY ").push(search.sort.order_by());
    rows.build_query_as().fetch_all(pool).await
}

/// The countries and subaccounts present, for the filters.
pub async fn facets(pool: &SqlitePool) -> sqlx::Result<(Vec<String>, Vec<String>)> {
    // caller_id_groups is kept by triggers (migration 0006).
    let countries = sqlx::query_scalar(
        "SELECT DISTINCT country FROM caller_id_groups WHERE country != '' AND current > 0 ORDER BY country",
    )
    .fetch_all(pool)
    .await?;
    let subaccounts = sqlx::query_scalar(
        "SELECT DISTINCT subaccount FROM caller_id_groups WHERE subaccount != '' AND current > 0 ORDER BY subaccount",
    )
    .fetch_all(pool)
    .await?;
    Ok((countries, subaccounts))
}

/// How many caller IDs are current (not removed).
pub async fn count_current(pool: &SqlitePool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(SUM(current), 0) FROM caller_id_groups")
        .fetch_one(pool)
        .await
}

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

/// Every cached row, for the sync's comparison.
pub async fn all(conn: &mut SqliteConnection) -> sqlx::Result<Vec<CachedCallerId>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM caller_ids"))
        .fetch_all(conn)
        .await
}

/// The fields Plivo tells us about a caller ID.
#[derive(Debug, Clone, PartialEq)]
pub struct PlivoFields {
    pub alias: String,
    pub country: String,
    pub subaccount: String,
    pub verification_uuid: Option<String>,
    pub plivo_created_at: Option<String>,
    pub plivo_modified_at: Option<String>,
}

/// Adds a caller ID first seen at Plivo (by a sync), or brings back a removed one.
pub async fn upsert_seen(
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
    fields: &PlivoFields,
    now: &str,
) -> sqlx::Result<()> {
    upsert_many(conn, &[(number.clone(), fields.clone())], now).await
}

/// [`upsert_seen`] for many at once, 500 rows per statement (a sync writes thousands).
pub async fn upsert_many(
    conn: &mut SqliteConnection,
    rows: &[(PhoneNumber, PlivoFields)],
    now: &str,
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
                .push_bind(fields.plivo_created_at.clone())
                .push_bind(fields.plivo_modified_at.clone())
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
    now: &str,
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
    now: &str,
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
    now: &str,
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
pub async fn mark_seen(conn: &mut SqliteConnection, now: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE caller_ids SET last_seen_at = ? WHERE removed_at IS NULL")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }
}
