//! Two-step sign-in with an authenticator app, on the app's adjustable clock: setting it up,
//! wrong, replayed and recovery codes, the requirement, an admin's reset, and a burst of one
//! code.

use crate::helpers::{Browser, PASSWORD, TestApp, location, serve_args};
use callerdesk::auth::two_step::{code_at_step, step_at};
use callerdesk::domain::Role;
use reqwest::StatusCode;
use std::sync::Arc;
use tempfile::TempDir;
use time::Duration;

/// The seed shown on the setup page (as typed into an app by hand).
fn seed_on(page: &str) -> Vec<u8> {
    let start = page.find(r#"id="seed">"#).expect("the seed is shown") + r#"id="seed">"#.len();
    let end = page[start..].find('<').unwrap() + start;
    let text: String = page[start..end].split_whitespace().collect();
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &text).unwrap()
}

/// The recovery codes shown once two-step sign-in is on.
fn recovery_codes_on(page: &str) -> Vec<String> {
    let list = &page[page.find(r#"id="recovery-codes""#).unwrap()..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<code>")
        .skip(1)
        .map(|c| c[..c.find("</code>").unwrap()].to_owned())
        .collect()
}

fn code_now(app: &TestApp, seed: &[u8]) -> String {
    code_at_step(seed, step_at(app.state.clock.now().unix_timestamp())).unwrap()
}

/// Sets up an authenticator app for the signed-in `browser`; returns its seed and the
/// recovery codes. The clock then moves to the next step, so the code used here is old.
async fn turn_on(app: &TestApp, browser: &mut Browser) -> (Vec<u8>, Vec<String>) {
    let (status, page) = browser.page("/account/two-step").await;
    assert_eq!(status, StatusCode::OK);
    if !page.contains(r#"id="seed""#) {
        let started = browser.post("/account/two-step", &[]).await;
        assert_eq!(location(&started), "/account/two-step");
    }
    let (_, page) = browser.page("/account/two-step").await;
    assert!(page.contains("<svg"), "the QR code is drawn on the page");
    let seed = seed_on(&page);
    let on = browser
        .post(
            "/account/two-step/confirm",
            &[("code", &code_now(app, &seed))],
        )
        .await;
    assert_eq!(on.status(), StatusCode::OK);
    let page = on.text().await.unwrap();
    let codes = recovery_codes_on(&page);
    app.state.clock.advance(Duration::seconds(30));
    (seed, codes)
}

/// Signs in with the password; the second step is then due.
async fn password_only(browser: &mut Browser, name: &str) {
    let response = browser.sign_in(name, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login/two-step");
}

async fn second_step(browser: &mut Browser, code: &str) -> (StatusCode, String, String) {
    browser.page("/login/two-step").await;
    let response = browser.post("/login/two-step", &[("code", code)]).await;
    let status = response.status();
    let to = location(&response);
    (status, to, response.text().await.unwrap())
}

async fn is_signed_in(browser: &mut Browser) -> bool {
    browser.get("/").await.status() == StatusCode::OK
}

#[tokio::test]
async fn setting_up_an_app_then_signing_in_with_its_codes_once_each() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("ada", Role::Operator).await;
    let (_, account) = browser.page("/account").await;
    assert!(account.contains("Set up two-step sign-in"));

    // A wrong code leaves it off.
    browser.post("/account/two-step", &[]).await;
    let (_, page) = browser.page("/account/two-step").await;
    let seed = seed_on(&page);
    let wrong = browser
        .post("/account/two-step/confirm", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("That code does not match")
    );
    assert_eq!(app.count_events("two_step_enabled").await, 0);

    let confirmed_with = code_now(&app, &seed);
    let on = browser
        .post("/account/two-step/confirm", &[("code", &confirmed_with)])
        .await;
    let page = on.text().await.unwrap();
    let codes = recovery_codes_on(&page);
    assert_eq!(codes.len(), 10);
    assert_eq!(app.count_events("two_step_enabled").await, 1);
    let (_, account) = browser.page("/account").await;
    assert!(account.contains("10 unused recovery codes"));

    // Neither the seed nor a recovery code is in the database as written.
    let file = std::fs::read(app.db_path()).unwrap();
    let wal = std::fs::read(app.dir.path().join("callerdesk.db-wal")).unwrap_or_default();
    for bytes in [&file, &wal] {
        assert!(!bytes.windows(seed.len()).any(|w| w == seed.as_slice()));
        for code in &codes {
            assert!(!bytes.windows(code.len()).any(|w| w == code.as_bytes()));
        }
    }

    // Signing in now takes a code; until then nothing opens.
    browser.post("/logout", &[]).await;
    let mut browser = app.browser();
    password_only(&mut browser, "ada").await;
    assert!(!is_signed_in(&mut browser).await);
    let (status, _, page) = second_step(&mut browser, "123456").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("That code is not right"));
    // The code that confirmed the app is used up, inside its window too.
    let (status, _, page) = second_step(&mut browser, &confirmed_with).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("That code was used already"));

    app.state.clock.advance(Duration::seconds(30));
    let fresh = code_now(&app, &seed);
    let (status, to, _) = second_step(&mut browser, &fresh).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/"));
    assert!(is_signed_in(&mut browser).await);

    // The same code again, from another sign-in in the same 30 seconds: refused.
    let mut other = app.browser();
    password_only(&mut other, "ada").await;
    let (status, _, page) = second_step(&mut other, &fresh).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("used already"));

    // A recovery code works once, however it is typed.
    let (status, _, _) = second_step(&mut other, &codes[3].to_uppercase()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(is_signed_in(&mut other).await);
    let mut third = app.browser();
    password_only(&mut third, "ada").await;
    let (status, _, page) = second_step(&mut third, &codes[3]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("That recovery code was used already"));
    assert!(!is_signed_in(&mut third).await);

    // The audit log says how each sign-in was made and why each failed.
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT outcome || ' ' || json_extract(details, '$.second_step') FROM audit_events
         WHERE action = 'sign_in' AND json_extract(details, '$.second_step') IS NOT NULL ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(
        details,
        [
            "failed wrong code",
            "failed code already used",
            "succeeded authenticator app",
            "failed code already used",
            "succeeded recovery code",
            "failed recovery code already used",
        ]
    );
    let (_, audit) = {
        let mut admin = app.signed_in("root", Role::Admin).await;
        admin.page("/audit?action=sign_in").await
    };
    assert!(audit.contains("signed in with their password and a recovery code (9 codes left)"));
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_wrong_passwords() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("bo", Role::Operator).await;
    let (seed, _) = turn_on(&app, &mut browser).await;
    let mut browser = app.browser();
    password_only(&mut browser, "bo").await;
    for _ in 0..5 {
        let (status, _, _) = second_step(&mut browser, "000000").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // The right code is now refused unchecked, and so is the right password: both wait.
    let (_, _, page) = second_step(&mut browser, &code_now(&app, &seed)).await;
    assert!(page.contains("Too many failed sign-ins"), "{page}");
    let mut again = app.browser();
    let response = again.sign_in("bo", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.count_events("sign_in_throttled").await >= 2);
    // A right password does not wipe the count of wrong codes.
    app.state.clock.advance(Duration::minutes(16));
    password_only(&mut again, "bo").await;
    for _ in 0..4 {
        second_step(&mut again, "000000").await;
    }
    password_only(&mut again, "bo").await;
    second_step(&mut again, "000000").await;
    let (_, _, page) = second_step(&mut again, &code_now(&app, &seed)).await;
    assert!(page.contains("Too many failed sign-ins"), "{page}");
}

#[tokio::test]
async fn a_second_step_left_too_long_or_outlived_by_a_password_reset_starts_over() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("cy", Role::Operator).await;
    let (seed, _) = turn_on(&app, &mut browser).await;
    let mut browser = app.browser();
    password_only(&mut browser, "cy").await;
    app.state.clock.advance(Duration::minutes(6));
    let (status, _, page) = second_step(&mut browser, &code_now(&app, &seed)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("took more than 5 minutes"));
    assert!(!is_signed_in(&mut browser).await);

    // A password reset between the password and the code ends the half-done sign-in.
    let mut browser = app.browser();
    password_only(&mut browser, "cy").await;
    let id = app.state.accounts.by_name("cy").await.unwrap().id;
    let new = callerdesk::domain::Password::parse("another long pass phrase").unwrap();
    app.state
        .accounts
        .reset_password(&callerdesk::audit::Who::command_line(), id, &new, false)
        .await
        .unwrap();
    let (status, _, page) = second_step(&mut browser, &code_now(&app, &seed)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Sign in again"), "{page}");
    assert!(!is_signed_in(&mut browser).await);
}

/// `count` sessions of `name` whose password was right, each on the second step's page.
async fn half_signed_in(app: &TestApp, name: &str, count: usize) -> Vec<Browser> {
    let mut browsers = Vec::new();
    for _ in 0..count {
        let mut b = app.browser();
        password_only(&mut b, name).await;
        b.page("/login/two-step").await;
        browsers.push(b);
    }
    browsers
}

/// Each browser sends its code, all released together by a barrier; how many got signed in.
async fn send_together(browsers: Vec<Browser>, codes: Vec<String>) -> usize {
    let barrier = Arc::new(tokio::sync::Barrier::new(browsers.len()));
    let tries = browsers.into_iter().zip(codes).map(|(mut b, code)| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            let response = b.post("/login/two-step", &[("code", &code)]).await;
            let passed = response.status() == StatusCode::SEE_OTHER;
            passed && is_signed_in(&mut b).await
        })
    });
    futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count()
}

