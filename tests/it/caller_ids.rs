//! The caller ID list and a number's page, through HTTP like a browser.

use crate::helpers::TestApp;
use callerdesk::{
    domain::{PhoneNumber, Role},
    sandbox::{Fault, Faults, Rule},
};
use reqwest::StatusCode;

async fn with_numbers() -> TestApp {
    let app = TestApp::spawn().await;
    app.verify_at_plivo("+12025551234", "Front Desk").await;
    app.verify_at_plivo("+442079460000", "London office").await;
    app.verify_at_plivo("+12125550199", "").await;
    app.sync().await.unwrap();
    app
}

fn rows(body: &str) -> usize {
    body.matches(r#"data-label="Number""#).count()
}

#[tokio::test]
async fn an_empty_cache_shows_a_friendly_start() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let (status, body) = op.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No caller IDs yet"), "{body}");
    assert!(body.contains("Not synced with Plivo yet."));
}

#[tokio::test]
async fn search_finds_numbers_typed_any_way_and_names_in_any_case() {
    let app = with_numbers().await;
    let mut me = app.signed_in("ivy", Role::Auditor).await;
    let search = |q: &str| {
        format!(
            "/?q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        )
    };
    for (query, finds, misses) in [
        ("555 12", "+1 202-555-1234", "+44 20 7946 0000"),
        ("(202)", "+1 202-555-1234", "+44 20 7946 0000"),
        ("202-555-1234", "+1 202-555-1234", "+1 212-555-0199"),
        ("front desk", "+1 202-555-1234", "+44 20 7946 0000"),
        ("LONDON", "+44 20 7946 0000", "+1 202-555-1234"),
        ("020 7946", "+44 20 7946 0000", "+1 202-555-1234"),
        ("+44", "+44 20 7946 0000", "+1 202-555-1234"),
    ] {
        let (status, body) = me.page(&search(query)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(finds), "{query:?} should find {finds}");
        assert!(!body.contains(misses), "{query:?} should not find {misses}");
    }
    let (_, body) = me.page(&search("%_%")).await;
    assert!(
        body.contains("No caller IDs match"),
        "wildcards are taken literally"
    );
}

#[tokio::test]
async fn filters_sorting_and_pages_return_the_right_rows() {
    let app = TestApp::spawn().await;
    app.sandbox().seed(120).await.unwrap();
    app.sync().await.unwrap();
    let mut me = app.signed_in("ivy", Role::Auditor).await;

    let (_, first) = me.page("/?sort=number").await;
    assert_eq!(rows(&first), 50);
    assert!(first.contains("120 caller IDs"));
    assert!(
        first.contains(r#"href="/?sort=number&#38;page=3""#),
        "page links keep the sort"
    );
    let (_, third) = me.page("/?sort=number&page=3").await;
    assert_eq!(rows(&third), 20);
    // Sorted by number: +1202… before +1416… before +44…
    let at = |body: &str, s: &str| body.find(s).unwrap_or(usize::MAX);
    assert!(at(&first, "+1 202-555-0000") < at(&first, "+1 416-555-0000"));

    let (_, gb) = me.page("/?country=GB").await;
    // 15 seeded GB numbers, three of which Plivo (the sandbox) lists without a country.
    assert_eq!(rows(&gb), 12);
    assert!(!gb.contains("+1 202"));
    let (_, sub) = me.page("/?subaccount=SAKXQ7M2P9R4T6V8W1Y3").await;
    assert!(rows(&sub) > 0 && sub.matches("SAKXQ7M2P9R4T6V8W1Y3").count() > rows(&sub));
}

#[tokio::test]
async fn typing_in_the_search_swaps_only_the_results() {
    let app = with_numbers().await;
    let me = app.signed_in("ivy", Role::Auditor).await;
    let r = me
        .client
        .get(me.url("/?q=london"))
        .header("hx-request", "true")
        .header("hx-target", "results")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers().get("vary").unwrap(), "HX-Request");
    let body = r.text().await.unwrap();
    assert!(
        body.trim_start().starts_with(r#"<div id="results""#),
        "{body}"
    );
    assert!(!body.contains("<html"));
    assert_eq!(rows(&body), 1);
}

#[tokio::test]
async fn the_export_is_the_current_filter_as_csv() {
    let app = with_numbers().await;
    app.verify_at_plivo("+442079460001", "=SUM(A1:A9)").await;
    app.sync().await.unwrap();
    let mut me = app.signed_in("ivy", Role::Auditor).await;
    let r = me.get("/caller-ids.csv?country=GB").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("caller-ids-")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("phone_number,name,country"));
    assert!(lines.len() >= 3, "{csv}");
    assert!(
        lines[1..].iter().all(|l| l.split(',').nth(2) == Some("GB")),
        "only GB rows: {csv}"
    );
    assert!(csv.contains("+442079460000,London office,GB"));
    assert!(
        csv.contains("'=SUM(A1:A9)"),
        "formulas are neutralised: {csv}"
    );
}

#[tokio::test]
async fn removed_numbers_are_hidden_unless_asked_for() {
    let app = with_numbers().await;
    app.state
        .plivo
        .delete(&PhoneNumber::from_e164("+12125550199").unwrap())
        .await
        .unwrap();
    app.sync().await.unwrap();
    let mut me = app.signed_in("ivy", Role::Auditor).await;
    let (_, body) = me.page("/").await;
    assert!(!body.contains("+1 212-555-0199"));
    let (_, body) = me.page("/?removed=1").await;
    assert!(body.contains("+1 212-555-0199") && body.contains("Removed"));
    let (_, page) = me.page("/caller-ids/12125550199").await;
    assert!(
        page.contains("removed at Plivo outside callerdesk"),
        "the history says so"
    );
}

#[tokio::test]
async fn an_edit_goes_to_plivo_then_the_cache_with_a_requested_and_a_succeeded_event() {
    let app = with_numbers().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let (status, page) = op.page("/caller-ids/12025551234").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Change name or subaccount"));
    assert!(
        !page.contains("Delete this caller ID"),
        "operators can't delete"
    );

    let r = op
        .post(
            "/caller-ids/12025551234",
            &[("alias", "Reception"), ("subaccount", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = op.page("/caller-ids/12025551234").await;
    assert!(
        page.contains("Saved. The name is now “Reception” (it was “Front Desk”)."),
        "{page}"
    );
    let at_plivo = app
        .state
        .plivo
        .get(&PhoneNumber::from_e164("+12025551234").unwrap())
        .await
        .unwrap();
    assert_eq!(at_plivo.alias.as_deref(), Some("Reception"));
    let events: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT action, outcome, actor_name FROM audit_events WHERE phone_number = '+12025551234' AND action = 'caller_id_updated' ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    let olive = |o: &str| {
        (
            "caller_id_updated".to_owned(),
            o.to_owned(),
            "olive".to_owned(),
        )
    };
    assert_eq!(events, [olive("requested"), olive("succeeded")]);
    // The next sync sees Plivo agree with the cache: nothing to report.
    assert_eq!(app.sync().await.unwrap().counts.changed, 0);
}

#[tokio::test]
async fn when_plivo_refuses_an_edit_the_cache_stays_and_the_failure_is_recorded() {
    let app = with_numbers().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    op.page("/caller-ids/12025551234").await;
    app.sandbox().set_faults(Faults {
        rules: vec![Rule {
            count: 1,
            method: Some("POST".into()),
            path: Some("/VerifiedCallerId/12025551234".into()),
            fault: Fault::Status {
                status: 400,
                error: Some("alias is not allowed".into()),
            },
        }],
        ..Default::default()
    });
    let r = op
        .post(
            "/caller-ids/12025551234",
            &[("alias", "Reception"), ("subaccount", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Nothing was changed.") && page.contains("alias is not allowed"),
        "{page}"
    );
    let alias: String =
        sqlx::query_scalar("SELECT alias FROM caller_ids WHERE phone_number = '+12025551234'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(alias, "Front Desk");
    let (status, api_id, details): (Option<i64>, Option<String>, String) = sqlx::query_as(
        "SELECT plivo_status, plivo_api_id, details FROM audit_events WHERE action = 'caller_id_updated' AND outcome = 'failed'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(status, Some(400));
    assert!(api_id.is_some());
    assert!(details.contains("alias is not allowed"));
}

#[tokio::test]
async fn a_bad_name_is_explained_next_to_the_field() {
    let app = with_numbers().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    op.page("/caller-ids/12025551234").await;
    let long = "x".repeat(65);
    let r = op
        .post(
            "/caller-ids/12025551234",
            &[("alias", &long), ("subaccount", "nope")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("at most 64 characters")
            && body.contains(r#"aria-describedby="alias-hint alias-error""#)
    );
    assert!(body.contains("A subaccount id starts with SA"));
}

#[tokio::test]
async fn only_admins_delete_and_only_after_confirming() {
    let app = with_numbers().await;
    let mut auditor = app.signed_in("ivy", Role::Auditor).await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let mut admin = app.signed_in("ada", Role::Admin).await;
    for browser in [&mut auditor, &mut op] {
        assert_eq!(
            browser.get("/caller-ids/12025551234/delete").await.status(),
            StatusCode::FORBIDDEN
        );
        browser.page("/").await;
        assert_eq!(
            browser
                .post("/caller-ids/12025551234/delete", &[])
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
    }
    let (status, confirm) = admin.page("/caller-ids/12025551234/delete").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        confirm.contains(r#"Delete <span class="number">+1 202-555-1234</span> (Front Desk)?"#),
        "{confirm}"
    );
    let r = admin.post("/caller-ids/12025551234/delete", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, list) = admin.page("/").await;
    assert!(list.contains("Deleted +1 202-555-1234 (Front Desk)."));
    assert!(!list.contains(r#"href="/caller-ids/12025551234""#));
    let gone = app
        .state
        .plivo
        .get(&PhoneNumber::from_e164("+12025551234").unwrap())
        .await;
    assert_eq!(gone.unwrap_err().status(), Some(404));
    // The app made this change itself: the sync has nothing to report.
    let summary = app.sync().await.unwrap();
    assert_eq!(summary.counts.removed, 0);
    assert_eq!(app.count_events("caller_id_removed_at_plivo").await, 0);
}

#[tokio::test]
async fn the_list_shows_the_last_sync_and_a_failed_one_in_plain_words() {
    let app = with_numbers().await;
    let mut me = app.signed_in("ivy", Role::Auditor).await;
    let (_, body) = me.page("/").await;
    assert!(body.contains("Last synced with Plivo"), "{body}");
    assert!(!body.contains("Sync now"), "auditors can't start a sync");

    app.sandbox().set_faults(Faults {
        rules: vec![Rule {
            count: 5,
            method: Some("GET".into()),
            path: Some("/VerifiedCallerId/".into()),
            fault: Fault::Html502,
        }],
        ..Default::default()
    });
    assert!(app.sync().await.is_err());
    let (_, body) = me.page("/").await;
    assert!(body.contains("did not finish"), "{body}");
    assert!(
        body.contains("Plivo&#39;s answer could not be read"),
        "{body}"
    );
}

#[tokio::test]
async fn the_status_poll_announces_a_finished_run() {
    let app = TestApp::spawn().await;
    let op = app.signed_in("olive", Role::Operator).await;
    let summary = app.sync().await.unwrap();
    let r = op
        .client
        .get(op.url(&format!("/sync/status?watching={}", summary.run_id + 100)))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("hx-trigger").unwrap(), "sync-finished");
    let body = r.text().await.unwrap();
    assert!(body.contains("Last synced with Plivo") && !body.contains("<html"));
}
