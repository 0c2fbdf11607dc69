//! Searching the cache of caller IDs for the list page: the filters, the order, and the plan
//! that picks how to answer a search (the trigram index, or reading rows in the page's
//! order) by what it costs.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor, SqlitePool};

use super::caller_ids::{COLUMNS, CachedCallerId};

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

/// How many caller IDs are current, as a scalar subquery: `caller_id_groups` keeps the counts
/// by triggers (migration 0006).
pub const CURRENT_COUNT: &str = "(SELECT COALESCE(SUM(current), 0) FROM caller_id_groups)";

/// The columns a search looks in (all of them indexed by `caller_ids_search`).
const SEARCHED_COLUMNS: usize = 3;

/// What a search looks for: the text in the name, and (for a query without letters, such as
/// "555 12", "(202)" or "+44 7700") its digits in the number, with or without the country code.
struct Needles {
    alias: String,
    digits: Option<String>,
    national: Option<String>,
}

impl Needles {
    fn of(query: &str) -> Option<Self> {
        let text = query.trim();
        if text.is_empty() {
            return None;
        }
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let numeric = !digits.is_empty() && !text.chars().any(char::is_alphabetic);
        let national = digits.trim_start_matches('0').to_owned();
        Some(Self {
            alias: text.to_lowercase(),
            digits: numeric.then_some(digits),
            national: (numeric && !national.is_empty()).then_some(national),
        })
    }

    /// Each column with its needle, for the columns this search looks in.
    fn all(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("alias_folded", Some(self.alias.as_str())),
            ("digits", self.digits.as_deref()),
            ("national_digits", self.national.as_deref()),
        ]
        .into_iter()
        .filter_map(|(column, needle)| Some((column, needle?)))
    }

    /// The same search as an FTS5 query for the trigram index, which finds substrings of three
    /// characters or more: `None` when a needle is shorter. Needles with the same text become
    /// one phrase over their columns ("555" is looked up once, not once per column).
    fn trigram_query(&self) -> Option<String> {
        let mut phrases: Vec<(&str, Vec<&str>)> = Vec::new();
        for (column, needle) in self.all() {
            if needle.chars().count() < 3 {
                return None;
            }
            match phrases.iter_mut().find(|(text, _)| *text == needle) {
                Some((_, columns)) => columns.push(column),
                None => phrases.push((needle, vec![column])),
            }
        }
        let terms: Vec<String> = phrases
            .into_iter()
            .map(|(text, columns)| {
                let phrase = format!("\"{}\"", text.replace('"', "\"\""));
                if columns.len() == SEARCHED_COLUMNS {
                    phrase
                } else {
                    format!("{{{}}} : {phrase}", columns.join(" "))
                }
            })
            .collect();
        Some(terms.join(" OR "))
    }
}

/// How a search finds the rows whose text matches.
#[derive(Clone, Copy)]
enum TextBy<'a> {
    /// `LIKE` on each row, which can stop early when reading in the page's order.
    Like,
    /// The trigram index, with this FTS5 query.
    Index(&'a str),
}

impl Search {
    /// The FTS5 query when the trigram index can answer this search: it holds the current rows
    /// only.
    fn trigram_query(&self) -> Option<String> {
        if self.show_removed {
            return None;
        }
        Needles::of(&self.query)?.trigram_query()
    }

    fn push_conditions<'a>(&'a self, q: &mut QueryBuilder<'a, Sqlite>, text_by: TextBy<'a>) {
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
        let Some(needles) = Needles::of(&self.query) else {
            return;
        };
        if let TextBy::Index(matches) = text_by {
            q.push(
                " AND id IN (SELECT rowid FROM caller_ids_search WHERE caller_ids_search MATCH ",
            )
            .push_bind(matches)
            .push(")");
            return;
        }
        let mut separator = " AND (";
        for (column, needle) in needles.all() {
            q.push(separator)
                .push(column)
                .push(" LIKE ")
                .push_bind(format!("%{}%", like_escape(needle)))
                .push(" ESCAPE '\\'");
            separator = " OR ";
        }
        q.push(")");
    }
}

