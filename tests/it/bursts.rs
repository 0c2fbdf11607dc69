//! Every limit, tried as an attacker would: requests released together by a barrier (20 or more
//! at once, each on a connection opened beforehand), against the real app over HTTP. Each test
//! counts exactly how many actions went through (password checks in the audit log, codes and
//! sends in the sandbox's request journal) and that the audit log agrees.

use crate::helpers::{Browser, PASSWORD, TestApp, location, serve_args};
use callerdesk::{domain::Role, sandbox::Faults};
use reqwest::StatusCode;
use std::{future::Future, sync::Arc};
use tokio::sync::Barrier;

/// Runs one request per item, all released together; returns (status, body or `Location`) in
/// item order. `prepare` runs first for every item, and a request is made on each browser so
/// its connection is open when the barrier falls; `send` runs after the barrier.
async fn together<T, P, PF, S, SF>(items: Vec<T>, prepare: P, send: S) -> Vec<(StatusCode, String)>
where
    T: Send + 'static,
    P: Fn() -> PF,
    PF: Future<Output = Browser>,
    S: Fn(T, Browser) -> SF + Send + Sync + Clone + 'static,
    SF: Future<Output = reqwest::Response> + Send,
{
    let mut ready = Vec::new();
    for item in items {
        let mut browser = prepare().await;
        browser.get("/healthz").await;
        ready.push((item, browser));
    }
    let barrier = Arc::new(Barrier::new(ready.len()));
    let tasks: Vec<_> = ready
        .into_iter()
        .map(|(item, browser)| {
            let (barrier, send) = (barrier.clone(), send.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = send(item, browser).await;
                let status = response.status();
                let location = location(&response);
                let body = response.text().await.unwrap_or_default();
                (status, if body.is_empty() { location } else { body })
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// A second handle on a signed-in browser: the same cookies and token, its own connections.
fn twin(browser: &Browser) -> Browser {
    Browser {
        base: browser.base.clone(),
        client: browser.client.clone(),
        csrf: browser.csrf.clone(),
    }
}

async fn count_events(app: &TestApp, action: &str, outcome: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = ? AND outcome = ?")
        .bind(action)
        .bind(outcome)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

/// The statuses of a burst's answers, for a failure message.
fn summary(answers: &[(StatusCode, String)]) -> String {
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    format!("statuses {statuses:?}")
}

fn with_text(answers: &[(StatusCode, String)], text: &str) -> usize {
    answers
        .iter()
        .filter(|(_, body)| body.contains(text))
        .count()
}

const WRONG: &str = "That username and password don&#39;t match";
const THROTTLED: &str = "Too many failed sign-ins";

/// A browser that has loaded the sign-in page (and so holds its form token).
async fn at_sign_in(app: &TestApp) -> Browser {
    let mut browser = app.browser();
    browser.page("/login").await;
    browser
}

#[tokio::test]
async fn thirty_wrong_passwords_at_once_for_one_account_are_five_checks() {
    let app = TestApp::spawn().await;
    app.add_user("dana", Role::Operator).await;
    let answers = together(
        (0..30).collect::<Vec<u32>>(),
        || at_sign_in(&app),
        |_, mut b| async move {
            b.post(
                "/login",
                &[
                    ("username", "dana"),
                    ("password", "not the password at all"),
                ],
            )
            .await
        },
    )
    .await;
    assert_eq!(with_text(&answers, WRONG), 5, "{}", summary(&answers));
    assert_eq!(with_text(&answers, THROTTLED), 25);
    assert_eq!(count_events(&app, "sign_in", "failed").await, 5);
    assert_eq!(count_events(&app, "sign_in_throttled", "failed").await, 25);

    // The right password, in a burst of its own now, is refused unchecked every time.
    let answers = together(
        (0..20).collect::<Vec<u32>>(),
        || at_sign_in(&app),
        |_, mut b| async move {
            b.post("/login", &[("username", "dana"), ("password", PASSWORD)])
                .await
        },
    )
    .await;
    assert_eq!(with_text(&answers, THROTTLED), 20, "{}", summary(&answers));
    assert_eq!(count_events(&app, "sign_in", "succeeded").await, 0);
    assert_eq!(count_events(&app, "sign_in", "failed").await, 5);
}

#[tokio::test]
async fn thirty_sign_ins_at_once_from_one_address_are_twenty_checks() {
    let app = TestApp::spawn().await;
    let answers = together(
        (0..30).collect::<Vec<u32>>(),
        || at_sign_in(&app),
        |n, mut b| async move {
            let name = format!("guess{n}");
            b.post(
                "/login",
                &[("username", &name), ("password", "wrong wrong wrong")],
            )
            .await
        },
    )
    .await;
    assert_eq!(with_text(&answers, WRONG), 20, "{}", summary(&answers));
    assert_eq!(with_text(&answers, THROTTLED), 10);
    assert_eq!(count_events(&app, "sign_in", "failed").await, 20);
    assert_eq!(count_events(&app, "sign_in_throttled", "failed").await, 10);
}

#[tokio::test]
async fn twenty_wrong_current_passwords_at_once_are_five_checks() {
    let app = TestApp::spawn().await;
    let dana = app.signed_in("dana", Role::Operator).await;
    let answers = together(
        (0..20).collect::<Vec<u32>>(),
        || async { twin(&dana) },
        |_, mut b| async move {
            b.post(
                "/account/password",
                &[
                    ("current", "not my password at all"),
                    ("new", "a brand new password 1"),
                    ("confirm", "a brand new password 1"),
                ],
            )
            .await
        },
    )
    .await;
    assert_eq!(
        with_text(&answers, "That is not your current password."),
        5,
        "{}",
        summary(&answers)
    );
    assert_eq!(with_text(&answers, "Too many wrong passwords"), 15);
    let failed = |reason: &'static str| {
        let app = &app;
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM audit_events WHERE action = 'password_changed'
                 AND outcome = 'failed' AND json_extract(details, '$.reason') = ?",
            )
            .bind(reason)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap()
        }
    };
    assert_eq!(failed("wrong current password").await, 5);
    assert_eq!(failed("too many wrong passwords").await, 15);
    // The right current password is refused too until the window moves on.
    let mut dana = twin(&dana);
    let r = dana
        .post(
            "/account/password",
            &[
                ("current", PASSWORD),
                ("new", "a brand new password 1"),
                ("confirm", "a brand new password 1"),
            ],
        )
        .await;
    assert!(r.text().await.unwrap().contains("Too many wrong passwords"));
    assert_eq!(count_events(&app, "password_changed", "succeeded").await, 0);
}

/// The verification's code page path, started by `browser`.
async fn start(browser: &mut Browser, number: &str) -> String {
    browser.page("/verify").await;
    let r = browser
        .post("/verify", &[("number", number), ("channel", "sms")])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    location(&r)
}

/// How many requests of this kind the sandbox received: code checks or sends.
fn at_plivo(app: &TestApp, kind: &str) -> usize {
    app.sandbox()
        .requests()
        .iter()
        .filter(|(method, path)| {
            method == "POST"
                && match kind {
                    "code" => path.contains("/Verification/"),
                    _ => path.ends_with("/VerifiedCallerId/"),
                }
        })
        .count()
}

#[tokio::test]
async fn wrong_codes_arriving_together_reach_plivo_one_at_a_time_and_five_in_all() {
    let app = TestApp::spawn().await;
    let olive = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut twin(&olive), "202-555-0143").await;
    let id = path.rsplit('/').next().unwrap().to_owned();
    let (_, page) = twin(&olive).page(&path).await;
    let marker = "the code sent is <code>";
    let at = page.find(marker).unwrap() + marker.len();
    let right: String = page[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    // Plivo takes a second to check each code, so a burst is all in flight together.
    app.sandbox().set_faults(Faults {
        latency_ms: 1000,
        ..Faults::default()
    });
    let mut burst = 0;
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM verifications WHERE id = ?")
            .bind(&id)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
        if status != "pending" {
            assert_eq!(status, "failed");
            break;
        }
        burst += 1;
        assert!(burst <= 5, "still pending after {burst} bursts");
        let before = at_plivo(&app, "code");
        let (olive, path, wrong) = (&olive, path.clone(), wrong.to_owned());
        let answers = together(
            (0..20).collect::<Vec<u32>>(),
            || async { twin(olive) },
            move |_, mut b| {
                let (path, wrong) = (path.clone(), wrong.clone());
                async move { b.post(&format!("{path}/code"), &[("code", &wrong)]).await }
            },
        )
        .await;
        assert_eq!(at_plivo(&app, "code") - before, 1, "one code at a time");
        assert_eq!(
            answers
                .iter()
                .filter(|(s, _)| *s == StatusCode::CONFLICT)
                .count(),
            19,
            "the others are told to wait: {}",
            summary(&answers)
        );
    }
    assert_eq!(at_plivo(&app, "code"), 5);
    // The right code now never reaches Plivo, and the number is not verified.
    app.sandbox().set_faults(Faults::default());
    let r = twin(&olive)
        .post(&format!("{path}/code"), &[("code", &right)])
        .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("no longer waiting for a code")
    );
    assert_eq!(at_plivo(&app, "code"), 5);
    let cached: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM caller_ids")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(cached, 0);
    assert_eq!(
        count_events(&app, "verification_completed", "requested").await,
        5
    );
    assert_eq!(
        count_events(&app, "verification_code_rejected", "failed").await,
        5
    );
    assert_eq!(
        count_events(&app, "verification_completed", "succeeded").await,
        0
    );
}

