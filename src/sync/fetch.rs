//! Reading every caller ID at Plivo: one pass reads the first page (which gives the total),
//! then the rest several at a time, handing each page on as it arrives so it can be stored
//! while the others are read. Plivo lists newest first with no snapshot across pages: a number
//! added during a pass shifts later pages down (a row read twice, the total grows), one
//! deleted shifts them up (a row missed, a page comes back short). A pass that sees any of
//! that is not consistent; only a consistent pass can say which numbers are absent.

use futures_util::{StreamExt, stream};
use std::collections::HashSet;
use tokio::sync::mpsc;

use super::Syncer;
use crate::{
    db::{Timestamp, sync_runs},
    plivo::{CallerId, ListPage, ListQuery, PlivoError},
};

/// Plivo's page size.
pub const PAGE_SIZE: u32 = 20;

/// A page Plivo would not give (after the client's retries).
#[derive(Debug, Clone, PartialEq)]
pub struct ListingFailure {
    pub reason: String,
    pub status: Option<u16>,
    pub api_id: Option<String>,
}

impl ListingFailure {
    fn plivo(page: u64, e: &PlivoError) -> Self {
        Self {
            reason: format!(
                "{} (page {} of the list). Nothing was marked removed; caller IDs read before it were kept.",
                e.operator_message(),
                page + 1
            ),
            status: e.status(),
            api_id: e.api_id().map(str::to_owned),
        }
    }
}

/// What one pass over the list read.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    /// Every caller ID read (a number read twice appears twice).
    pub objects: Vec<CallerId>,
    /// Why the list moved under this pass, if it did.
    pub moved: Option<String>,
}

impl Pass {
    /// The numbers it read, when the pass was consistent.
    pub fn listed(&self) -> Option<HashSet<&str>> {
        self.moved.is_none().then(|| {
            self.objects
                .iter()
                .map(|c| c.phone_number.as_str())
                .collect()
        })
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

/// Reads the whole list once, sending each page's caller IDs to `store` as it arrives.
pub async fn pass(
    syncer: &Syncer,
    run_id: i64,
    store: &mpsc::Sender<Vec<CallerId>>,
) -> Result<Pass, ListingFailure> {
    let (_, first) = page(syncer, 0).await?;
    let total = first.meta.total_count;
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    let mut moved = Vec::new();
    moved.extend(check_page(0, &first, total, pages));
    let mut objects = first.objects;
    let _ = store.send(objects.clone()).await;
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
        moved.extend(check_page(index, &page, total, pages));
        // The reading goes on while the page is stored.
        let _ = store.send(page.objects.clone()).await;
        objects.extend(page.objects);
        done += 1;
        if last_beat.elapsed() >= std::time::Duration::from_secs(1) {
            heartbeat(done).await;
            last_beat = std::time::Instant::now();
        }
    }
    heartbeat(done).await;

    let unique: HashSet<&str> = objects.iter().map(|c| c.phone_number.as_str()).collect();
    if unique.len() != objects.len() {
        moved.push(format!(
            "{} numbers appeared twice",
            objects.len() - unique.len()
        ));
    }
    Ok(Pass {
        objects,
        moved: (!moved.is_empty()).then(|| moved.join("; ")),
    })
}

/// How a page says the list moved: a total other than the first page's, or not exactly the
/// rows its place implies.
fn check_page(index: u64, page: &ListPage, total: u64, pages: u64) -> Option<String> {
    if page.meta.total_count != total {
        return Some(format!(
            "the total went from {total} to {} during the read",
            page.meta.total_count
        ));
    }
    let size = u64::from(PAGE_SIZE);
    let expected = if index + 1 < pages {
        size
    } else {
        total - size * (pages - 1)
    };
    let got = page.objects.len() as u64;
    (got != expected).then(|| {
        format!(
            "page {} held {got} caller IDs instead of {expected}",
            index + 1
        )
    })
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
        assert_eq!(check_page(0, &page_of(45, 20), 45, 3), None);
        assert_eq!(check_page(2, &page_of(45, 5), 45, 3), None);
        assert_eq!(check_page(0, &page_of(0, 0), 0, 1), None);
        let changed = check_page(1, &page_of(46, 20), 45, 3).unwrap();
        assert!(
            changed.contains("the total went from 45 to 46"),
            "{changed}"
        );
        let short = check_page(1, &page_of(45, 19), 45, 3).unwrap();
        assert!(
            short.contains("page 2 held 19 caller IDs instead of 20"),
            "{short}"
        );
        assert!(check_page(2, &page_of(45, 6), 45, 3).is_some());
    }
}