/// One page of the search and the number of matches.
pub async fn search(
    conn: &mut SqliteConnection,
    search: &Search,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<CachedCallerId>, i64)> {
    let trigram = search.trigram_query();
    let mut rows_by = TextBy::Like;
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
        count.build_query_scalar().fetch_one(&mut *conn).await?
    } else if let Some(matches) = trigram.as_deref() {
        let (total, current): (i64, i64) =
            if search.country.is_none() && search.subaccount.is_none() {
                // The trigram index holds exactly the current rows: it counts alone.
                sqlx::query_as(&format!(
                    "SELECT COUNT(*), {CURRENT_COUNT}
                     FROM caller_ids_search WHERE caller_ids_search MATCH ?"
                ))
                .bind(matches)
                .fetch_one(&mut *conn)
                .await?
            } else {
                let mut count =
                    QueryBuilder::new(format!("SELECT COUNT(*), {CURRENT_COUNT} FROM caller_ids"));
                search.push_conditions(&mut count, TextBy::Index(matches));
                count.build_query_as().fetch_one(&mut *conn).await?
            };
        // The page's rows: reading the rows in the page's order and testing each stops once
        // the page is full, which wins when matches are dense; fetching the matches from the
        // index and sorting them wins when they are few. Reading about `current / total` rows
        // per match shown costs about a tenth of fetching and sorting one match (measured
        // with 10,000 caller IDs).
        let read = i128::from(offset + limit) * i128::from(current);
        if read >= 10 * i128::from(total) * i128::from(total) {
            rows_by = TextBy::Index(matches);
        }
        total
    } else if !search.show_removed {
        // The index holding every searched column of the current rows: counting reads it
        // alone. (SQLite's planner would pick a smaller index and then read every row.)
        let mut count = QueryBuilder::new(
            "SELECT COUNT(*) FROM caller_ids INDEXED BY caller_ids_current_by_alias",
        );
        search.push_conditions(&mut count, TextBy::Like);
        count.build_query_scalar().fetch_one(&mut *conn).await?
    } else {
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM caller_ids");
        search.push_conditions(&mut count, TextBy::Like);
        count.build_query_scalar().fetch_one(&mut *conn).await?
    };

    let mut rows = QueryBuilder::new(format!("SELECT {COLUMNS} FROM caller_ids"));
    search.push_conditions(&mut rows, rows_by);
    rows.push(" ORDER BY ").push(search.sort.order_by());
    rows.push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = rows.build_query_as().fetch_all(&mut *conn).await?;
    Ok((rows, total))
}

/// Every match, in order (for the CSV export).
pub async fn search_all(pool: &SqlitePool, search: &Search) -> sqlx::Result<Vec<CachedCallerId>> {
    let mut rows = QueryBuilder::new(format!("SELECT {COLUMNS} FROM caller_ids"));
    search.push_conditions(&mut rows, TextBy::Like);
    rows.push(" ORDER BY ").push(search.sort.order_by());
    rows.build_query_as().fetch_all(pool).await
}

/// The countries and subaccounts present, for the filters; each subaccount with its name when
/// Plivo gave it one.
pub async fn facets(db: impl SqliteExecutor<'_>) -> sqlx::Result<Facets> {
    // caller_id_groups is kept by triggers (migration 0006).
    let rows: Vec<(bool, String, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT 1, country, NULL FROM caller_id_groups WHERE country != '' AND current > 0
         UNION ALL
         SELECT 0, g.subaccount, NULLIF(s.name, '') FROM
             (SELECT DISTINCT subaccount FROM caller_id_groups WHERE subaccount != '' AND current > 0) g
             LEFT JOIN subaccounts s ON s.auth_id = g.subaccount
         ORDER BY 1, 3, 2",
    )
    .fetch_all(db)
    .await?;
    let mut facets = Facets::default();
    for (is_country, value, name) in rows {
        if is_country {
            facets.countries.push(value);
        } else {
            let label = name.unwrap_or_else(|| value.clone());
            facets.subaccounts.push((value, label));
        }
    }
    Ok(facets)
}