async fn app_with_limits(per_number: &str, per_person: &str) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.codes_per_number_per_day = per_number.into();
    args.codes_per_person_per_hour = per_person.into();
    TestApp::spawn_with(dir, args).await
}

#[tokio::test]
async fn twenty_starts_at_once_for_one_number_send_ten_codes() {
    let app = app_with_limits("10", "100").await;
    let olive = app.signed_in("olive", Role::Operator).await;
    let answers = together(
        (0..20).collect::<Vec<u32>>(),
        || async { twin(&olive) },
        |_, mut b| async move {
            b.post("/verify", &[("number", "202-555-0143"), ("channel", "sms")])
                .await
        },
    )
    .await;
    let limited = answers
        .iter()
        .filter(|(s, body)| {
            *s == StatusCode::TOO_MANY_REQUESTS
                && body.contains("This number has been sent 10 codes")
        })
        .count();
    assert_eq!(limited, 10, "{}", summary(&answers));
    assert_eq!(at_plivo(&app, "send"), 10);
    assert_eq!(
        count_events(&app, "verification_started", "requested").await,
        10
    );
    assert_eq!(
        count_events(&app, "verification_started", "succeeded").await,
        10
    );
}

#[tokio::test]
async fn twenty_starts_at_once_by_one_person_stop_at_the_hourly_limit() {
    let app = app_with_limits("10", "5").await;
    let olive = app.signed_in("olive", Role::Operator).await;
    let answers = together(
        (0..20).collect::<Vec<u32>>(),
        || async { twin(&olive) },
        |n, mut b| async move {
            let number = format!("202-555-01{n:02}");
            b.post("/verify", &[("number", &number), ("channel", "sms")])
                .await
        },
    )
    .await;
    let limited = with_text(&answers, "You have sent 5 codes in the last hour");
    assert_eq!(limited, 15, "{}", summary(&answers));
    assert_eq!(at_plivo(&app, "send"), 5);
    assert_eq!(
        count_events(&app, "verification_started", "requested").await,
        5
    );
}

