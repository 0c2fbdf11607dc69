//! Reconciliation with the sandbox over real HTTP.

use crate::helpers::TestApp;
use callerdesk::{
    audit::Actor,
    domain::PhoneNumber,
    plivo::Update,
    sandbox::{Fault, Faults, Rule},
    sync::{SyncError, Trigger},
};
use std::process::Command;

/// The cache as (number, alias, subaccount, removed) rows, for before/after comparisons.
async fn cache(app: &TestApp) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT phone_number, alias, subaccount, removed_at FROM caller_ids ORDER BY phone_number",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap()
}

fn number(s: &str) -> PhoneNumber {
    PhoneNumber::from_e164(s).unwrap()
}

/// The per-country-and-subaccount counts kept by triggers agree with counting the rows.
async fn assert_groups_agree(app: &TestApp) {
    let kept: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT country, subaccount, current FROM caller_id_groups WHERE current != 0 ORDER BY 1, 2",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    let counted: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT country, subaccount, COUNT(*) FROM caller_ids WHERE removed_at IS NULL
         GROUP BY country, subaccount ORDER BY 1, 2",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert!(!counted.is_empty());
    assert_eq!(kept, counted);
}

#[tokio::test]
async fn a_sync_adds_then_notices_changes_removals_and_returns() {
    let app = TestApp::spawn().await;
    app.sandbox().seed(1000).await.unwrap();
    let first = app.sync().await.unwrap();
    assert_eq!(
        (first.counts.seen, first.counts.added, first.counts.removed),
        (1000, 1000, 0)
    );
    assert_eq!(cache(&app).await.len(), 1000);
    assert_eq!(app.count_events("caller_id_added_at_plivo").await, 1000);
    assert_groups_agree(&app).await;

    // Nothing changed at Plivo: nothing to report.
    let quiet = app.sync().await.unwrap();
    assert_eq!(
        (
            quiet.counts.added,
            quiet.counts.changed,
            quiet.counts.removed
        ),
        (0, 0, 0)
    );

    // Someone changes and deletes caller IDs in Plivo's console.
    let renamed = number("+12025550003");
    let deleted = number("+14165550004");
    app.state
        .plivo
        .update(
            &renamed,
            &Update {
                alias: Some("Renamed outside".into()),
                subaccount: None,
            },
        )
        .await
        .unwrap();
    app.state.plivo.delete(&deleted).await.unwrap();
    let second = app.sync().await.unwrap();
    assert_eq!(
        (
            second.counts.changed,
            second.counts.removed,
            second.counts.added
        ),
        (1, 1, 0)
    );
    assert_groups_agree(&app).await;

    let (details,): (String,) = sqlx::query_as(
        "SELECT details FROM audit_events WHERE action = 'caller_id_changed_at_plivo' AND phone_number = ?",
    )
    .bind(renamed.as_str())
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert!(details.contains("Renamed outside"), "{details}");
    let removed: (String, Option<String>) =
        sqlx::query_as("SELECT actor_name, phone_number FROM audit_events WHERE action = 'caller_id_removed_at_plivo'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(
        removed,
        ("system".to_owned(), Some(deleted.as_str().to_owned()))
    );
    let row: (Option<String>,) =
        sqlx::query_as("SELECT removed_at FROM caller_ids WHERE phone_number = ?")
            .bind(deleted.as_str())
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert!(row.0.is_some(), "removed numbers are kept, marked removed");

    // It is verified again outside callerdesk: restored.
    app.verify_at_plivo(deleted.as_str(), "Back again").await;
    let third = app.sync().await.unwrap();
    assert_eq!(third.counts.restored, 1);
    let row: (Option<String>, String) =
        sqlx::query_as("SELECT removed_at, alias FROM caller_ids WHERE phone_number = ?")
            .bind(deleted.as_str())
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(row, (None, "Back again".to_owned()));
    assert_eq!(app.count_events("sync_finished").await, 4);
    assert_groups_agree(&app).await;
}

