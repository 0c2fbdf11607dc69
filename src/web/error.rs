//! One error type for the web layer. A handler returns `Result<_, AppError>` and uses `?`; the
//! error becomes a response here, and the `render_error_pages` middleware (in `web::middleware`)
//! logs it once inside the request's span and renders the page with the request id. Internal
//! details never reach the person: they see a plain sentence.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::sync::Arc;

/// What went wrong, in terms of what the person sees.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not signed in (or the session ended): go to the sign-in page, then back to `next`.
    #[error("sign-in required")]
    SignInRequired { next: Option<String> },
    /// Signed in with a temporary password: choose a new one first.
    #[error("password change required")]
    PasswordChangeRequired,
    /// Two-step sign-in is required and this account has not set it up: do that first.
    #[error("two-step sign-in setup required")]
    TwoStepSetupRequired,
    /// Signed in, but the role doesn't allow this. Recorded in the audit log by the error-page
    /// middleware, which knows where the request came from.
    #[error("forbidden: {0:?}")]
    Forbidden(Refusal),
    /// No such page or thing.
    #[error("not found")]
    NotFound,
    /// A form without a valid CSRF token, or from another site.
    #[error("cross-site request refused: {0}")]
    CrossSite(&'static str),
    /// Something in the request that can't be acted on; the text is shown to the person.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Our fault. Logged with its details; the person sees a plain sentence and the request id.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<crate::verify::VerifyError> for AppError {
    fn from(e: crate::verify::VerifyError) -> Self {
        AppError::Internal(anyhow::Error::new(e))
    }
}

impl From<crate::accounts::AccountError> for AppError {
    fn from(e: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError;
        match e {
            AccountError::NoSuchUser => AppError::NotFound,
            AccountError::Database(_) | AccountError::Hash(_) => {
                AppError::Internal(anyhow::Error::new(e))
            }
            // The rest are refusals in words; handlers show them where they belong, and this
            // is what is left if one doesn't.
            refused => AppError::BadRequest(refused.to_string()),
        }
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("session store"))
    }
}

impl From<crate::auth::password::HashError> for AppError {
    fn from(e: crate::auth::password::HashError) -> Self {
        AppError::Internal(anyhow::Error::new(e))
    }
}

/// Who was refused what, for the audit log.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub actor: crate::audit::Actor,
    /// "An operator may not delete caller IDs."
    pub reason: String,
}

/// The page to show for an error response; attached to the response by [`AppError`] and
/// turned into HTML by the error-page middleware, which knows the request id.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
    /// The details for the log (internal errors only).
    pub log: Option<Arc<String>>,
}

impl ErrorPage {
    /// The page for a status that didn't come from a handler (404 from the router, 413 from
    /// the body limit, 408 from the timeout, 405).
    pub fn for_status(status: StatusCode) -> Self {
        let (title, message) = match status {
            StatusCode::NOT_FOUND => (
                "Page not found",
                "There is nothing at this address. Check the link, or start again from the caller ID list.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "Too much data",
                "What was sent is larger than callerdesk accepts. Nothing was changed.",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "That took too long",
                "callerdesk could not finish in time. Nothing may have changed; check, then try again.",
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "Not available this way",
                "This address can't be used like that. Start again from the caller ID list.",
            ),
            StatusCode::FORBIDDEN => (
                "Not allowed",
                "Your account does not have access to this page.",
            ),
            s if s.is_client_error() => (
                "That request could not be used",
                "Something in the request was not understood. Nothing was changed.",
            ),
            _ => (
                "Something went wrong",
                "callerdesk ran into a problem on its side. Nothing you did caused it. Try again; if it keeps happening, give the reference below to your administrator.",
            ),
        };
        Self {
            title,
            message: message.to_owned(),
            log: None,
        }
    }
}

fn redirect(to: &str) -> Response {
    // A plain 303 for forms and links; htmx requests also read HX-Redirect (set by the
    // middleware that knows whether this is an htmx request).
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, page) = match self {
            AppError::SignInRequired { next } => {
                let to = match next {
                    Some(next) if next != "/" => format!(
                        "/login?next={}",
                        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                    ),
                    _ => "/login".to_owned(),
                };
                return redirect(&to);
            }
            AppError::PasswordChangeRequired => return redirect("/account"),
            AppError::TwoStepSetupRequired => return redirect("/account/two-step"),
            AppError::Forbidden(refusal) => {
                let mut response = StatusCode::FORBIDDEN.into_response();
                response.extensions_mut().insert(ErrorPage {
                    title: "Not allowed",
                    message: "Your role does not allow this. If you need it, ask an administrator."
                        .to_owned(),
                    log: None,
                });
                response.extensions_mut().insert(refusal);
                return response;
            }
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                ErrorPage::for_status(StatusCode::NOT_FOUND),
            ),
            AppError::CrossSite(why) => (
                StatusCode::FORBIDDEN,
                ErrorPage {
                    title: "This form has expired",
                    message: "The form was out of date or came from another site, so nothing was changed. Go back, reload the page and try again.".to_owned(),
                    log: Some(Arc::new(format!("cross-site request refused: {why}"))),
                },
            ),
            AppError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                ErrorPage {
                    title: "That request could not be used",
                    message,
                    log: None,
                },
            ),
            AppError::Internal(e) => {
                let mut page = ErrorPage::for_status(StatusCode::INTERNAL_SERVER_ERROR);
                page.log = Some(Arc::new(format!("{e:#}")));
                (StatusCode::INTERNAL_SERVER_ERROR, page)
            }
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(page);
        response
    }
}