async fn sign_ins(app: &TestApp, outcome: &str, second_step: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'sign_in' AND outcome = ?
         AND json_extract(details, '$.second_step') = ?",
    )
    .bind(outcome)
    .bind(second_step)
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap()
}

#[tokio::test]
async fn twenty_four_sign_ins_bringing_one_code_at_once_sign_in_once() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("dee", Role::Operator).await;
    let (seed, _) = turn_on(&app, &mut browser).await;
    let browsers = half_signed_in(&app, "dee", 24).await;
    let code = code_now(&app, &seed);
    let passed = send_together(browsers, vec![code; 24]).await;
    assert_eq!(passed, 1, "one code, one sign-in");
    assert_eq!(sign_ins(&app, "succeeded", "authenticator app").await, 1);
}

#[tokio::test]
async fn twenty_four_sign_ins_bringing_one_recovery_code_at_once_sign_in_once() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("dot", Role::Operator).await;
    let (_, codes) = turn_on(&app, &mut browser).await;
    let browsers = half_signed_in(&app, "dot", 24).await;
    let passed = send_together(browsers, vec![codes[0].clone(); 24]).await;
    assert_eq!(passed, 1, "one recovery code, one sign-in");
    assert_eq!(sign_ins(&app, "succeeded", "recovery code").await, 1);
    let user = app.state.accounts.by_name("dot").await.unwrap();
    assert_eq!(
        app.state.accounts.recovery_codes_left(&user).await.unwrap(),
        9
    );
}

