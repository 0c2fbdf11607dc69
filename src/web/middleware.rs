//! Middleware: security headers, and error pages rendered (and logged once) with the request
//! id. (Forged requests are refused by `web::csrf`.)

use askama::Template;
use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};

use serde_json::json;

use crate::{
    audit::{Action, NewEvent, Outcome, RequestMeta},
    web::error::{ErrorPage, Refusal},
    web::{
        extract::ClientMeta,
        htmx::Htmx,
        layout::{Chrome, ChromeUser, ErrorChrome},
        session,
        state::AppState,
    },
};

/// The largest request body accepted (also enforced up front by the body-limit layer).
pub const BODY_LIMIT: usize = 64 * 1024;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

/// Records a refused request (403) in the audit log. If that write fails the person still gets
/// the refusal page; the failure is logged.
async fn record_refusal(
    state: &AppState,
    refusal: Refusal,
    meta: RequestMeta,
    method: &str,
    path: &str,
) {
    let event = NewEvent::new(refusal.actor, &meta, Action::AccessRefused, Outcome::Failed)
        .with_details(json!({ "method": method, "path": path, "reason": refusal.reason }));
    if let Err(e) = state.db.append(state.clock.now(), event).await {
        tracing::error!(error = %e, "a refused request could not be recorded in the audit log");
    }
}

/// Inside the session layer: when a request ends in an error page, finds who is signed in (as
/// [`CurrentUser`](crate::web::extract::CurrentUser) would, without touching the session) so
/// that the page keeps their name and navigation.
pub async fn who_sees_the_error(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let session = request
        .extensions()
        .get::<tower_sessions::Session>()
        .cloned();
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let Some(session) = session else {
        return response;
    };
    let Ok(Some(signed_in)) = session::signed_in(&session).await else {
        return response;
    };
    let Ok(Some(user)) = crate::db::users::by_id(&state.db.reader, signed_in.user_id).await else {
        return response;
    };
    if crate::web::extract::sign_in_holds(&state, &user, &signed_in) {
        let csrf = session::csrf(&session)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        response.extensions_mut().insert(ErrorChrome {
            user: ChromeUser::of(&user),
            csrf,
        });
    }
    response
}

/// Where a client's own `X-Request-Id` is kept, beside (never instead of) ours.
pub const CLIENT_REQUEST_ID: &str = "x-client-request-id";

/// Moves a client's `X-Request-Id` aside, so that the request id callerdesk logs, shows on
/// error pages and stores in the audit log is always one it made. The client's, if it sent one,
/// is logged beside it (cut to 128 characters).
pub async fn set_aside_client_request_id(mut request: Request, next: Next) -> Response {
    if let Some(theirs) = request.headers_mut().remove("x-request-id") {
        let kept: String = theirs
            .to_str()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect();
        if let Ok(value) = HeaderValue::from_str(&kept) {
            request.headers_mut().insert(CLIENT_REQUEST_ID, value);
        }
    }
    next.run(request).await
}

/// Security headers on every response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// Turns error responses into pages: logs an internal error's details once (inside the
/// request's span), and shows a plain sentence with the request id. Responses from layers
/// (404 from the router, 413, 408) get a page too. htmx requests that must go elsewhere (sign-in)
/// get `HX-Redirect`.
pub async fn render_error_pages(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    let is_htmx = Htmx::of(request.headers()).request;
    let meta = ClientMeta::of(
        request.headers(),
        request.extensions(),
        &state.settings.trusted_proxies,
    );
    let (method, path) = (
        request.method().to_string(),
        request.uri().path().chars().take(200).collect::<String>(),
    );
    let mut response = next.run(request).await;
    let status = response.status();
    if let Some(refusal) = response.extensions_mut().remove::<Refusal>() {
        record_refusal(&state, refusal, meta.0, &method, &path).await;
    }

    if status == StatusCode::SEE_OTHER && is_htmx {
        // The browser would follow a 303 inside htmx's request and swap in the next page;
        // tell htmx to navigate instead.
        if let Some(location) = response.headers_mut().remove(header::LOCATION) {
            let mut redirect = StatusCode::OK.into_response();
            redirect.headers_mut().insert("hx-redirect", location);
            return redirect;
        }
        return response;
    }
    let page = response.extensions_mut().remove::<ErrorPage>();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let page = match page {
        Some(page) => page,
        None if (status.is_client_error() || status.is_server_error()) && !is_html => {
            ErrorPage::for_status(status)
        }
        None => return response,
    };
    if let Some(details) = &page.log {
        if status.is_server_error() {
            tracing::error!(%status, error = %details, "request failed");
        } else {
            tracing::warn!(%status, error = %details, "request refused");
        }
    }
    let chrome = match response.extensions_mut().remove::<ErrorChrome>() {
        Some(who) => Chrome::for_error(state.settings.is_sandbox(), who),
        None => Chrome::bare(state.settings.is_sandbox()),
    };
    let template = ErrorTemplate {
        chrome,
        title: page.title,
        message: &page.message,
        request_id: &request_id,
    };
    let body = template.render().unwrap_or_else(|_| page.message.clone());
    let mut rendered = (status, Html(body)).into_response();
    // Keep headers a layer set (Retry-After, Allow), but not a stale content type or length.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}