#[tokio::test]
async fn twenty_new_code_requests_at_once_send_one_code() {
    let app = TestApp::spawn().await;
    let olive = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut twin(&olive), "202-555-0143").await;
    app.state.clock.advance(time::Duration::seconds(61));
    let resend = format!("{path}/resend");
    together(
        (0..20).collect::<Vec<u32>>(),
        || async { twin(&olive) },
        move |_, mut b| {
            let resend = resend.clone();
            async move { b.post(&resend, &[("channel", "sms")]).await }
        },
    )
    .await;
    assert_eq!(at_plivo(&app, "send"), 2, "the first code and one new one");
    assert_eq!(
        count_events(&app, "verification_started", "requested").await,
        2
    );
    let sends: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM verification_sends")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(sends, 2);
}

#[tokio::test]
async fn a_right_code_checked_while_the_verification_is_cancelled_is_recorded_as_it_happened() {
    let app = TestApp::spawn().await;
    let olive = app.signed_in("olive", Role::Operator).await;
    let path = start(&mut twin(&olive), "202-555-0143").await;
    let id = path.rsplit('/').next().unwrap().to_owned();
    let (_, page) = twin(&olive).page(&path).await;
    let marker = "the code sent is <code>";
    let at = page.find(marker).unwrap() + marker.len();
    let right: String = page[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    app.sandbox().set_faults(Faults {
        latency_ms: 1000,
        ..Faults::default()
    });
    let submitting = {
        let (mut b, path) = (twin(&olive), path.clone());
        tokio::spawn(async move { b.post(&format!("{path}/code"), &[("code", &right)]).await })
    };
    // Cancel while Plivo is still checking the code.
    while at_plivo(&app, "code") == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = twin(&olive).post(&format!("{path}/cancel"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let answer = submitting.await.unwrap().text().await.unwrap();
    assert!(
        answer.contains("Plivo accepted the code") && answer.contains("someone cancelled it"),
        "{answer}"
    );
    // It left pending once, as cancelled; Plivo verified the number, so the cache says so.
    let status: String = sqlx::query_scalar("SELECT status FROM verifications WHERE id = ?")
        .bind(&id)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
    let cached: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM caller_ids WHERE phone_number = '+12025550143' AND removed_at IS NULL",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(cached, 1);
    let late: String = sqlx::query_scalar(
        "SELECT json_extract(details, '$.verification_had_ended') FROM audit_events
         WHERE action = 'verification_completed' AND outcome = 'succeeded'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(late, "cancelled");
}

#[tokio::test]
async fn thirty_people_signing_in_at_once_from_one_office_all_get_in() {
    let app = TestApp::spawn().await;
    for n in 0..30 {
        app.add_user(&format!("staff{n}"), Role::Operator).await;
    }
    let answers = together(
        (0..30).collect::<Vec<u32>>(),
        || at_sign_in(&app),
        |n, mut b| async move {
            b.post(
                "/login",
                &[("username", &format!("staff{n}")), ("password", PASSWORD)],
            )
            .await
        },
    )
    .await;
    let in_ = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(in_, 30, "{}", summary(&answers));
    assert_eq!(count_events(&app, "sign_in", "succeeded").await, 30);
    assert_eq!(count_events(&app, "sign_in_throttled", "failed").await, 0);
}
