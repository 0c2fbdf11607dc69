//! Verifying a number through the pages, against the sandbox over real HTTP.

use crate::helpers::{Browser, TestApp, location, serve_args};
use callerdesk::{
    domain::Role,
    sandbox::{Fault, Faults, Rule},
};
use reqwest::StatusCode;
use std::sync::Arc;
use time::Duration;

/// Starts a verification from the form; returns the verification's page path.
async fn start(browser: &mut Browser, number: &str, channel: &str) -> String {
    browser.page("/verify").await;
    let r = browser
        .post(
            "/verify",
            &[
                ("number", number),
                ("alias", "Front desk"),
                ("channel", channel),
                ("subaccount", ""),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    location(&r)
}

/// The code the sandbox shows on the page.
fn shown_code(page: &str) -> String {
    let marker = "the code sent is <code>";
    let at = page.find(marker).expect("the sandbox shows the code") + marker.len();
    page[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

async fn submit(browser: &mut Browser, path: &str, code: &str) -> reqwest::Response {
    browser
        .post(&format!("{path}/code"), &[("code", code)])
        .await
}

fn wrong(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

async fn events(
    app: &TestApp,
    verification: &str,
) -> Vec<(String, String, String, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT action, outcome, actor_name, client_ip, plivo_api_id FROM audit_events WHERE verification_id = ? ORDER BY id",
    )
    .bind(verification)
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap()
}

fn id_of(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_owned()
}

async fn starts_at_plivo(app: &TestApp) -> usize {
    app.sandbox()
        .requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.ends_with("/VerifiedCallerId/"))
        .count()
}

#[tokio::test]
async fn a_number_is_verified_by_text_and_by_call() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    for (number, channel, e164) in [
        ("(202) 555-0143", "sms", "+12025550143"),
        ("+44 20 7946 0958", "call", "+442079460958"),
    ] {
        let path = start(&mut op, number, channel).await;
        let (status, page) = op.page(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("expires at"), "{page}");
        let code = shown_code(&page);
        let outbox = app.sandbox().outbox();
        assert_eq!(
            (outbox[0].phone_number.as_str(), outbox[0].channel.as_str()),
            (e164, channel)
        );

        let r = submit(&mut op, &path, &code).await;
        assert_eq!(location(&r), path);
        let (_, done) = op.page(&path).await;
        assert!(done.contains("is now a verified caller ID"), "{done}");
        let by: (Option<String>, String) =
            sqlx::query_as("SELECT verified_by_name, alias FROM caller_ids WHERE phone_number = ?")
                .bind(e164)
                .fetch_one(&app.state.db.reader)
                .await
                .unwrap();
        assert_eq!(by, (Some("olive".into()), "Front desk".into()));

        let log = events(&app, &id_of(&path)).await;
        let steps: Vec<(&str, &str)> = log
            .iter()
            .map(|(a, o, ..)| (a.as_str(), o.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                ("verification_started", "requested"),
                ("verification_started", "succeeded"),
                ("verification_completed", "requested"),
                ("verification_completed", "succeeded"),
            ]
        );
        assert!(
            log.iter()
                .all(|(_, _, actor, ip, _)| actor == "olive" && ip.as_deref() == Some("127.0.0.1"))
        );
        assert!(
            log[1].4.is_some() && log[3].4.is_some(),
            "Plivo's api_id is kept: {log:?}"
        );
    }
    let (_, list) = op.page("/").await;
    assert!(list.contains("+1 202-555-0143") && list.contains("by olive"));
}

#[tokio::test]
async fn five_wrong_codes_lock_the_verification() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut op, "202-555-0150", "sms").await;
    let (_, page) = op.page(&path).await;
    let code = shown_code(&page);
    for left in (1..5).rev() {
        let r = submit(&mut op, &path, wrong(&code)).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = r.text().await.unwrap();
        assert!(body.contains(&format!("{left} tr")), "{body}");
        // The wrong-code message says how many tries are left, and says it once.
        assert_eq!(body.matches(" left.").count(), 1, "{body}");
        assert!(body.contains(r#"aria-describedby="code-hint code-error""#));
    }
    let last = submit(&mut op, &path, wrong(&code))
        .await
        .text()
        .await
        .unwrap();
    assert!(last.contains("Five wrong codes were entered"), "{last}");

    let asked = app.sandbox().requests().len();
    let late = submit(&mut op, &path, &code).await.text().await.unwrap();
    assert!(late.contains("no longer waiting for a code"));
    assert_eq!(app.sandbox().requests().len(), asked, "Plivo was not asked");
    assert_eq!(app.count_events("verification_code_rejected").await, 5);
    let status: String = sqlx::query_scalar("SELECT status FROM verifications")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(status, "failed");
}

#[tokio::test]
async fn an_expired_verification_refuses_a_code_without_asking_plivo() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut op, "202-555-0151", "sms").await;
    let (_, page) = op.page(&path).await;
    let code = shown_code(&page);
    app.state.clock.advance(Duration::minutes(15));
    let asked = app.sandbox().requests().len();
    let body = submit(&mut op, &path, &code).await.text().await.unwrap();
    assert!(body.contains("this verification expired"), "{body}");
    assert_eq!(app.sandbox().requests().len(), asked);
    assert_eq!(app.count_events("verification_expired").await, 1);
    let (_, list) = op.page("/").await;
    assert!(!list.contains("Waiting for a code"));
}

