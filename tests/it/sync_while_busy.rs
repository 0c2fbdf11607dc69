//! A sync on a busy account: numbers added, deleted, or deleted and verified again at Plivo
//! while the sync reads the list (the sandbox's hook changes the account between page
//! requests). Every run succeeds; nothing is ever marked removed that Plivo still has; and the
//! cache equals Plivo's list after at most one more run.

use crate::helpers::TestApp;
use callerdesk::sandbox::{Hook, store};
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

const SEEDED: u32 = 100;

/// Current caller IDs in the cache: number -> name.
async fn cache(app: &TestApp) -> BTreeMap<String, String> {
    sqlx::query_as("SELECT phone_number, alias FROM caller_ids WHERE removed_at IS NULL")
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Plivo's (the sandbox's) list: number -> name.
async fn at_plivo(app: &TestApp) -> BTreeMap<String, String> {
    let (rows, _) = store::list(&app.state.db.reader, &store::Filters::default(), 100_000, 0)
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| (r.phone_number, r.alias))
        .collect()
}

async fn ready() -> TestApp {
    let app = TestApp::spawn().await;
    app.sandbox().seed(SEEDED).await.unwrap();
    app.sync().await.unwrap();
    assert_eq!(cache(&app).await, at_plivo(&app).await);
    app
}

fn row(number: &str, alias: &str) -> store::Row {
    store::Row {
        alias: alias.into(),
        country: "US".into(),
        created_at: "2026-12-01T10:00:00.000000Z".into(),
        modified_at: "2026-12-01T10:00:00.000000Z".into(),
        phone_number: number.into(),
        subaccount: String::new(),
        verification_uuid: format!("uuid-{number}"),
    }
}

/// The numbers at the top of Plivo's list (the newest).
async fn newest(app: &TestApp, n: usize) -> Vec<String> {
    at_plivo_in_order(app).await.into_iter().take(n).collect()
}

async fn at_plivo_in_order(app: &TestApp) -> Vec<String> {
    let (rows, _) = store::list(&app.state.db.reader, &store::Filters::default(), 1000, 0)
        .await
        .unwrap();
    rows.into_iter().map(|r| r.phone_number).collect()
}

/// A hook that runs `change` when a list page at `offset` is asked for, the first `times`
/// times it is.
fn on_page(
    app: &TestApp,
    offset: u32,
    times: usize,
    change: impl Fn(callerdesk::db::Db, usize) -> futures_util::future::BoxFuture<'static, ()>
    + Send
    + Sync
    + 'static,
) -> Arc<AtomicUsize> {
    let fired = Arc::new(AtomicUsize::new(0));
    let (db, count) = (app.state.db.clone(), fired.clone());
    let change = Arc::new(change);
    let hook: Hook = Arc::new(move |method, target| {
        let (db, count, change) = (db.clone(), count.clone(), change.clone());
        Box::pin(async move {
            if method == "GET" && list_offset(&target) == Some(offset) {
                let n = count.fetch_add(1, Ordering::SeqCst);
                if n < times {
                    change(db, n).await;
                }
            }
        })
    });
    app.sandbox().before_each_request(Some(hook));
    fired
}

/// The offset of a list request (`…/VerifiedCallerId/?limit=20&offset=40`).
fn list_offset(target: &str) -> Option<u32> {
    let (path, query) = target.split_once('?')?;
    if !path.ends_with("/VerifiedCallerId/") {
        return None;
    }
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("offset="))?
        .parse()
        .ok()
}

async fn removals(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT phone_number FROM audit_events WHERE action = 'caller_id_removed_at_plivo' ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap()
}

#[tokio::test]
async fn numbers_added_during_a_run_are_kept_and_the_run_succeeds() {
    let app = ready().await;
    on_page(&app, 40, 1, |db, _| {
        Box::pin(async move {
            for number in ["+12025558801", "+12025558802"] {
                store::upsert(&db, &row(number, "Added mid-run"))
                    .await
                    .unwrap();
            }
        })
    });
    let summary = app.sync().await.unwrap();
    assert!(
        summary.note.as_deref().unwrap_or("").contains("read again"),
        "{summary}"
    );
    assert_eq!(summary.counts.added, 2);
    assert_eq!(summary.counts.removed, 0);
    assert_eq!(cache(&app).await, at_plivo(&app).await);
    assert!(removals(&app).await.is_empty());
}

