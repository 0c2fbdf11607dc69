//! The htmx fragments, driven in-process through the router (`tower::ServiceExt::oneshot`):
//! each answers htmx with the fragment alone and a full page otherwise, both with
//! `Vary: HX-Request`.

use crate::helpers::{PASSWORD, csrf_in, serve_args};
use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Request, Response, StatusCode, header},
};
use callerdesk::{clock::Clock, config::Settings, domain::Role, startup::Application};
use tower::ServiceExt;

/// The app's router and a signed-in session's cookies.
async fn signed_in_router(role: Role) -> (Router, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_args(&serve_args(dir.path().join("callerdesk.db"))).unwrap();
    let app = Application::build(settings, Clock::adjustable())
        .await
        .unwrap();
    let state = app.state().clone();
    state
        .accounts
        .create(
            &callerdesk::audit::Who::command_line(),
            &callerdesk::domain::Username::parse("ivy").unwrap(),
            &callerdesk::domain::Password::parse(PASSWORD).unwrap(),
            role,
            false,
        )
        .await
        .unwrap();
    let router = app.router();
    let form = send(&router, get("/login", "")).await;
    let cookie = cookies(&form);
    let token = csrf_in(&text(form).await).unwrap();
    let body = format!(
        "username=ivy&password={}&csrf_token={token}",
        PASSWORD.replace(' ', "+")
    );
    let signed_in = send(
        &router,
        Request::post("/login")
            .header(header::COOKIE, &cookie)
            .header("sec-fetch-site", "same-origin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    (router, cookies(&signed_in), dir)
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn htmx(path: &str, cookie: &str, target: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .header("hx-request", "true")
        .header("hx-target", target)
        .body(Body::empty())
        .unwrap()
}

async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.unwrap()
}

fn cookies(response: &Response<Body>) -> String {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

async fn text(response: Response<Body>) -> String {
    String::from_utf8(
        to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

/// Asks for `path` as htmx (replacing `target`) and as a page; checks both answers.
async fn fragment_and_page(router: &Router, cookie: &str, path: &str, target: &str, marker: &str) {
    let fragment = send(router, htmx(path, cookie, target)).await;
    assert_eq!(fragment.status(), StatusCode::OK, "{path}");
    assert_eq!(fragment.headers()[header::VARY], "HX-Request", "{path}");
    let body = text(fragment).await;
    assert!(!body.contains("<html"), "{path}: a fragment is not a page");
    assert!(body.contains(marker), "{path}: {body}");
    let page = send(router, get(path, cookie)).await;
    assert_eq!(page.headers()[header::VARY], "HX-Request", "{path}");
    assert!(text(page).await.contains("<html"), "{path}");
}

#[tokio::test]
async fn the_list_search_answers_htmx_with_the_results_alone() {
    let (router, cookie, _dir) = signed_in_router(Role::Operator).await;
    fragment_and_page(&router, &cookie, "/?q=555", "results", r#"id="results""#).await;
}

#[tokio::test]
async fn the_audit_filters_answer_htmx_with_the_events_alone() {
    let (router, cookie, _dir) = signed_in_router(Role::Auditor).await;
    fragment_and_page(
        &router,
        &cookie,
        "/audit?action=sign_in",
        "events",
        r#"id="events""#,
    )
    .await;
}

#[tokio::test]
async fn the_number_preview_is_a_fragment_that_says_what_was_typed() {
    let (router, cookie, _dir) = signed_in_router(Role::Operator).await;
    let preview = send(
        &router,
        htmx("/verify/preview?number=2025550143", &cookie, "preview"),
    )
    .await;
    assert_eq!(preview.headers()[header::VARY], "HX-Request");
    let body = text(preview).await;
    assert!(
        !body.contains("<html") && body.contains("+1 202-555-0143"),
        "{body}"
    );
}

#[tokio::test]
async fn a_history_restore_gets_the_whole_page() {
    let (router, cookie, _dir) = signed_in_router(Role::Operator).await;
    let restore = Request::get("/?q=555")
        .header(header::COOKIE, &cookie)
        .header("hx-request", "true")
        .header("hx-target", "results")
        .header("hx-history-restore-request", "true")
        .body(Body::empty())
        .unwrap();
    assert!(text(send(&router, restore).await).await.contains("<html"));
}