#[tokio::test]
async fn overdue_verifications_are_expired_by_the_system() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    start(&mut op, "202-555-0152", "sms").await;
    let (_, list) = op.page("/").await;
    assert!(list.contains("Waiting for a code") && list.contains("+1 202-555-0152"));
    app.state.clock.advance(Duration::minutes(16));
    assert_eq!(app.state.verifier.expire_overdue().await.unwrap(), 1);
    let who: String = sqlx::query_scalar(
        "SELECT actor_name FROM audit_events WHERE action = 'verification_expired'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(who, "system");
}

#[tokio::test]
async fn a_new_code_waits_a_minute_and_replaces_the_old_one() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut op, "202-555-0153", "sms").await;
    let (_, page) = op.page(&path).await;
    let first = shown_code(&page);

    op.post(&format!("{path}/resend"), &[("channel", "call")])
        .await;
    let (_, page) = op.page(&path).await;
    assert!(
        page.contains("less than a minute ago") && page.contains("Try again in"),
        "{page}"
    );
    // Nothing was sent: a warning, not green news.
    assert!(
        page.contains(r#"<div class="notice notice--warning" role="alert">"#),
        "{page}"
    );
    assert_eq!(shown_code(&page), first);

    app.state.clock.advance(Duration::seconds(61));
    op.post(&format!("{path}/resend"), &[("channel", "call")])
        .await;
    let (_, page) = op.page(&path).await;
    assert!(
        page.contains("A new code is on its way by phone call"),
        "{page}"
    );
    assert!(
        page.contains(r#"<div class="notice" role="status">A new code is on its way"#)
            && !page.contains("notice--warning"),
        "{page}"
    );
    let second = shown_code(&page);
    assert_eq!(app.sandbox().outbox()[0].channel.as_str(), "call");
    if first != second {
        let body = submit(&mut op, &path, &first).await.text().await.unwrap();
        assert!(
            body.contains("That code is not right"),
            "the old code no longer works"
        );
    }
    submit(&mut op, &path, &second).await;
    let (_, done) = op.page(&path).await;
    assert!(done.contains("is now a verified caller ID"));
}

async fn app_with_limits(per_number: &str, per_person: &str) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.codes_per_number_per_day = per_number.into();
    args.codes_per_person_per_hour = per_person.into();
    TestApp::spawn_with(dir, args).await
}