#[tokio::test]
async fn twenty_four_wrong_codes_at_once_are_five_checks() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("dru", Role::Operator).await;
    let (seed, _) = turn_on(&app, &mut browser).await;
    let browsers = half_signed_in(&app, "dru", 24).await;
    let right = code_now(&app, &seed);
    // Codes that are not the app's in any step it would accept.
    let wrong: Vec<String> = (0..24)
        .map(|i| format!("{:06}", (right.parse::<u32>().unwrap() + 1 + i) % 1_000_000))
        .filter(|c| {
            callerdesk::auth::two_step::matching_step(
                &seed,
                c,
                app.state.clock.now().unix_timestamp(),
            )
            .is_none()
        })
        .collect();
    assert_eq!(wrong.len(), 24);
    let passed = send_together(browsers, wrong).await;
    assert_eq!(passed, 0);
    assert_eq!(
        sign_ins(&app, "failed", "wrong code").await,
        5,
        "five checks"
    );
    assert_eq!(
        app.count_events("sign_in_throttled").await,
        19,
        "the rest refused unchecked"
    );
}

#[tokio::test]
async fn a_required_second_step_is_set_up_at_the_next_sign_in_and_an_admin_can_reset_it() {
    let dir = Arc::new(TempDir::new().unwrap());
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.require_two_step = "true".into();
    let app = TestApp::spawn_with(dir, args).await;
    app.add_user("eve", Role::Operator).await;
    let mut eve = app.browser();
    let response = eve.sign_in("eve", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Every page leads to the setup until it is done.
    for path in ["/", "/verify", "/audit"] {
        let response = eve.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/account/two-step", "{path}");
    }
    let (_, page) = eve.page("/account/two-step").await;
    assert!(page.contains("Your administrator requires two-step sign-in"));
    let (seed, _) = turn_on(&app, &mut eve).await;
    assert_eq!(eve.get("/").await.status(), StatusCode::OK);

    // Lost phone: an admin resets it; eve's password alone signs her in, straight to setup.
    let eve_id = app.state.accounts.by_name("eve").await.unwrap().id;
    let mut admin = app.signed_in("root", Role::Admin).await;
    turn_on(&app, &mut admin).await;
    admin.page("/users").await;
    let reset = admin
        .post(&format!("/users/{eve_id}/two-step/reset"), &[])
        .await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count_events("user_two_step_reset").await, 1);
    let (_, users) = admin.page("/users").await;
    assert!(users.contains("two-step sign-in was reset"));
    let again = admin
        .post(&format!("/users/{eve_id}/two-step/reset"), &[])
        .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let (_, users) = admin.page("/users").await;
    assert!(users.contains("eve has no two-step sign-in to reset."));

    let mut eve = app.browser();
    let response = eve.sign_in("eve", PASSWORD).await;
    assert_eq!(location(&response), "/");
    assert_eq!(location(&eve.get("/").await), "/account/two-step");
    // The old app's codes open nothing.
    let old = code_now(&app, &seed);
    assert_ne!(old, "");
    let (_, page) = eve.page("/account/two-step").await;
    assert!(
        !page.contains(r#"id="seed""#),
        "a new app starts from a new seed"
    );
    // An operator can't reset anyone's.
    let response = eve
        .post(&format!("/users/{eve_id}/two-step/reset"), &[])
        .await;
    assert_ne!(response.status(), StatusCode::OK);
    assert_eq!(app.count_events("user_two_step_reset").await, 1);
}

#[tokio::test]
async fn new_recovery_codes_take_a_current_code_and_retire_the_old_ones() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("fay", Role::Auditor).await;
    let (seed, old) = turn_on(&app, &mut browser).await;
    browser.page("/account").await;

    let wrong = browser
        .post("/account/two-step/recovery-codes", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("That code is not right")
    );

    let made = browser
        .post(
            "/account/two-step/recovery-codes",
            &[("code", &code_now(&app, &seed))],
        )
        .await;
    assert_eq!(made.status(), StatusCode::OK);
    let page = made.text().await.unwrap();
    assert!(page.contains("Your old recovery codes no longer work"));
    let new = recovery_codes_on(&page);
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    let recorded: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM audit_events WHERE action = 'recovery_codes_replaced' ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(recorded, ["failed", "succeeded"]);

    let mut other = app.browser();
    password_only(&mut other, "fay").await;
    let (status, _, page) = second_step(&mut other, &old[0]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("That code is not right"), "{page}");
    let (status, _, _) = second_step(&mut other, &new[0]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, account) = other.page("/account").await;
    assert!(account.contains("9 unused recovery codes"));
}
