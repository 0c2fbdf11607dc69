//! Middleware: CSRF and same-origin checks on every POST, security headers, and error pages
//! rendered (and logged once) with the request id.

use askama::Template;
use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::{
    auth::session::CSRF,
    error::{AppError, ErrorPage},
    web::{layout::Chrome, state::AppState},
};

/// The largest request body accepted (also enforced up front by the body-limit layer).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

/// Refuses a state-changing request unless it comes from our own pages: the browser says it is
/// same-origin (`Sec-Fetch-Site`, else `Origin` against `Host`) and it carries the session's
/// CSRF token (form field or header).
pub async fn csrf(session: Session, request: Request, next: Next) -> Result<Response, AppError> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(next.run(request).await);
    }
    check_same_origin(request.headers())?;
    let expected = session
        .get::<String>(CSRF)
        .await?
        .ok_or(AppError::CrossSite("the session has no CSRF token"))?;
    let (parts, body) = request.into_parts();
    let from_header = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| AppError::BadRequest("The request body could not be read.".into()))?;
    let presented = from_header.or_else(|| {
        url::form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == CSRF_FIELD)
            .map(|(_, value)| value.into_owned())
    });
    let matches =
        presented.is_some_and(|token| bool::from(token.as_bytes().ct_eq(expected.as_bytes())));
    if !matches {
        return Err(AppError::CrossSite("missing or wrong CSRF token"));
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

fn check_same_origin(headers: &HeaderMap) -> Result<(), AppError> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site") {
        return if site == "same-origin" {
            Ok(())
        } else {
            Err(AppError::CrossSite("Sec-Fetch-Site is not same-origin"))
        };
    }
    let origin = text("origin").ok_or(AppError::CrossSite("no Origin or Sec-Fetch-Site header"))?;
    let host = text("host").ok_or(AppError::CrossSite("no Host header"))?;
    let origin_host = url::Url::parse(origin).ok().and_then(|u| {
        let host = u.host_str()?.to_owned();
        Some(match u.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    });
    if origin_host.as_deref() == Some(host) {
        Ok(())
    } else {
        Err(AppError::CrossSite("Origin does not match Host"))
    }
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
    let is_htmx = request.headers().contains_key("hx-request");
    let mut response = next.run(request).await;
    let status = response.status();

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
    let template = ErrorTemplate {
        chrome: Chrome::bare(state.settings.is_sandbox()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_is_judged_by_fetch_metadata_then_origin() {
        assert!(check_same_origin(&headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        assert!(check_same_origin(&headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(
            check_same_origin(&headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080")
            ]))
            .is_ok()
        );
        assert!(
            check_same_origin(&headers(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8080")
            ]))
            .is_err()
        );
        assert!(check_same_origin(&headers(&[("host", "127.0.0.1:8080")])).is_err());
        assert!(check_same_origin(&headers(&[("origin", "null"), ("host", "x")])).is_err());
    }
}