#[tokio::test]
async fn codes_per_number_per_day_are_limited() {
    let app = app_with_limits("2", "30").await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut op, "202-555-0154", "sms").await;
    app.state.clock.advance(Duration::seconds(61));
    op.post(&format!("{path}/resend"), &[("channel", "sms")])
        .await;
    app.state.clock.advance(Duration::seconds(61));
    op.post(&format!("{path}/resend"), &[("channel", "sms")])
        .await;
    let (_, page) = op.page(&path).await;
    assert!(
        page.contains("This number has been sent 2 codes in the last 24 hours"),
        "{page}"
    );
    assert!(page.contains("Try again in 24 hours"));
    assert_eq!(starts_at_plivo(&app).await, 2);
}

#[tokio::test]
async fn codes_per_person_per_hour_are_limited() {
    let app = app_with_limits("10", "2").await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    start(&mut op, "202-555-0155", "sms").await;
    start(&mut op, "202-555-0156", "sms").await;
    op.page("/verify").await;
    let r = op
        .post("/verify", &[("number", "202-555-0157"), ("channel", "sms")])
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("You have sent 2 codes in the last hour")
            && body.contains("Try again in 60 minutes"),
        "{body}"
    );
    assert_eq!(starts_at_plivo(&app).await, 2);
}

#[tokio::test]
async fn plivo_failing_on_start_is_explained_and_recorded_and_never_retried() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.plivo_timeout = "1s".into();
    let app = TestApp::spawn_with(dir, args).await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let cases = [
        (
            Fault::Status {
                status: 500,
                error: Some("internal error".into()),
            },
            "Plivo had a problem on its side",
        ),
        (Fault::Hang, "Plivo did not answer in time"),
        (Fault::MalformedJson, "Plivo's answer could not be read"),
        (
            Fault::RateLimited {
                retry_after_secs: 7,
            },
            "try again in 7 seconds",
        ),
    ];
    for (i, (fault, says)) in cases.into_iter().enumerate() {
        app.sandbox().set_faults(Faults {
            rules: vec![Rule {
                count: 1,
                method: Some("POST".into()),
                path: None,
                fault,
            }],
            ..Default::default()
        });
        let before = starts_at_plivo(&app).await;
        let path = start(&mut op, &format!("202-555-016{i}"), "sms").await;
        assert_eq!(
            starts_at_plivo(&app).await,
            before + 1,
            "exactly one request reached Plivo"
        );
        let (_, page) = op.page(&path).await;
        let plain = page.replace("&#39;", "'");
        assert!(
            plain.contains("Plivo did not confirm sending a code.")
                && plain.contains(says)
                && !plain.contains("code sent by"),
            "{says}: {page}"
        );
        assert!(plain.contains("Start again"));
        let log = events(&app, &id_of(&path)).await;
        let steps: Vec<(&str, &str)> = log
            .iter()
            .map(|(a, o, ..)| (a.as_str(), o.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                ("verification_started", "requested"),
                ("verification_started", "failed")
            ]
        );
        let (status, failure): (String, Option<String>) =
            sqlx::query_as("SELECT status, failure FROM verifications WHERE id = ?")
                .bind(id_of(&path))
                .fetch_one(&app.state.db.reader)
                .await
                .unwrap();
        assert_eq!(status, "failed");
        assert!(failure.unwrap().replace("&#39;", "'").contains(says));
    }
}

#[tokio::test]
async fn plivo_failing_on_the_code_costs_no_attempt() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut op, "202-555-0170", "sms").await;
    let (_, page) = op.page(&path).await;
    let code = shown_code(&page);
    app.sandbox().set_faults(Faults {
        rules: vec![Rule {
            count: 1,
            method: Some("POST".into()),
            path: Some("/Verification/".into()),
            fault: Fault::Html502,
        }],
        ..Default::default()
    });
    let body = submit(&mut op, &path, &code)
        .await
        .text()
        .await
        .unwrap()
        .replace("&#39;", "'");
    assert!(
        body.contains("The code was not checked. Plivo's answer could not be read"),
        "{body}"
    );
    assert!(body.contains("5 tries left"));
    let failed: (String, Option<i64>) = sqlx::query_as(
        "SELECT outcome, plivo_status FROM audit_events WHERE action = 'verification_completed' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(failed, ("failed".into(), Some(502)));
    submit(&mut op, &path, &code).await;
    let (_, done) = op.page(&path).await;
    assert!(done.contains("is now a verified caller ID"));
}