#[tokio::test]
async fn numbers_deleted_near_the_top_are_removed_once_plivo_confirms_it() {
    let app = ready().await;
    let doomed = newest(&app, 2).await;
    let gone = doomed.clone();
    on_page(&app, 40, 1, move |db, _| {
        let gone = gone.clone();
        Box::pin(async move {
            for number in &gone {
                store::delete(&db, number).await.unwrap();
            }
        })
    });
    let summary = app.sync().await.unwrap();
    assert_eq!(summary.counts.removed, 2, "{summary}");
    assert_eq!(cache(&app).await, at_plivo(&app).await);
    let mut removed = removals(&app).await;
    removed.sort();
    let mut doomed = doomed;
    doomed.sort();
    assert_eq!(removed, doomed);
}

#[tokio::test]
async fn an_addition_and_a_deletion_in_one_run_both_land() {
    let app = ready().await;
    let doomed = newest(&app, 1).await;
    let gone = doomed.clone();
    on_page(&app, 20, 1, move |db, _| {
        let gone = gone.clone();
        Box::pin(async move {
            store::delete(&db, &gone[0]).await.unwrap();
            store::upsert(&db, &row("+12025558803", "Both at once"))
                .await
                .unwrap();
        })
    });
    // One added at the top and one deleted from it leave every later page where it was: the
    // read cannot see the change, so this run may not either. No harm comes of it (nothing is
    // removed that Plivo has), and the next run brings both in.
    app.sync().await.unwrap();
    assert!(removals(&app).await.iter().all(|n| doomed.contains(n)));
    app.sandbox().before_each_request(None);
    app.sync().await.unwrap();
    assert_eq!(cache(&app).await, at_plivo(&app).await);
    assert_eq!(removals(&app).await, doomed);
}

#[tokio::test]
async fn a_number_deleted_and_verified_again_during_a_run_is_never_removed() {
    let app = ready().await;
    let number = newest(&app, 1).await.remove(0);
    // Deleted when page 3 is read, back (as the newest) when page 4 is read.
    let back = number.clone();
    let db = app.state.db.clone();
    let deleted_once = Arc::new(AtomicUsize::new(0));
    let counter = deleted_once.clone();
    let first: Hook = Arc::new(move |method, target| {
        let (db, back, counter) = (db.clone(), back.clone(), counter.clone());
        Box::pin(async move {
            if method != "GET" {
                return;
            }
            // Stage 0: deleted at the first read of page 3; stage 1: back at the next read
            // of page 4; stage 2: done.
            let step = |from| {
                counter
                    .compare_exchange(from, from + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            };
            match list_offset(&target) {
                Some(40) if step(0) => {
                    store::delete(&db, &back).await.unwrap();
                }
                Some(60) if step(1) => {
                    store::upsert(&db, &row(&back, "Verified again"))
                        .await
                        .unwrap();
                }
                _ => {}
            }
        })
    });
    app.sandbox().before_each_request(Some(first));
    let summary = app.sync().await.unwrap();
    assert_eq!(
        deleted_once.load(Ordering::SeqCst),
        2,
        "deleted, then back, mid-run"
    );
    assert_eq!(summary.counts.removed, 0, "{summary}");
    assert!(removals(&app).await.is_empty(), "never removed");
    app.sandbox().before_each_request(None);
    app.sync().await.unwrap();
    assert_eq!(cache(&app).await, at_plivo(&app).await);
    assert!(removals(&app).await.is_empty());
}

#[tokio::test]
async fn a_list_that_keeps_moving_stores_what_it_read_and_leaves_removals_for_the_next_run() {
    let app = ready().await;
    let doomed = newest(&app, 1).await;
    store::delete(&app.state.db, &doomed[0]).await.unwrap();
    // A new number on every read of page 3: the list never holds still.
    on_page(&app, 40, usize::MAX, |db, n| {
        Box::pin(async move {
            store::upsert(&db, &row(&format!("+1202555{:04}", 8900 + n), "Busy"))
                .await
                .unwrap();
        })
    });
    let summary = app.sync().await.unwrap();
    assert!(
        summary
            .note
            .as_deref()
            .unwrap_or("")
            .contains("kept changing"),
        "{summary}"
    );
    assert_eq!(summary.counts.removed, 0, "no removal from a moving list");
    assert!(removals(&app).await.is_empty());
    // Once it holds still, one more run brings the cache in line, removal included.
    app.sandbox().before_each_request(None);
    let next = app.sync().await.unwrap();
    assert_eq!(next.counts.removed, 1, "{next}");
    assert_eq!(cache(&app).await, at_plivo(&app).await);
    assert_eq!(removals(&app).await, doomed);
}