#[tokio::test]
async fn a_page_failing_mid_run_fails_the_run_and_removes_nothing() {
    let app = TestApp::spawn().await;
    app.sandbox().seed(1000).await.unwrap();
    app.sync().await.unwrap();
    let before = cache(&app).await;
    let events_before = app.audit_actions().await.len();

    // Changes at Plivo that a successful run would apply...
    app.state
        .plivo
        .delete(&number("+12025550007"))
        .await
        .unwrap();
    app.state
        .plivo
        .update(
            &number("+12025550008"),
            &Update {
                alias: Some("New".into()),
                subaccount: None,
            },
        )
        .await
        .unwrap();
    app.verify_at_plivo("+12025559999", "Brand new").await;
    // ...and a page in the middle that keeps failing past the client's retries.
    app.sandbox().set_faults(Faults {
        rules: vec![Rule {
            count: 10,
            method: Some("GET".into()),
            path: Some("offset=500".into()),
            fault: Fault::Status {
                status: 503,
                error: Some("temporarily unavailable".into()),
            },
        }],
        ..Default::default()
    });
    let e = app.sync().await.unwrap_err();
    let SyncError::Failed { run_id, reason } = e else {
        panic!("{e:?}")
    };
    assert!(reason.contains("Nothing was marked removed"), "{reason}");
    // Nothing is removed on a partial read: the number deleted at Plivo is still current.
    let still: Option<Option<String>> =
        sqlx::query_scalar("SELECT removed_at FROM caller_ids WHERE phone_number = '+12025550007'")
            .fetch_optional(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(still, Some(None), "not removed on a partial read");
    assert_eq!(
        cache(&app).await.len(),
        before.len() + 1,
        "the new number, read first, is kept"
    );
    let new_events: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .skip(events_before)
        .map(|(a, ..)| a)
        .collect();
    assert!(
        !new_events.iter().any(|a| a == "caller_id_removed_at_plivo"),
        "{new_events:?}"
    );
    assert_eq!(new_events.last().map(String::as_str), Some("sync_finished"));
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, error FROM sync_runs WHERE id = ?")
            .bind(run_id)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("page 26"));

    // Once Plivo recovers, the next run brings the cache in line with Plivo.
    app.sandbox().set_faults(Faults::default());
    let after = app.sync().await.unwrap();
    assert_eq!(after.counts.removed, 1);
    let row = |n: &'static str| {
        let app = &app;
        async move {
            sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT alias, removed_at FROM caller_ids WHERE phone_number = ?",
            )
            .bind(n)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap()
        }
    };
    assert!(row("+12025550007").await.1.is_some());
    assert_eq!(row("+12025550008").await.0, "New");
    assert_eq!(row("+12025559999").await, ("Brand new".to_owned(), None));
}

#[tokio::test]
async fn a_rate_limited_page_is_waited_out() {
    let app = TestApp::spawn().await;
    app.sandbox().seed(100).await.unwrap();
    app.sandbox().set_faults(Faults {
        rules: vec![Rule {
            count: 1,
            method: Some("GET".into()),
            path: Some("offset=40".into()),
            fault: Fault::RateLimited {
                retry_after_secs: 1,
            },
        }],
        ..Default::default()
    });
    let summary = app.sync().await.unwrap();
    assert_eq!(summary.counts.added, 100);
    assert!(summary.took >= std::time::Duration::from_secs(1));
}

#[tokio::test]
async fn only_one_run_at_a_time_across_the_web_app_and_the_command_line() {
    let app = TestApp::spawn().await;
    app.sandbox().seed(1000).await.unwrap();
    // Slow enough that the run is still going while the others ask.
    app.sandbox().set_faults(Faults {
        latency_ms: 400,
        ..Default::default()
    });

    let mut olive = app
        .signed_in("olive", callerdesk::domain::Role::Operator)
        .await;
    let mut otis = app
        .signed_in("otis", callerdesk::domain::Role::Operator)
        .await;
    olive.page("/").await;
    otis.page("/").await;
    let (a, b) = tokio::join!(olive.post("/sync", &[]), otis.post("/sync", &[]));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (303, 303));
    let (_, olive_page) = olive.page("/").await;
    let (_, otis_page) = otis.page("/").await;
    assert!(olive_page.contains("Syncing with Plivo") && otis_page.contains("Syncing with Plivo"));
    let told = [&olive_page, &otis_page]
        .iter()
        .filter(|p| p.contains("A sync is already running"))
        .count();
    assert_eq!(told, 1, "exactly one of the two was told a run is going");

    // The command line, meanwhile, is told a run is going.
    let out = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .args(["sync", "--database"])
        .arg(app.db_path())
        .env_remove("PLIVO_AUTH_ID")
        .env_remove("PLIVO_AUTH_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("A sync is already running"), "{stderr}");

    // Wait for the web run to finish; there was exactly one.
    for _ in 0..100 {
        let running: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sync_runs WHERE status = 'running'")
                .fetch_one(&app.state.db.reader)
                .await
                .unwrap();
        if running == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let runs: Vec<(String, String)> = sqlx::query_as("SELECT trigger, status FROM sync_runs")
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(runs, [("manual".to_owned(), "succeeded".to_owned())]);
    let claimed_twice = app
        .state
        .syncer
        .claim(Trigger::Manual, Actor::system())
        .await;
    assert!(claimed_twice.is_ok(), "free again once finished");
}

#[tokio::test]
async fn the_command_line_sync_prints_its_summary() {
    let app = TestApp::spawn().await;
    let path = app.db_path();
    let _dir = app.stop().await;
    let out = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .args(["sync", "--database"])
        .arg(&path)
        .env_remove("PLIVO_AUTH_ID")
        .env_remove("PLIVO_AUTH_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The sandbox's first start seeded 12 example numbers.
    assert!(
        stdout.contains("12 caller IDs at Plivo; 12 added"),
        "{stdout}"
    );
}
