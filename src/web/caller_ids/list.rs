//! `GET /`: the caller ID list, searched as you type; `GET /caller-ids.csv`: the same rows as CSV
//! (a download the audit log records).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Query, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;
use sqlx::SqliteConnection;

use super::CallerIdView;
use crate::{
    audit::{Action, NewEvent, Outcome},
    db::{
        caller_id_search::{self, Facets, Search, Sort},
        subaccounts::SubaccountNames,
        verifications,
    },
    domain::Permission,
    spreadsheet,
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        format::{When, thousands},
        htmx::{Htmx, PageOr},
        layout::{Chrome, Nav},
        state::AppState,
        sync::SyncStatus,
    },
};

pub const PER_PAGE: i64 = 50;

/// The list's query string. Everything is optional and read leniently: a bookmark with an odd
/// value still shows a list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub subaccount: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub removed: String,
    #[serde(default)]
    pub page: String,
}

impl ListParams {
    fn search(&self) -> Search {
        let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Search {
            query: self.q.chars().take(100).collect(),
            country: non_empty(&self.country),
            subaccount: non_empty(&self.subaccount),
            sort: Sort::parse(&self.sort),
            show_removed: !self.removed.is_empty(),
        }
    }

    /// The page asked for, at least 1 and small enough that its offset can't overflow.
    fn page(&self) -> i64 {
        self.page
            .trim()
            .parse::<i64>()
            .unwrap_or(1)
            .clamp(1, i64::MAX / PER_PAGE)
    }

    /// The query string for these parameters with another page.
    pub fn query_for_page(&self, page: i64) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("q", self.q.as_str()),
            ("country", self.country.as_str()),
            ("subaccount", self.subaccount.as_str()),
            ("sort", self.sort.as_str()),
            ("removed", self.removed.as_str()),
        ] {
            if !value.is_empty() {
                q.append_pair(key, value);
            }
        }
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        q.finish()
    }
}

/// A link in the page list: a number, or a gap.
#[derive(Debug, Clone)]
pub struct PageLink {
    pub number: i64,
    pub current: bool,
    pub gap: bool,
}

fn page_links(current: i64, last: i64) -> Vec<PageLink> {
    let mut links: Vec<PageLink> = Vec::new();
    for n in 1..=last {
        if n == 1 || n == last || (n - current).abs() <= 2 {
            if links.last().is_some_and(|l: &PageLink| l.number + 1 < n) {
                links.push(PageLink {
                    number: 0,
                    current: false,
                    gap: true,
                });
            }
            links.push(PageLink {
                number: n,
                current: n == current,
                gap: false,
            });
        }
    }
    links
}

/// The results part of the page (what htmx swaps as you type).
#[derive(Template, WebTemplate)]
#[template(path = "caller_ids/results_partial.html")]
pub struct Results {
    pub rows: Vec<CallerIdView>,
    pub total: i64,
    pub total_text: String,
    pub page: i64,
    pub last_page: i64,
    pub links: Vec<PageLink>,
    pub params: ListParams,
    pub filtered: bool,
    pub can_verify: bool,
}

impl Results {
    /// Askama passes some arguments by value and some by reference; take either.
    fn page_query(&self, page: impl std::borrow::Borrow<i64>) -> String {
        self.params.query_for_page(*page.borrow())
    }

    fn export_query(&self) -> String {
        self.params.query_for_page(1)
    }
}

/// A verification waiting for its code, as the list page shows it.
#[derive(Debug, Clone)]
pub struct PendingView {
    pub id: String,
    pub number: String,
    pub alias: String,
    pub started_by: String,
    pub expires: When,
}

#[derive(Template, WebTemplate)]
#[template(path = "caller_ids/page.html")]
pub struct ListPage {
    chrome: Chrome,
    pending: Vec<PendingView>,
    sync: SyncStatus,
    results: Results,
    /// `(code, name)`, the filter's choices.
    countries: Vec<(String, String)>,
    /// `(id, name or id)`
    subaccounts: Vec<(String, String)>,
}

