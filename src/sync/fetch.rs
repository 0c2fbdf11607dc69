//! Listing every caller ID at Plivo: the first page gives the total, the rest are fetched
//! several at a time. Any page failing (after the client's retries), or a listing that doesn't
//! add up, fails the whole listing.

use futures_util::{StreamExt, stream};
use std::collections::HashSet;

use super::Syncer;
use crate::{
    db::{Timestamp, sync_runs},
    plivo::{CallerId, ListPage, ListQuery, PlivoError},
};

/// Plivo's page size.
pub const PAGE_SIZE: u32 = 20;

/// Why a listing can't be trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingFailure {
    pub reason: String,
    pub status: Option<u16>,
    pub api_id: Option<String>,
}

impl ListingFailure {
    fn inconsistent(reason: String) -> Self {
        Self {
            reason: format!(
                "Plivo's list changed or came back incomplete while it was read ({reason}), so nothing was changed. The next sync will try again."
            ),
            status: None,
            api_id: None,
        }
    }

    fn plivo(page: u64, e: &PlivoError) -> Self {
        Self {
            reason: format!(
                "{} (page {} of the list). Nothing was changed.",
                e.operator_message(),
                page + 1
            ),
            status: e.status(),
            api_id: e.api_id().map(str::to_owned),
        }
    }
}

async fn page(syncer: &Syncer, index: u64) -> Result<(u64, ListPage), ListingFailure> {
    let query = ListQuery {
        limit: Some(PAGE_SIZE),
        offset: Some(index * u64::from(PAGE_SIZE)),
        ..Default::default()
    };
    syncer
        .plivo
        .list(&query)
        .await
        .map(|p| (index, p))
        .map_err(|e| {
            tracing::warn!(error = %e, page = index, "listing caller IDs failed");
            ListingFailure::plivo(index, &e)
        })
}

/// Every caller ID at Plivo, or why the listing can't be trusted.
pub async fn listing(syncer: &Syncer, run_id: i64) -> Result<Vec<CallerId>, ListingFailure> {
    let (_, first) = page(syncer, 0).await?;
    let total = first.meta.total_count;
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    let mut objects: Vec<Vec<CallerId>> = vec![Vec::new(); usize::try_from(pages).unwrap_or(0)];
    check_page(0, &first, total, pages)?;
    if let Some(slot) = objects.first_mut() {
        *slot = first.objects;
    }
    let heartbeat = |done: u64| {
        let db = syncer.db.writer.clone();
        let now = Timestamp::from(syncer.clock.now());
        async move {
            let done = i64::try_from(done).unwrap_or(i64::MAX);
            let total = i64::try_from(pages).unwrap_or(i64::MAX);
            if let Err(e) = sync_runs::progress(&db, run_id, done, total, now).await {
                tracing::warn!(error = %e, "could not record sync progress");
            }
        }
    };
    heartbeat(1).await;

    let mut rest = stream::iter(1..pages)
        .map(|index| page(syncer, index))
        .buffer_unordered(syncer.pages_in_flight.max(1));
    let mut done = 1u64;
    let mut last_beat = std::time::Instant::now();
    while let Some(result) = rest.next().await {
        let (index, page) = result?;
        check_page(index, &page, total, pages)?;
        if let Some(slot) = objects.get_mut(usize::try_from(index).unwrap_or(usize::MAX)) {
            *slot = page.objects;
        }
        done += 1;
        if last_beat.elapsed() >= std::time::Duration::from_secs(1) {
            heartbeat(done).await;
            last_beat = std::time::Instant::now();
        }
    }
    heartbeat(done).await;

    let all: Vec<CallerId> = objects.into_iter().flatten().collect();
    let unique: HashSet<&str> = all.iter().map(|c| c.phone_number.as_str()).collect();
    if unique.len() != all.len() {
        return Err(ListingFailure::inconsistent(format!(
            "{} numbers appeared twice",
            all.len() - unique.len()
        )));
    }
    Ok(all)
}

/// A page must report the same total as the first and hold exactly the rows its place implies.
fn check_page(index: u64, page: &ListPage, total: u64, pages: u64) -> Result<(), ListingFailure> {
    if page.meta.total_count != total {
        return Err(ListingFailure::inconsistent(format!(
            "the total went from {total} to {} during the run",
            page.meta.total_count
        )));
    }
    let size = u64::from(PAGE_SIZE);
    let expected = if index + 1 < pages {
        size
    } else {
        total - size * (pages - 1)
    };
    let got = page.objects.len() as u64;
    if got != expected {
        return Err(ListingFailure::inconsistent(format!(
            "page {} held {got} caller IDs instead of {expected}",
            index + 1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plivo::Meta;

    fn page_of(total: u64, rows: usize) -> ListPage {
        let object = CallerId {
            api_id: None,
            alias: None,
            country: None,
            created_at: None,
            modified_at: None,
            phone_number: "+12025550000".into(),
            subaccount: None,
            verification_uuid: None,
            resource_uri: None,
        };
        ListPage {
            api_id: None,
            meta: Meta {
                limit: 20,
                offset: 0,
                total_count: total,
                next: None,
                previous: None,
            },
            objects: vec![object; rows],
        }
    }

    #[test]
    fn a_page_must_match_the_total_and_its_place() {
        assert!(check_page(0, &page_of(45, 20), 45, 3).is_ok());
        assert!(check_page(2, &page_of(45, 5), 45, 3).is_ok());
        assert!(check_page(0, &page_of(0, 0), 0, 1).is_ok());
        let changed = check_page(1, &page_of(46, 20), 45, 3).unwrap_err();
        assert!(
            changed.reason.contains("the total went from 45 to 46"),
            "{}",
            changed.reason
        );
        let short = check_page(1, &page_of(45, 19), 45, 3).unwrap_err();
        assert!(
            short
                .reason
                .contains("page 2 held 19 caller IDs instead of 20"),
            "{}",
            short.reason
        );
        assert!(short.reason.contains("nothing was changed"));
        assert!(check_page(2, &page_of(45, 6), 45, 3).is_err());
    }
}
