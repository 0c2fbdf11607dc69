//! CSRF, same-origin checks, security headers, limits and error pages.

use crate::helpers::{Browser, TestApp};
use callerdesk::domain::Role;
use reqwest::StatusCode;

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", Role::Admin).await;
    let r = admin
        .client
        .post(admin.url("/users"))
        .header("origin", &admin.base)
        .form(&[
            ("username", "mallory"),
            ("role", "admin"),
            ("password", "a long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("This form has expired"));

    let wrong = admin
        .client
        .post(admin.url("/users"))
        .header("origin", &admin.base)
        .form(&[
            ("username", "mallory"),
            ("role", "admin"),
            ("password", "a long password"),
            ("csrf_token", "0000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = 'mallory'")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn a_post_from_a_foreign_origin_is_refused_even_with_the_token() {
    let app = TestApp::spawn().await;
    let mut admin = app.signed_in("ada", Role::Admin).await;
    admin.page("/users").await;
    let token = admin.csrf.clone().unwrap();
    let form = [
        ("username", "mallory"),
        ("role", "admin"),
        ("password", "a long password"),
        ("csrf_token", &token),
    ];

    let foreign = admin
        .client
        .post(admin.url("/users"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let cross = admin
        .client
        .post(admin.url("/users"))
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let neither = admin
        .client
        .post(admin.url("/users"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(neither.status(), StatusCode::FORBIDDEN);

    // The same request from our own page goes through.
    let same = admin
        .client
        .post(admin.url("/users"))
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn htmx_requests_may_carry_the_token_in_a_header() {
    let app = TestApp::spawn().await;
    let mut me = app.signed_in("ivy", Role::Auditor).await;
    me.page("/account").await;
    let token = me.csrf.clone().unwrap();
    let r = me
        .client
        .post(me.url("/account/password"))
        .header("origin", &me.base)
        .header("x-csrf-token", token)
        .header("hx-request", "true")
        .form(&[("current", "wrong"), ("new", "x"), ("confirm", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app.base);
    for path in [
        "/login",
        "/healthz",
        "/no-such-page",
        "/static/app.css",
        "/",
    ] {
        let r = browser.get(path).await;
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("object-src 'none'")
                && csp.contains("base-uri 'none'"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert_eq!(h.get("referrer-policy").unwrap(), "same-origin", "{path}");
        assert!(h.get("x-request-id").is_some(), "{path}");
    }
}

#[tokio::test]
async fn pages_have_no_inline_scripts_and_load_htmx_with_integrity() {
    let app = TestApp::spawn().await;
    let (_, body) = Browser::new(&app.base).page("/login").await;
    assert!(
        body.contains(r#"<script src="/static/vendor/htmx-2.0.11.min.js?v="#),
        "{body}"
    );
    assert!(body.contains(r#"integrity="sha384-"#));
    assert!(!body.contains("<script>"), "inline script in the page");
    assert!(!body.contains("hx-on"), "hx-on attributes need eval");
    let r = Browser::new(&app.base)
        .get("/static/vendor/htmx-2.0.11.min.js")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
}

#[tokio::test]
async fn a_body_over_64_kib_gets_413_and_a_page() {
    let app = TestApp::spawn().await;
    let mut browser = app.browser();
    browser.page("/login").await;
    let big = "a".repeat(70 * 1024);
    let r = browser
        .post("/login", &[("username", &big), ("password", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("Too much data"));
}

#[tokio::test]
async fn unknown_pages_and_static_traversal_get_the_404_page() {
    let app = TestApp::spawn().await;
    let mut browser = app.browser();
    for path in [
        "/nothing-here",
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/vendor/../../src/main.rs",
    ] {
        let (status, body) = browser.page(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body.contains("Page not found"), "{path}: {body}");
        assert!(body.contains("Reference for your administrator"));
    }
}

#[tokio::test]
async fn healthz_answers_200_while_the_database_answers() {
    let app = TestApp::spawn().await;
    let r = Browser::new(&app.base).get("/healthz").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    app.state.db.reader.close().await;
    let r = Browser::new(&app.base).get("/healthz").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn htmx_requests_that_need_sign_in_get_hx_redirect() {
    let app = TestApp::spawn().await;
    let r = Browser::new(&app.base)
        .client
        .get(format!("{}/users", app.base))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers().get("hx-redirect").unwrap(),
        "/login?next=%2Fusers"
    );
}
