//! htmx: whether a request came from htmx (and which part of the page it will replace), and
//! responses whose form depends on that, which say so with `Vary: HX-Request` so no cache
//! hands a fragment to a full page load or the other way round.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
};
use std::convert::Infallible;

/// What htmx says about a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Htmx {
    /// Sent by htmx (`HX-Request`).
    pub request: bool,
    /// htmx restoring history after back/forward: it wants the whole page.
    pub history_restore: bool,
    /// The id of the element it will replace (`HX-Target`).
    pub target: Option<String>,
}

impl Htmx {
    pub fn of(headers: &HeaderMap) -> Self {
        Self {
            request: headers.contains_key("hx-request"),
            history_restore: headers.contains_key("hx-history-restore-request"),
            target: headers
                .get("hx-target")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    /// Whether htmx asked for just the element with this id.
    pub fn wants(&self, target: &str) -> bool {
        self.request && !self.history_restore && self.target.as_deref() == Some(target)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Htmx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::of(&parts.headers))
    }
}

/// A screen answered as a whole page or, for htmx, as the fragment it swaps in; either way
/// with `Vary: HX-Request`.
pub enum PageOr<P, F> {
    Page(P),
    Fragment(F),
}

impl<P: IntoResponse, F: IntoResponse> IntoResponse for PageOr<P, F> {
    fn into_response(self) -> Response {
        let response = match self {
            PageOr::Page(page) => page.into_response(),
            PageOr::Fragment(fragment) => fragment.into_response(),
        };
        varies(response)
    }
}

/// `response` with `Vary: HX-Request`: its form depends on whether htmx asked.
pub fn varies(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("HX-Request"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::test_headers as headers;

    #[test]
    fn htmx_wants_a_fragment_only_for_its_target_and_never_on_history_restore() {
        let asked = Htmx::of(&headers(&[
            ("hx-request", "true"),
            ("hx-target", "results"),
        ]));
        assert!(asked.wants("results"));
        assert!(!asked.wants("events"));
        let restoring = Htmx::of(&headers(&[
            ("hx-request", "true"),
            ("hx-target", "results"),
            ("hx-history-restore-request", "true"),
        ]));
        assert!(!restoring.wants("results"));
        assert!(!Htmx::of(&HeaderMap::new()).wants("results"));
    }
}
