//! Forged requests: every POST must come from our own pages. The browser must say it is
//! same-origin (`Sec-Fetch-Site`, else an `Origin` whose scheme, host and port are ours), and
//! the request must carry a token only our pages hold: the session's CSRF token once signed in,
//! or, on the sign-in and setup forms only, a signed double-submit token.
//!
//! The double-submit token lets a visitor without a session use the sign-in form without
//! anything being written for them: the token is a random nonce with an HMAC under a key held in
//! memory, set as a cookie and repeated in the form. A cross-site page can neither read the
//! cookie nor mint a token that verifies. (A restart changes the key; a sign-in form left open
//! across it asks to be reloaded.)

use axum::{
    body::Body,
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, header, request::Parts},
    middleware::Next,
    response::Response,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tower_sessions::{
    Session,
    cookie::{Cookie, SameSite},
};

use crate::web::{error::AppError, session, state::AppState};

/// The form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The double-submit cookie.
pub const FORM_COOKIE: &str = "callerdesk_form";
/// The forms shown to someone without a session, which the double-submit token may sign.
const ANONYMOUS_FORMS: [&str; 3] = ["/login", "/login/two-step", "/setup"];

/// The key that signs double-submit tokens: random for each run of the server.
#[derive(Clone)]
pub struct FormKey(Arc<[u8; 32]>);

impl std::fmt::Debug for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormKey(<redacted>)")
    }
}

impl FormKey {
    pub fn random() -> Self {
        Self(Arc::new(rand::random()))
    }

    fn mac(&self, nonce: &str) -> Hmac<Sha256> {
        // An HMAC takes a key of any length: this can't fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"callerdesk form token\0");
        mac.update(nonce.as_bytes());
        mac
    }

    /// A new token: `nonce.signature`, both hex.
    fn mint(&self) -> String {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let signature = hex::encode(self.mac(&nonce).finalize().into_bytes());
        format!("{nonce}.{signature}")
    }

    /// Whether `token` was minted with this key.
    fn verifies(&self, token: &str) -> bool {
        let Some((nonce, signature)) = token.split_once('.') else {
            return false;
        };
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        self.mac(nonce).verify_slice(&signature).is_ok()
    }
}

/// The double-submit token for this request's forms (from its cookie, or new).
#[derive(Debug, Clone)]
pub struct FormToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for FormToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<FormToken>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the CSRF layer is missing")))
    }
}

/// The values of the cookies called `name` that a request carries.
pub fn cookie_values<'a>(
    headers: &'a HeaderMap,
    name: &'a str,
) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(move |c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The valid double-submit token a request's cookie carries, if any.
fn cookie_token(headers: &HeaderMap, key: &FormKey) -> Option<String> {
    cookie_values(headers, FORM_COOKIE).find(|value| key.verifies(value))
}

/// Hands every request its form token (setting the cookie when it had none) and refuses a
/// state-changing request that is not same-origin or carries neither the session's token nor
/// the cookie's.
pub async fn protect(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let from_cookie = cookie_token(request.headers(), &state.form_key);
    let token = from_cookie.clone().unwrap_or_else(|| state.form_key.mint());
    request.extensions_mut().insert(FormToken(token.clone()));

    if !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        check_same_origin(request.headers(), state.settings.secure_cookies)?;
        let session_token = session::csrf(&session).await?;
        let anonymous_form = ANONYMOUS_FORMS.contains(&request.uri().path());
        if session_token.is_none() && !anonymous_form {
            // No session (never signed in, or it ended while the page was open): nothing was
            // done; sign in again.
            return Err(AppError::SignInRequired { next: None });
        }
        let (parts, body) = request.into_parts();
        let from_header = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(body, super::middleware::BODY_LIMIT)
            .await
            .map_err(|_| AppError::BadRequest("The request body could not be read.".into()))?;
        let presented = from_header.or_else(|| {
            url::form_urlencoded::parse(&bytes)
                .find(|(key, _)| key == CSRF_FIELD)
                .map(|(_, value)| value.into_owned())
        });
        let same = |expected: &Option<String>| {
            expected
                .as_ref()
                .zip(presented.as_ref())
                .is_some_and(|(e, p)| bool::from(e.as_bytes().ct_eq(p.as_bytes())))
        };
        // The double-submit token is for the forms shown without a session; every other
        // form must carry the session's own token.
        let accepted = same(&session_token) || (anonymous_form && same(&from_cookie));
        if !accepted {
            return Err(AppError::CrossSite("missing or wrong CSRF token"));
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }

    let mut response = next.run(request).await;
    if from_cookie.is_none() {
        let cookie = Cookie::build((FORM_COOKIE, token))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(state.settings.secure_cookies)
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// Scheme, host and port, with the scheme's default port filled in.
fn origin_of(url: &url::Url) -> Option<(String, String, u16)> {
    Some((
        url.scheme().to_owned(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?,
    ))
}

/// Same-origin by the browser's fetch metadata, else by `Origin` against this site: the scheme
/// we are served over (`https` when cookies are marked secure, as behind a TLS proxy), the
/// `Host` the request was sent to, and its port.
fn check_same_origin(headers: &HeaderMap, https: bool) -> Result<(), AppError> {
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
    let scheme = if https { "https" } else { "http" };
    let ours = url::Url::parse(&format!("{scheme}://{host}/"))
        .ok()
        .and_then(|u| origin_of(&u));
    let theirs = url::Url::parse(origin).ok().and_then(|u| origin_of(&u));
    if ours.is_some() && ours == theirs {
        Ok(())
    } else {
        Err(AppError::CrossSite(
            "Origin does not match this site's scheme, host and port",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::test_headers as headers;

    #[test]
    fn same_origin_is_judged_by_fetch_metadata_then_scheme_host_and_port() {
        let check = |pairs, https| check_same_origin(&headers(pairs), https).is_ok();
        assert!(check(&[("sec-fetch-site", "same-origin")], false));
        assert!(!check(&[("sec-fetch-site", "cross-site")], false));
        let ours = [
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ];
        assert!(check(&ours, false));
        // The same host and port over the other scheme is another origin.
        assert!(!check(&ours, true));
        assert!(check(
            &[("origin", "https://desk.example"), ("host", "desk.example")],
            true
        ));
        assert!(check(
            &[
                ("origin", "https://desk.example:443"),
                ("host", "desk.example")
            ],
            true
        ));
        assert!(!check(
            &[
                ("origin", "http://desk.example:8443"),
                ("host", "desk.example")
            ],
            false
        ));
        assert!(!check(
            &[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8080")
            ],
            false
        ));
        assert!(!check(&[("host", "127.0.0.1:8080")], false));
        assert!(!check(&[("origin", "null"), ("host", "x")], false));
    }

    #[test]
    fn only_tokens_minted_with_the_key_verify() {
        let key = FormKey::random();
        let token = key.mint();
        assert!(key.verifies(&token));
        assert!(!FormKey::random().verifies(&token));
        let (nonce, _) = token.split_once('.').unwrap();
        assert!(!key.verifies(&format!("{nonce}.00")));
        assert!(!key.verifies(nonce));
        assert!(!key.verifies(""));
    }
}
