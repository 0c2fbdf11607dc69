//! Setup, sign-in, sign-out, throttling and sessions.

use crate::helpers::{PASSWORD, TestApp, location};
use callerdesk::domain::Role;
use reqwest::StatusCode;
use time::Duration;

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once() {
    let app = TestApp::spawn().await;
    let setup = app
        .setup_url
        .clone()
        .expect("a fresh database prints a setup link");
    let path = setup.strip_prefix(&app.base).unwrap().to_owned();
    let mut browser = app.browser();

    let (status, _) = browser.page("/setup?token=not-the-token").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = browser.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Create the first admin account"));

    let token = path.split("token=").nth(1).unwrap().to_owned();
    let short = browser
        .post(
            "/setup",
            &[
                ("token", &token),
                ("username", "root"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 12 characters")
    );

    let created = browser
        .post(
            "/setup",
            &[
                ("token", &token),
                ("username", "root"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&created),
        "/",
        "the new admin is signed in at once"
    );
    let (status, body) = browser.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("root") && body.contains("Admin"), "{body}");
    assert!(
        body.contains("Your admin account is ready and you are signed in"),
        "{body}"
    );

    // The token is dead now, for the form and for a second submission.
    let (status, body) = browser.page(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no longer works"));
    let again = browser
        .post(
            "/setup",
            &[
                ("token", &token),
                ("username", "eve"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    // The session is an ordinary one: it signs out like any other.
    let out = browser.post("/logout", &[]).await;
    assert_eq!(location(&out), "/login?signed_out=1");

    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, ..)| a)
        .collect();
    assert_eq!(
        actions,
        ["setup_completed", "user_created", "sign_in", "sign_out"]
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_message() {
    let app = TestApp::spawn().await;
    app.add_user("alice", Role::Operator).await;
    let mut browser = app.browser();

    let wrong = browser.sign_in("alice", "not the password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong = wrong.text().await.unwrap();
    let unknown = browser.sign_in("nobody", "not the password at all").await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = unknown.text().await.unwrap();

    let message = "That username and password don&#39;t match";
    assert!(wrong.contains(message), "{wrong}");
    assert!(unknown.contains(message), "{unknown}");

    let events = app.audit_actions().await;
    let failures: Vec<_> = events
        .iter()
        .filter(|(a, o, _)| a == "sign_in" && o == "failed")
        .collect();
    assert_eq!(failures.len(), 2);
    // The username tried is recorded; the password never is.
    let details: Vec<String> =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE action = 'sign_in'")
            .fetch_all(&app.state.db.reader)
            .await
            .unwrap();
    assert!(details.iter().any(|d| d.contains("nobody")));
    assert!(details.iter().all(|d| !d.contains("not the password")));
}

#[tokio::test]
async fn the_right_password_signs_in_and_sign_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("olga", Role::Operator).await;
    let (status, body) = browser.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("olga"));

    let out = browser.post("/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login?signed_out=1");
    let (_, body) = browser.page("/login?signed_out=1").await;
    assert!(body.contains("You have signed out."));
    let after = browser.get("/").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert!(location(&after).starts_with("/login"));

    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, ..)| a)
        .collect();
    assert!(
        actions.ends_with(&["sign_in".to_owned(), "sign_out".to_owned()]),
        "{actions:?}"
    );
}

/// Sessions are also kept in memory: signing out must end the session there too, so that a
/// copy of the cookie taken before (a shared computer, a stolen cookie) no longer works.
#[tokio::test]
async fn a_cookie_copied_before_sign_out_is_refused_after_it() {
    let app = TestApp::spawn().await;
    app.add_user("olga", Role::Operator).await;
    let mut browser = app.browser();
    let signed_in = browser.sign_in("olga", PASSWORD).await;
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("callerdesk_session="))
        .and_then(|v| v.split(';').next())
        .expect("sign-in sets the session cookie")
        .to_owned();
    let home = browser.url("/");
    let copy = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&home)
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(copy().await.unwrap().status(), StatusCode::OK);

    let out = browser.post("/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let replayed = copy().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert!(location(&replayed).starts_with("/login"));
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    let id = cookie.trim_start_matches("callerdesk_session=");
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions WHERE id = ?")
        .bind(id)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(kept, 0, "the session row is gone ({rows} rows left)");
}

#[tokio::test]
async fn sign_in_sends_you_back_where_you_were_going_but_only_on_this_site() {
    let app = TestApp::spawn().await;
    app.add_user("amy", Role::Admin).await;
    let mut browser = app.browser();
    let redirected = browser.get("/users").await;
    assert_eq!(location(&redirected), "/login?next=%2Fusers");

    browser.page("/login?next=/users").await;
    let done = browser
        .post(
            "/login",
            &[
                ("username", "amy"),
                ("password", PASSWORD),
                ("next", "/users"),
            ],
        )
        .await;
    assert_eq!(location(&done), "/users");

    let mut other = app.browser();
    other.page("/login").await;
    let done = other
        .post(
            "/login",
            &[
                ("username", "amy"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&done), "/");
}

#[tokio::test]
async fn five_failures_for_a_username_throttle_it_for_fifteen_minutes() {
    let app = TestApp::spawn().await;
    app.add_user("bob", Role::Operator).await;
    let mut browser = app.browser();
    for _ in 0..5 {
        let r = browser.sign_in("bob", "wrong password here").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Even the right password is refused now, with a time to wait.
    let refused = browser.sign_in("bob", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("Too many failed sign-ins. Try again in 15 minutes."),
        "{body}"
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(a, ..)| a == "sign_in_throttled")
    );

    // Another username from the same address is not affected.
    app.add_user("carol", Role::Operator).await;
    assert_eq!(
        browser.sign_in("carol", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    // Not locked for good: after the window, the right password works.
    app.state
        .clock
        .advance(Duration::minutes(15) + Duration::seconds(1));
    let mut later = app.browser();
    assert_eq!(
        later.sign_in("bob", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn twenty_failures_from_one_address_throttle_that_address() {
    let app = TestApp::spawn().await;
    app.add_user("dave", Role::Operator).await;
    let mut browser = app.browser();
    for i in 0..20 {
        let r = browser
            .sign_in(&format!("guess{i}"), "wrong password here")
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let refused = browser.sign_in("dave", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );
}

#[tokio::test]
async fn a_session_survives_a_restart_on_the_same_database() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("erin", Role::Auditor).await;
    let dir = app.stop().await;

    let again = TestApp::spawn_in(dir).await;
    assert!(again.setup_url.is_none(), "users exist, so no setup link");
    browser.moved_to(&again.base);
    let (status, body) = browser.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("erin"));
}

#[tokio::test]
async fn a_session_ends_after_its_absolute_lifetime() {
    let app = TestApp::spawn().await;
    let mut browser = app.signed_in("fay", Role::Operator).await;
    app.state.clock.advance(Duration::hours(12));
    let r = browser.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
}

#[tokio::test]
async fn a_session_ends_after_its_idle_timeout() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut args = crate::helpers::serve_args(dir.path().join("callerdesk.db"));
    args.session_idle = "4s".into();
    let app = TestApp::spawn_with(dir, args).await;
    let mut browser = app.signed_in("hal", Role::Operator).await;
    // Activity keeps it alive past the idle limit...
    for _ in 0..5 {
        assert_eq!(browser.get("/").await.status(), StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    // ...and idleness ends it (the session store keeps real time, so this waits).
    tokio::time::sleep(std::time::Duration::from_millis(5000)).await;
    let r = browser.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_named(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
        .clone()
}

#[tokio::test]
async fn the_cookies_are_http_only_and_same_site_strict() {
    let app = TestApp::spawn().await;
    app.add_user("gus", Role::Operator).await;
    let mut browser = app.browser();
    let form = cookie_named(
        &set_cookies(&browser.get("/login").await),
        "callerdesk_form",
    );
    browser.page("/login").await;
    let signed_in = browser
        .post("/login", &[("username", "gus"), ("password", PASSWORD)])
        .await;
    let session = cookie_named(&set_cookies(&signed_in), "callerdesk_session");
    for cookie in [form, session] {
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(
            !cookie.contains("Secure"),
            "plain HTTP on localhost must work by default: {cookie}"
        );
    }
}

#[tokio::test]
async fn sign_in_issues_a_new_session_id() {
    let app = TestApp::spawn().await;
    app.add_user("gus", Role::Operator).await;
    let mut browser = app.browser();
    let id = |c: String| c.split(';').next().unwrap().to_owned();
    browser.page("/login").await;
    let first = browser
        .post("/login", &[("username", "gus"), ("password", PASSWORD)])
        .await;
    let before = id(cookie_named(&set_cookies(&first), "callerdesk_session"));
    // Signing in again on a browser that already has a session replaces its id.
    let again = browser
        .post("/login", &[("username", "gus"), ("password", PASSWORD)])
        .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let after = id(cookie_named(&set_cookies(&again), "callerdesk_session"));
    assert_ne!(before, after);
}

#[tokio::test]
async fn a_password_hashed_with_older_parameters_is_hashed_again_at_sign_in() {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
    let app = TestApp::spawn().await;
    let id = app.add_user("ines", Role::Operator).await;
    // As callerdesk hashed passwords before (19 MiB, 2 iterations).
    let older = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes())
    .unwrap()
    .to_string();
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(&older)
        .bind(id)
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let stored = || async {
        sqlx::query_scalar::<_, String>("SELECT password_hash FROM users WHERE id = ?")
            .bind(id)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap()
    };

    let mut browser = app.browser();
    assert_eq!(
        browser.sign_in("ines", "not the password").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(stored().await, older, "a wrong password changes nothing");
    assert_eq!(
        browser.sign_in("ines", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let again = stored().await;
    assert!(
        again.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"),
        "{again}"
    );
    let mut other = app.browser();
    assert_eq!(
        other.sign_in("ines", PASSWORD).await.status(),
        StatusCode::SEE_OTHER,
        "the new hash checks"
    );
    let (status, _) = browser.page("/").await;
    assert_eq!(status, StatusCode::OK, "the first session still works");
}
