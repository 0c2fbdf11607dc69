//! The web layer: the router, middleware and one module per screen. Handlers are short verbs
//! (`users::add`, `auth::login`); they check the role on the server, every time.

pub mod account;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod caller_ids;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod format;
pub mod htmx;
pub mod layout;
pub mod middleware;
pub mod oidc;
pub mod session;
pub mod state;
pub mod sync;
pub mod users;
pub mod verify;

use axum::{
    Router,
    http::StatusCode,
    middleware::{from_fn, from_fn_with_state},
    routing::{get, post},
};
use std::time::Duration;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tower_sessions::{SessionManagerLayer, SessionStore};

use crate::{
    db::Db,
    web::{error::AppError, state::AppState},
};

/// How long any request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
async fn healthz(axum::extract::State(db): axum::extract::State<Db>) -> (StatusCode, &'static str) {
    if db.is_healthy().await {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
    }
}

async fn not_found() -> AppError {
    AppError::NotFound
}

/// Every route, with the middleware around them.
pub fn router<S: SessionStore + Clone>(
    state: AppState,
    sessions: SessionManagerLayer<S>,
) -> Router {
    let pages = Router::new()
        .route("/", get(caller_ids::list::show))
        .route("/caller-ids.csv", get(caller_ids::list::export))
        .route(
            "/caller-ids/{number}",
            get(caller_ids::detail::show).post(caller_ids::detail::update),
        )
        .route(
            "/caller-ids/{number}/refresh",
            post(caller_ids::detail::refresh),
        )
        .route(
            "/caller-ids/{number}/delete",
            get(caller_ids::detail::confirm_delete).post(caller_ids::detail::delete),
        )
        .route("/verify", get(verify::form).post(verify::start))
        .route("/verify/preview", get(verify::preview))
        .route("/verify/{id}", get(verify::show))
        .route("/verify/{id}/code", post(verify::submit_code))
        .route("/verify/{id}/resend", post(verify::resend))
        .route("/verify/{id}/cancel", post(verify::cancel))
        .route("/audit", get(audit::show))
        .route("/audit/verify", post(audit::verify))
        .route("/audit/export", get(audit::export))
        .route("/audit/events/{id}", get(audit::stored))
        .route("/sync", post(sync::start))
        .route("/sync/status", get(sync::status))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/login/oidc", get(oidc::start))
        .route("/login/oidc/callback", get(oidc::callback))
        .route(
            "/login/two-step",
            get(auth::second_step_form).post(auth::second_step),
        )
        .route("/logout", post(auth::logout))
        .route("/setup", get(auth::setup_form).post(auth::setup))
        .route("/users", get(users::list).post(users::add))
        .route("/users/{id}/role", post(users::change_role))
        .route("/users/{id}/password", post(users::reset_password))
        .route("/users/{id}/disable", post(users::disable))
        .route("/users/{id}/enable", post(users::enable))
        .route("/users/{id}/two-step/reset", post(users::reset_two_step))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route(
            "/account/two-step",
            get(account::two_step_page).post(account::begin_two_step),
        )
        .route("/account/two-step/confirm", post(account::confirm_two_step))
        .route(
            "/account/two-step/recovery-codes",
            post(account::replace_recovery_codes),
        )
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), csrf::protect))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::who_sees_the_error,
        ))
        .layer(sessions);

    Router::new()
        .route("/healthz", get(healthz))
        .route("/static/{*path}", get(assets::serve))
        .merge(pages)
        .layer(RequestBodyLimitLayer::new(middleware::BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::render_error_pages,
        ))
        .layer(from_fn(middleware::security_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
                let header = |name| {
                    request
                        .headers()
                        .get(name)
                        .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
                        .unwrap_or("")
                };
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %header("x-request-id"),
                    client_request_id = %header(middleware::CLIENT_REQUEST_ID),
                )
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(from_fn(middleware::set_aside_client_request_id))
        .with_state(state)
}

/// Request headers from pairs, for unit tests.
#[cfg(test)]
pub(crate) fn test_headers(pairs: &[(&'static str, &'static str)]) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(*name, axum::http::HeaderValue::from_static(value));
    }
    headers
}