impl ListPage {
    /// How many of the filters behind "Filters" are set (they are shown open then).
    fn more_filters(&self) -> usize {
        let p = &self.results.params;
        [
            !p.country.is_empty(),
            !p.subaccount.is_empty(),
            p.sort == "number" || p.sort == "verified",
            !p.removed.is_empty(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count()
    }
}

async fn results(
    state: &AppState,
    db: &mut SqliteConnection,
    me: &CurrentUser,
    params: ListParams,
) -> Result<Results, AppError> {
    let search = params.search();
    let mut page = params.page();
    let (mut rows, total) =
        caller_id_search::search(db, &search, PER_PAGE, (page - 1) * PER_PAGE).await?;
    let names = SubaccountNames::load(&mut *db).await?;
    let now = state.clock.now();
    let last_page = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    if page > last_page {
        // Past the end (an old link, a hand-typed number): show the last page.
        page = last_page;
        rows = caller_id_search::search(db, &search, PER_PAGE, (page - 1) * PER_PAGE)
            .await?
            .0;
    }
    Ok(Results {
        rows: rows
            .iter()
            .map(|r| CallerIdView::new(now, r).named(&names))
            .collect(),
        total,
        total_text: thousands(total),
        page,
        last_page,
        links: page_links(page, last_page),
        filtered: !search.query.trim().is_empty()
            || search.country.is_some()
            || search.subaccount.is_some(),
        params,
        can_verify: me.role().can(Permission::Verify),
    })
}

/// `GET /`: the whole page, or (for htmx's search-as-you-type) only the results.
pub async fn show(
    State(state): State<AppState>,
    me: CurrentUser,
    htmx: Htmx,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    me.require(Permission::ViewCallerIds)?;
    // One connection for the page's queries: each trip through the pool costs a hand-off to
    // the connection's thread and another to check the connection on its way back.
    let mut db = state.db.reader.acquire().await?;
    let results = results(&state, &mut db, &me, params).await?;
    if htmx.wants("results") {
        // The connection goes back to the pool before the page is rendered.
        drop(db);
        return Ok(PageOr::<ListPage, _>::Fragment(results).into_response());
    }
    {
        let chrome = Chrome::for_user(&state, &me, Nav::CallerIds).await?;
        let Facets {
            countries,
            subaccounts,
        } = caller_id_search::facets(&mut *db).await?;
        let now = state.clock.now();
        let pending = verifications::pending(&mut *db, crate::db::Timestamp::from(now))
            .await?
            .into_iter()
            .map(|v| PendingView {
                number: v.phone_number.international(),
                expires: When::of(now, v.expires_at),
                id: v.id,
                alias: v.alias,
                started_by: v.started_by_name,
            })
            .collect();
        let sync = SyncStatus::load(&state, &mut *db, &me, chrome.csrf.clone()).await?;
        drop(db);
        Ok(PageOr::<_, Results>::Page(ListPage {
            pending,
            sync,
            chrome,
            results,
            countries: countries
                .into_iter()
                .map(|code| {
                    let name = crate::domain::country_name(&code);
                    let name = name.strip_prefix("the ").unwrap_or(&name).to_owned();
                    (code, name)
                })
                .collect(),
            subaccounts,
        })
        .into_response())
    }
}

/// A time as stored, or nothing.
fn time_text(at: Option<crate::db::Timestamp>) -> String {
    at.map(|t| t.to_string()).unwrap_or_default()
}

/// `GET /caller-ids.csv`: the current filter's rows, all pages.
pub async fn export(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    me.require(Permission::ViewCallerIds)?;
    let rows = caller_id_search::search_all(&state.db.reader, &params.search()).await?;
    let names = SubaccountNames::load(&state.db.reader).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, record: &[&str]| {
        out.write_record(record)
            .map_err(|e| AppError::Internal(e.into()))
    };
    write(
        &mut out,
        &[
            "phone_number",
            "name",
            "country",
            "subaccount",
            "subaccount_name",
            "verified_by",
            "verified_at",
            "added_at_plivo",
            "last_seen_at",
            "removed_at",
        ],
    )?;
    for row in &rows {
        let times = [
            row.verified_at,
            row.plivo_created_at,
            row.last_seen_at,
            row.removed_at,
        ]
        .map(time_text);
        let subaccount_name = names.label(&row.subaccount);
        let fields = [
            row.phone_number.as_str(),
            &row.alias,
            &row.country,
            &row.subaccount,
            &subaccount_name,
            row.verified_by_name.as_deref().unwrap_or(""),
            &times[0],
            &times[1],
            &times[2],
            &times[3],
        ]
        .map(spreadsheet::cell);
        write(&mut out, &fields.each_ref().map(|c| c.as_ref()))?;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    // Who took a copy of the list, and of which part of it.
    state
        .db
        .append(
            state.clock.now(),
            NewEvent::new(
                me.actor(),
                &meta,
                Action::CallerIdsExported,
                Outcome::Succeeded,
            )
            .with_details(json!({ "rows": rows.len(), "filter": params.query_for_page(1) })),
        )
        .await?;
    let date = state
        .clock
        .now()
        .format(time::macros::format_description!("[year][month][day]"))
        .unwrap_or_default();
    let disposition = format!("attachment; filename=\"caller-ids-{date}.csv\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_show_the_ends_and_the_neighbourhood() {
        let numbers = |links: Vec<PageLink>| -> Vec<i64> {
            links
                .iter()
                .map(|l| if l.gap { 0 } else { l.number })
                .collect()
        };
        assert_eq!(numbers(page_links(1, 1)), [1]);
        assert_eq!(numbers(page_links(1, 4)), [1, 2, 3, 4]);
        assert_eq!(numbers(page_links(10, 20)), [1, 0, 8, 9, 10, 11, 12, 0, 20]);
    }
}
