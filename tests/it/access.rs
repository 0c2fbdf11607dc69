//! Every route × every kind of visitor: anonymous visitors are sent to sign in, roles without the
//! permission get 403, roles with it get the page (or the action's own answer).

use crate::helpers::{Browser, TestApp, location};
use callerdesk::domain::Role;
use reqwest::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// 303 to the sign-in page.
    SignIn,
    Forbidden,
    /// Allowed: anything but 403 and a redirect to sign-in; the exact status given.
    Allowed(u16),
}
use Expect::*;

enum Method {
    Get,
    Post(&'static [(&'static str, &'static str)]),
}

async fn call(browser: &mut Browser, method: &Method, path: &str) -> reqwest::Response {
    match method {
        Method::Get => browser.get(path).await,
        Method::Post(fields) => browser.post(path, fields).await,
    }
}

fn judge(response: &reqwest::Response) -> Expect {
    let status = response.status();
    let to = location(response);
    if status == StatusCode::SEE_OTHER && (to == "/login" || to.starts_with("/login?next=")) {
        SignIn
    } else if status == StatusCode::FORBIDDEN {
        Forbidden
    } else {
        Allowed(status.as_u16())
    }
}

#[tokio::test]
async fn every_route_checks_the_role_on_the_server() {
    let app = TestApp::spawn().await;
    let mut admin = app.signed_in("admin1", Role::Admin).await;
    let mut operator = app.signed_in("operator1", Role::Operator).await;
    let mut auditor = app.signed_in("auditor1", Role::Auditor).await;
    let mut anonymous = app.browser();
    anonymous.page("/login").await;
    // A user the admin's actions act on; enabling an active user changes nothing.
    let target = app.add_user("target1", Role::Operator).await;
    let t = |action: &str| format!("/users/{target}/{action}");

    let bad_user: &[(&str, &str)] = &[
        ("username", "has space"),
        ("role", "operator"),
        ("password", "x"),
    ];
    let wrong_current: &[(&str, &str)] = &[("current", "nope"), ("new", "x"), ("confirm", "x")];
    let same_role: &[(&str, &str)] = &[("role", "operator")];
    let short_password: &[(&str, &str)] = &[("password", "short")];
    let bad_alias: &[(&str, &str)] = &[("alias", "line\nbreak")];
    let bad_number: &[(&str, &str)] = &[("number", "hello"), ("channel", "sms")];
    let bad_code: &[(&str, &str)] = &[("code", "12")];
    // A caller ID to look at (the sandbox starts with example numbers).
    app.sync().await.unwrap();

    // (method, path, [anonymous, auditor, operator, admin])
    let table: Vec<(Method, String, [Expect; 4])> = vec![
        (
            Method::Get,
            "/".into(),
            [SignIn, Allowed(200), Allowed(200), Allowed(200)],
        ),
        (
            Method::Get,
            "/account".into(),
            [SignIn, Allowed(200), Allowed(200), Allowed(200)],
        ),
        (
            Method::Post(wrong_current),
            "/account/password".into(),
            [SignIn, Allowed(422), Allowed(422), Allowed(422)],
        ),
        (
            Method::Get,
            "/account/two-step".into(),
            [SignIn, Allowed(200), Allowed(200), Allowed(200)],
        ),
        // Nothing being set up: back to the setup page.
        (
            Method::Post(bad_code),
            "/account/two-step/confirm".into(),
            [SignIn, Allowed(303), Allowed(303), Allowed(303)],
        ),
        // No app set up: the code can't be right.
        (
            Method::Post(bad_code),
            "/account/two-step/recovery-codes".into(),
            [SignIn, Allowed(422), Allowed(422), Allowed(422)],
        ),
        (
            Method::Post(&[]),
            t("two-step/reset"),
            [SignIn, Forbidden, Forbidden, Allowed(303)],
        ),
        (
            Method::Get,
            "/users".into(),
            [SignIn, Forbidden, Forbidden, Allowed(200)],
        ),
        (
            Method::Post(bad_user),
            "/users".into(),
            [SignIn, Forbidden, Forbidden, Allowed(422)],
        ),
        (
            Method::Post(same_role),
            t("role"),
            [SignIn, Forbidden, Forbidden, Allowed(303)],
        ),
        (
            Method::Post(short_password),
            t("password"),
            [SignIn, Forbidden, Forbidden, Allowed(303)],
        ),
        (
            Method::Post(&[]),
            t("enable"),
            [SignIn, Forbidden, Forbidden, Allowed(303)],
        ),
        (
            Method::Get,
            "/caller-ids.csv".into(),
            [SignIn, Allowed(200), Allowed(200), Allowed(200)],
        ),
        (
            Method::Get,
            "/caller-ids/12025550000".into(),
            [SignIn, Allowed(200), Allowed(200), Allowed(200)],
        ),
        (
            Method::Post(bad_alias),
            "/caller-ids/12025550000".into(),
            [SignIn, Forbidden, Allowed(422), Allowed(422)],
        ),
        (
            Method::Get,
            "/caller-ids/12025550000/delete".into(),
            [SignIn, Forbidden, Forbidden, Allowed(200)],
        ),
        (
            Method::Post(&[]),
            "/caller-ids/12025550000/refresh".into(),
            [SignIn, Forbidden, Allowed(303), Allowed(303)],
        ),
        (
            Method::Get,
            "/sync/status".into(),
            [SignIn, Allowed(200), Allowed(200), Allowed(200)],
        ),
        (
            Method::Post(&[]),
            "/sync".into(),
            [SignIn, Forbidden, Allowed(303), Allowed(303)],
        ),
        (
            Method::Get,
            "/verify".into(),
            [SignIn, Forbidden, Allowed(200), Allowed(200)],
        ),
        (
            Method::Get,
            "/verify/preview?number=2025551234".into(),
            [SignIn, Forbidden, Allowed(200), Allowed(200)],
        ),
        (
            Method::Post(bad_number),
            "/verify".into(),
            [SignIn, Forbidden, Allowed(422), Allowed(422)],
        ),
        (
            Method::Get,
            "/verify/nope".into(),
            [SignIn, Allowed(404), Allowed(404), Allowed(404)],
        ),
        (
            Method::Post(bad_code),
            "/verify/nope/code".into(),
            [SignIn, Forbidden, Allowed(404), Allowed(404)],
        ),
        (
            Method::Post(&[]),
            "/verify/nope/resend".into(),
            [SignIn, Forbidden, Allowed(404), Allowed(404)],
        ),
        (
            Method::Post(&[]),
            "/verify/nope/cancel".into(),
            [SignIn, Forbidden, Allowed(404), Allowed(404)],
        ),
        (
            Method::Get,
            "/healthz".into(),
            [Allowed(200), Allowed(200), Allowed(200), Allowed(200)],
        ),
        (
            Method::Get,
            "/login".into(),
            [Allowed(200), Allowed(303), Allowed(303), Allowed(303)],
        ),
        (
            Method::Get,
            "/no-such-page".into(),
            [Allowed(404), Allowed(404), Allowed(404), Allowed(404)],
        ),
        // Disable last: it changes the target, and sign-out ends the sessions.
        (
            Method::Post(&[]),
            t("disable"),
            [SignIn, Forbidden, Forbidden, Allowed(303)],
        ),
        (
            Method::Post(&[]),
            "/logout".into(),
            [SignIn, Allowed(303), Allowed(303), Allowed(303)],
        ),
    ];

    let mut failures = Vec::new();
    for (method, path, expected) in &table {
        let browsers = [&mut anonymous, &mut auditor, &mut operator, &mut admin];
        for (who, (browser, want)) in ["anonymous", "auditor", "operator", "admin"]
            .iter()
            .zip(browsers.into_iter().zip(expected))
        {
            let got = judge(&call(browser, method, path).await);
            if got != *want {
                failures.push(format!("{who} {path}: expected {want:?}, got {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn not_allowed_and_not_found_keep_the_navigation_and_the_name() {
    let app = TestApp::spawn().await;
    let mut olga = app.signed_in("olga", Role::Operator).await;
    for (path, status, title) in [
        ("/users", StatusCode::FORBIDDEN, "Not allowed"),
        ("/no-such-page", StatusCode::NOT_FOUND, "Page not found"),
    ] {
        let (got, body) = olga.page(path).await;
        assert_eq!(got, status, "{path}");
        assert!(body.contains(title), "{path}: {body}");
        assert!(
            body.contains("olga") && body.contains("Operator"),
            "{path}: the person's name and role stay: {body}"
        );
        assert!(
            body.contains(r#"href="/verify""#) && body.contains("Sign out"),
            "{path}: the navigation stays: {body}"
        );
    }
    // The sign-out button on an error page works (it carries the session's form token).
    let out = olga.post("/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);

    // Someone not signed in still gets the page without navigation.
    let (got, body) = app.browser().page("/no-such-page").await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    assert!(!body.contains("Sign out"), "{body}");
}