/// What the list's filters offer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facets {
    pub countries: Vec<String>,
    /// `(id, what to show)`
    pub subaccounts: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        db::caller_ids::{PlivoFields, mark_removed, update_fields, upsert_many},
        domain::PhoneNumber,
    };

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn searches_become_trigram_queries_only_when_every_needle_is_long_enough() {
        let query = |q: &str| Needles::of(q).and_then(|n| n.trigram_query());
        assert_eq!(query("555").as_deref(), Some(r#""555""#));
        assert_eq!(
            query("(202)").as_deref(),
            Some(r#"{alias_folded} : "(202)" OR {digits national_digits} : "202""#)
        );
        assert_eq!(
            query("Front \"Desk\"").as_deref(),
            Some(r#"{alias_folded} : "front ""desk""""#)
        );
        assert_eq!(query("ab"), None);
        assert_eq!(query("+44"), None, "44 is too short for the digits");
        assert_eq!(query("  "), None);
    }

    /// The numbers a search finds with its text matched one way, in the page's order.
    async fn found(db: &crate::db::Db, search: &Search, text_by: TextBy<'_>) -> Vec<String> {
        let mut q = QueryBuilder::new("SELECT phone_number FROM caller_ids");
        search.push_conditions(&mut q, text_by);
        q.push(" ORDER BY ").push(search.sort.order_by());
        q.build_query_scalar().fetch_all(&db.reader).await.unwrap()
    }

    /// The trigram index must find exactly what testing every row finds, after the triggers
    /// have seen inserts, renames, removals and returns; and `search` must give the same page
    /// and count whichever way it reads the rows.
    #[tokio::test]
    async fn the_trigram_index_finds_what_reading_every_row_finds() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).await.unwrap();
        let names = [
            "Front desk",
            "Billing",
            "Café Ünïcode",
            "50% off",
            "",
            "Night \"shift\"",
        ];
        let countries = [("+1202555", "US"), ("+4420794", "GB"), ("+3361000", "FR")];
        let mut rows = Vec::new();
        for i in 0..240_usize {
            let (prefix, country) = countries[i % 3];
            let number = PhoneNumber::from_e164(&format!("{prefix}{i:04}")).unwrap();
            let fields = PlivoFields {
                alias: format!("{} {i}", names[i % names.len()]).trim().to_owned(),
                country: country.into(),
                subaccount: String::new(),
                verification_uuid: None,
                plivo_created_at: None,
                plivo_modified_at: None,
            };
            rows.push((number, fields));
        }
        let now = crate::db::Timestamp::parse("2026-11-26T00:00:00.000000Z").unwrap();
        let mut w = db.writer.acquire().await.unwrap();
        upsert_many(&mut w, &rows, now).await.unwrap();
        for (number, _) in rows.iter().step_by(7) {
            update_fields(&mut w, number.as_str(), "Renamed desk", "", now)
                .await
                .unwrap();
        }
        for (number, _) in rows.iter().step_by(5) {
            mark_removed(&mut w, number.as_str(), now).await.unwrap();
        }
        // A sync brings some back, unchanged or with a new name.
        let back: Vec<_> = rows.iter().step_by(10).cloned().collect();
        upsert_many(&mut w, &back, now).await.unwrap();
        drop(w);

        for query in [
            "desk",
            "555",
            "7946",
            "DESK",
            "renamed",
            "café",
            "ünïcode",
            "50%",
            "shift\"",
            "555 0",
            "(202)",
            "020 7946",
            "+44",
            "0001",
            "desk 1",
            "nothing like it",
            "12",
            "ca",
        ] {
            for country in [None, Some("GB".to_owned())] {
                let search = Search {
                    query: query.into(),
                    country,
                    ..Search::default()
                };
                let by_rows = found(&db, &search, TextBy::Like).await;
                if let Some(matches) = search.trigram_query() {
                    let by_index = found(&db, &search, TextBy::Index(&matches)).await;
                    assert_eq!(by_index, by_rows, "{query:?}");
                }
                let total = i64::try_from(by_rows.len()).unwrap();
                for offset in [0, 50] {
                    let mut conn = db.reader.acquire().await.unwrap();
                    let (page, count) =
                        super::search(&mut conn, &search, 50, offset).await.unwrap();
                    assert_eq!(count, total, "{query:?}");
                    let numbers: Vec<_> = page
                        .into_iter()
                        .map(|r| r.phone_number.as_str().to_owned())
                        .collect();
                    let expected: Vec<_> = by_rows
                        .iter()
                        .skip(offset as usize)
                        .take(50)
                        .cloned()
                        .collect();
                    assert_eq!(numbers, expected, "{query:?} from {offset}");
                }
            }
        }
        let with_removed = Search {
            query: "desk".into(),
            show_removed: true,
            ..Search::default()
        };
        assert!(with_removed.trigram_query().is_none());
        db.close().await;
    }
}