#[tokio::test]
async fn a_colleague_finishes_a_verification_and_an_auditor_only_looks() {
    let app = TestApp::spawn().await;
    let mut olive = app.signed_in("olive", Role::Operator).await;
    let mut otis = app.signed_in("otis", Role::Operator).await;
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;
    let path = start(&mut olive, "202-555-0171", "sms").await;

    let (_, list) = otis.page("/").await;
    assert!(list.contains(&format!(r#"href="{path}""#)) && list.contains("started by olive"));
    let (status, seen) = ivy.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !seen.contains("Check the code"),
        "no code form for auditors"
    );
    ivy.page("/").await;
    assert_eq!(
        submit(&mut ivy, &path, "123456").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ivy.post(&format!("{path}/resend"), &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ivy.post(&format!("{path}/cancel"), &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(ivy.get("/verify").await.status(), StatusCode::FORBIDDEN);

    let (_, page) = otis.page(&path).await;
    submit(&mut otis, &path, &shown_code(&page)).await;
    let (_, done) = otis.page(&path).await;
    assert!(done.contains("otis entered the code"), "{done}");
    let log = events(&app, &id_of(&path)).await;
    assert_eq!(log[0].2, "olive");
    assert_eq!(log.last().unwrap().2, "otis");
}

#[tokio::test]
async fn cancel_ends_a_pending_verification() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut op, "202-555-0172", "sms").await;
    let r = op.post(&format!("{path}/cancel"), &[]).await;
    assert_eq!(location(&r), "/");
    let (_, list) = op.page("/").await;
    assert!(list.contains("The verification of +1 202-555-0172 was cancelled"));
    let (_, page) = op.page(&path).await;
    assert!(page.contains("was cancelled by olive") && page.contains("Start again"));
    assert_eq!(app.count_events("verification_cancelled").await, 1);
}

#[tokio::test]
async fn typed_numbers_are_previewed_or_explained() {
    let app = TestApp::spawn().await;
    app.verify_at_plivo("+12025550188", "Known").await;
    app.sync().await.unwrap();
    let mut op = app.signed_in("olive", Role::Operator).await;
    let forty = "1".repeat(40);
    let cases: [(&str, &str); 9] = [
        ("(202) 555-1234", "+1 202-555-1234, the United States"),
        ("202.555.1234", "+1 202-555-1234, the United States"),
        ("+44 20 7946 0958", "+44 20 7946 0958, the United Kingdom"),
        (
            "+1 202 555 12",
            "That number is too short for the United States.",
        ),
        ("hello", "That doesn&#39;t look like a phone number."),
        ("", ""),
        (forty.as_str(), "That number is too long"),
        ("+999 1234567", "No country uses that code."),
        ("202 555 0188", "already a verified caller ID"),
    ];
    for (typed, says) in cases {
        let q: String = url::form_urlencoded::byte_serialize(typed.as_bytes()).collect();
        let (status, body) = op.page(&format!("/verify/preview?number={q}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(says), "{typed:?}: {body}");
        assert!(!body.contains("<html"));
    }
    // Submitting an empty or known number sends nothing.
    op.page("/verify").await;
    let empty = op
        .post("/verify", &[("number", ""), ("channel", "sms")])
        .await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty
            .text()
            .await
            .unwrap()
            .contains("Enter the phone number to verify.")
    );
    let known = op
        .post("/verify", &[("number", "202 555 0188"), ("channel", "sms")])
        .await;
    assert_eq!(known.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        known
            .text()
            .await
            .unwrap()
            .contains(r#"href="/caller-ids/12025550188""#)
    );
    assert_eq!(
        starts_at_plivo(&app).await,
        1,
        "only the setup's own verification"
    );
}

#[tokio::test]
async fn the_code_is_never_stored() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let code = "58316904";
    app.sandbox().set_next_code(code);
    let path = start(&mut op, "202-555-0173", "sms").await;
    submit(&mut op, &path, "58316905").await;
    submit(&mut op, &path, code).await;
    let (_, done) = op.page(&path).await;
    assert!(done.contains("is now a verified caller ID"));
    let db = app.db_path();
    let mut files = vec![db.clone()];
    files.push(db.with_extension("db-wal"));
    for file in files {
        if let Ok(bytes) = std::fs::read(&file) {
            for needle in [code, "58316905"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle} found in {}",
                    file.display()
                );
            }
        }
    }
}

/// Whether `code` stands alone in `text` (not inside a longer run of digits, and not the
/// fraction of a timestamp), as a leaked code would.
fn stands_alone(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().last();
        let after = text[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn stands_alone_ignores_timestamps_and_longer_numbers() {
    assert!(stands_alone("code=123456 ok", "123456"));
    assert!(!stands_alone("at 2026-11-26T01:04:28.123456Z", "123456"));
    assert!(!stands_alone("id 91234567", "123456"));
}

#[tokio::test]
async fn the_code_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, setup, logs) = crate::helpers::spawn_until(
        crate::helpers::serve_in_sandbox(&dir.path().join("callerdesk.db"))
            .env("RUST_LOG", "trace"),
        "/setup?token=",
    );
    let base = setup.split("/setup").next().unwrap().to_owned();
    let token = setup.split("token=").nth(1).unwrap().to_owned();
    let mut browser = Browser::new(&base);
    browser.page(&format!("/setup?token={token}")).await;
    let pw = crate::helpers::PASSWORD;
    browser
        .post(
            "/setup",
            &[
                ("token", &token),
                ("username", "ada"),
                ("password", pw),
                ("confirm", pw),
            ],
        )
        .await;
    browser.sign_in("ada", pw).await;
    let path = start(&mut browser, "202-555-0174", "sms").await;
    let (_, page) = browser.page(&path).await;
    let code = shown_code(&page);
    submit(&mut browser, &path, wrong(&code)).await;
    submit(&mut browser, &path, &code).await;
    let (_, done) = browser.page(&path).await;
    assert!(done.contains("is now a verified caller ID"));

    let _ = child.kill();
    let _ = child.wait();
    let logs = logs.join().unwrap();
    assert!(
        logs.contains("verification"),
        "the log was captured: {logs}"
    );
    for c in [code.as_str(), wrong(&code)] {
        assert!(!stands_alone(&logs, c), "the code {c} is in the log");
    }
}

#[tokio::test]
async fn wrong_number_cancels_and_goes_back_to_the_form_with_the_fields_kept() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut op, "202-555-0157", "call").await;
    let (_, page) = op.page(&path).await;
    assert!(page.contains("Wrong number? Change it"), "{page}");

    let r = op
        .post(&format!("{path}/cancel"), &[("then", "edit")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location(&r);
    assert!(back.starts_with("/verify?number=%2B12025550157"), "{back}");
    let (_, form) = op.page(&back).await;
    assert!(
        form.contains("was cancelled. Correct the number below and send a new code."),
        "{form}"
    );
    assert!(
        form.contains(r#"value="+12025550157""#) && form.contains(r#"value="Front desk""#),
        "the fields are kept: {form}"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM verifications")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
}

#[tokio::test]
async fn an_expired_verification_offers_only_start_again() {
    let app = TestApp::spawn().await;
    let mut op = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut op, "202-555-0158", "sms").await;
    // Past the 15 minutes, before the regular sweep has marked it.
    app.state.clock.advance(Duration::minutes(16));
    let (_, page) = op.page(&path).await;
    assert!(page.contains("This verification expired"), "{page}");
    assert!(page.contains("Start again"), "{page}");
    for gone in [
        "Check the code",
        "Send a new code",
        "Wrong number?",
        "Cancel this verification",
    ] {
        assert!(!page.contains(gone), "{gone} is still offered: {page}");
    }
    assert_eq!(app.count_events("verification_expired").await, 1);
}
