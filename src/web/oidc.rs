//! Signing in through the company's OpenID Connect provider: `/login/oidc` sends the browser
//! there, `/login/oidc/callback` takes it back. The flow's id rides in a cookie of its own,
//! `SameSite=Lax` (the provider is another site: the session's `Strict` cookie does not come
//! back with its redirect), scoped to these two paths and dropped by the callback.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::{
    Session,
    cookie::{Cookie, SameSite},
};

use crate::{
    accounts::{Provider, ProviderSignIn},
    audit::{Action, NewEvent, Outcome},
    web::{
        auth::{LoginPage, safe_next},
        csrf::FormToken,
        error::AppError,
        extract::ClientMeta,
        layout::Chrome,
        session::{self, SignedIn},
        state::AppState,
    },
};

/// The cookie that ties the provider's answer to the browser that asked.
pub const FLOW_COOKIE: &str = "callerdesk_oidc";
const FLOW_PATH: &str = "/login/oidc";

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

fn flow_cookie(state: &AppState, value: String, max_age: time::Duration) -> HeaderValue {
    let cookie = Cookie::build((FLOW_COOKIE, value))
        .path(FLOW_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.secure_cookies)
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// `GET /login/oidc`: off to the provider.
pub async fn start(
    State(state): State<AppState>,
    session: Session,
    form_token: FormToken,
    ClientMeta(meta): ClientMeta,
    Query(query): Query<StartQuery>,
) -> Result<Response, AppError> {
    let Some(sso) = &state.sso else {
        return Err(AppError::NotFound);
    };
    let next = safe_next(query.next.as_deref());
    match sso.start(next.clone()).await {
        Ok(started) => {
            let mut response = Redirect::to(started.authorize_url.as_str()).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                flow_cookie(&state, started.flow_id, crate::auth::oidc::FLOW_LIFETIME),
            );
            Ok(response)
        }
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on could not start");
            record_refusal(&state, &meta, &e.to_string()).await?;
            let page = LoginPage::new(
                &state,
                &session,
                &form_token,
                next,
                Some(e.sentence(sso.name())),
            );
            Ok((StatusCode::BAD_GATEWAY, page.await?).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/signed_in.html")]
struct SignedInPage {
    chrome: Chrome,
    next: String,
    name: String,
}

/// `GET /login/oidc/callback`: the provider's answer.
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    form_token: FormToken,
    headers: HeaderMap,
    ClientMeta(meta): ClientMeta,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let Some(sso) = state.sso.clone() else {
        return Err(AppError::NotFound);
    };
    let flow_id = flow_id_in(&headers);
    let outcome = match (&query.error, &query.code, &query.state) {
        (Some(error), _, _) => Err({
            sso.forget(flow_id.as_deref());
            crate::auth::oidc::SsoError::Refused(format!(
                "{error}{}",
                query
                    .error_description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ))
        }),
        (None, Some(code), Some(returned_state)) => {
            sso.finish(flow_id.as_deref(), returned_state, code).await
        }
        _ => Err(crate::auth::oidc::SsoError::UnknownFlow),
    };
    let signed_in = match outcome {
        Err(e) => {
            tracing::warn!(error = %e, "a sign-in through the provider was refused");
            record_refusal(&state, &meta, &e.to_string()).await?;
            Err(e.sentence(sso.name()))
        }
        Ok(finished) => {
            let role = sso.settings.role_for(&finished.identity.groups);
            let provider = Provider {
                name: sso.name(),
                issuer: sso.issuer(),
            };
            match state
                .accounts
                .sign_in_with_provider(&provider, &finished.identity, role, &meta)
                .await?
            {
                ProviderSignIn::SignedIn(user) => Ok((user, finished.next)),
                ProviderSignIn::Refused(sentence) => Err(sentence),
            }
        }
    };
    let mut response = match signed_in {
        Ok((user, next)) => {
            let now = state.clock.now().unix_timestamp();
            let provider = Some(sso.name().to_owned());
            session::sign_in(&session, SignedIn::of(&user, now, provider)).await?;
            // A page, not a redirect: the session cookie is `SameSite=Strict`, and a redirect
            // would still be part of the provider's cross-site navigation, so the browser would
            // not send it. The page moves on by itself, same-site.
            let chrome = Chrome::anonymous(&state, &session, &form_token).await?;
            SignedInPage {
                chrome,
                next,
                name: user.username,
            }
            .into_response()
        }
        Err(sentence) => {
            let page = LoginPage::new(&state, &session, &form_token, "/".into(), Some(sentence));
            (StatusCode::FORBIDDEN, page.await?).into_response()
        }
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        flow_cookie(&state, String::new(), time::Duration::ZERO),
    );
    Ok(response)
}

/// The flow id the browser's cookie holds.
fn flow_id_in(headers: &HeaderMap) -> Option<String> {
    crate::web::csrf::cookie_values(headers, FLOW_COOKIE).next()
}

/// A sign-in the protocol refused (before anyone was identified), as an audit event naming
/// the provider. (Refusals of a known person are recorded by `accounts::provider`.)
async fn record_refusal(
    state: &AppState,
    meta: &crate::audit::RequestMeta,
    reason: &str,
) -> Result<(), AppError> {
    let Some(sso) = &state.sso else {
        return Ok(());
    };
    let event = NewEvent::new(
        crate::audit::Actor::anonymous(),
        meta,
        Action::SignIn,
        Outcome::Failed,
    )
    .with_details(json!({
        "provider": sso.name(),
        "issuer": sso.issuer(),
        "reason": reason,
    }));
    state.db.append(state.clock.now(), event).await?;
    Ok(())
}
