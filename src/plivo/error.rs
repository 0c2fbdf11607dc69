//! One error for every way a Plivo call can fail, with a sentence for the person at the screen
//! and the technical details for the log. Credentials are never part of either.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlivoError {
    /// No connection could be made (DNS, refused, TLS): the request was never sent.
    #[error("could not connect to Plivo: {details}")]
    Connect { details: String },
    /// The connection failed after the request may have been sent (reset, closed early).
    #[error("the connection to Plivo broke before it answered: {details}")]
    Interrupted { details: String },
    /// No complete answer within the time limit.
    #[error("Plivo did not answer within {after:?}")]
    Timeout { after: Duration },
    /// 429: too many requests.
    #[error(
        "Plivo rate limited the request (retry after {retry_after:?}, api_id {api_id:?}): {error:?}"
    )]
    RateLimited {
        retry_after: Option<Duration>,
        error: Option<String>,
        api_id: Option<String>,
    },
    /// Plivo answered with an error status and its error body.
    #[error("Plivo refused the request with HTTP {status} (api_id {api_id:?}): {error}")]
    Refused {
        status: u16,
        error: String,
        api_id: Option<String>,
    },
    /// An answer that could not be read: not JSON, or not the expected shape.
    #[error("Plivo's answer could not be read (HTTP {status}): {body_start:?}")]
    Unreadable { status: u16, body_start: String },
}

impl PlivoError {
    /// A plain sentence for operators, saying what happened and what to do.
    pub fn operator_message(&self) -> String {
        match self {
            PlivoError::Connect { .. } => "callerdesk could not reach Plivo, so nothing was sent. \
                Check that the server is online, then try again."
                .into(),
            PlivoError::Interrupted { .. } => {
                "The connection to Plivo broke before it answered, so callerdesk cannot tell \
                whether it acted. Wait a minute, check, then try again."
                    .into()
            }
            PlivoError::Timeout { .. } => {
                "Plivo did not answer in time, so callerdesk cannot tell \
                whether it acted. Wait a minute, check, then try again."
                    .into()
            }
            PlivoError::RateLimited { retry_after, .. } => match retry_after {
                Some(wait) => format!(
                    "Plivo is getting too many requests from this account. Nothing was done; try again in {} seconds.",
                    wait.as_secs().max(1)
                ),
                None => "Plivo is getting too many requests from this account. Nothing was done; \
                    try again in a minute."
                    .into(),
            },
            PlivoError::Refused { status, error, .. } => match status {
                401 => "Plivo did not accept callerdesk's credentials. Ask your administrator to \
                    check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN."
                    .into(),
                403 => "Plivo does not allow this for this account.".into(),
                404 => "Plivo does not know this number or verification.".into(),
                s if *s >= 500 => {
                    "Plivo had a problem on its side. Try again in a few minutes.".into()
                }
                _ => format!("Plivo did not accept the request: {error}"),
            },
            PlivoError::Unreadable { .. } => "Plivo's answer could not be read. This is usually a \
                passing problem between callerdesk and Plivo; try again in a few minutes."
                .into(),
        }
    }

    /// The plain sentence followed by Plivo's own words and reference, for the page that
    /// reports the failure.
    pub fn full_message(&self) -> String {
        let mut message = self.operator_message();
        if let Some(text) = self.plivo_error() {
            message.push_str(&format!(" Plivo said: “{text}”."));
        }
        if let Some(api_id) = self.api_id() {
            message.push_str(&format!(" (Plivo reference {api_id})"));
        }
        message
    }

    /// Plivo's HTTP status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            PlivoError::RateLimited { .. } => Some(429),
            PlivoError::Refused { status, .. } | PlivoError::Unreadable { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Plivo's own error text, when it sent one.
    pub fn plivo_error(&self) -> Option<&str> {
        match self {
            PlivoError::Refused { error, .. } => Some(error),
            PlivoError::RateLimited { error, .. } => error.as_deref(),
            _ => None,
        }
    }

    /// Plivo's `api_id`, when it sent one.
    pub fn api_id(&self) -> Option<&str> {
        match self {
            PlivoError::Refused { api_id, .. } | PlivoError::RateLimited { api_id, .. } => {
                api_id.as_deref()
            }
            _ => None,
        }
    }

    /// Whether Plivo certainly did not act on the request: it was never sent, or Plivo refused
    /// it (429, or another 4xx). Otherwise (no answer in time, a broken connection, a 5xx, an
    /// unreadable answer) it may have acted.
    pub fn certainly_not_acted(&self) -> bool {
        match self {
            PlivoError::Connect { .. } | PlivoError::RateLimited { .. } => true,
            PlivoError::Refused { status, .. } => (400..500).contains(status),
            PlivoError::Interrupted { .. }
            | PlivoError::Timeout { .. }
            | PlivoError::Unreadable { .. } => false,
        }
    }

    /// Whether an idempotent call may be tried again: no connection, a broken one, no answer
    /// in time, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            PlivoError::Connect { .. }
            | PlivoError::Interrupted { .. }
            | PlivoError::Timeout { .. }
            | PlivoError::RateLimited { .. } => true,
            PlivoError::Refused { status, .. } | PlivoError::Unreadable { status, .. } => {
                *status >= 500
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_plain_sentence_without_jargon() {
        let errors = [
            PlivoError::Connect {
                details: "dns".into(),
            },
            PlivoError::Timeout {
                after: Duration::from_secs(10),
            },
            PlivoError::Interrupted {
                details: "reset".into(),
            },
            PlivoError::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
                error: None,
                api_id: None,
            },
            PlivoError::Refused {
                status: 400,
                error: "invalid otp".into(),
                api_id: Some("a".into()),
            },
            PlivoError::Refused {
                status: 401,
                error: "x".into(),
                api_id: None,
            },
            PlivoError::Refused {
                status: 503,
                error: "x".into(),
                api_id: None,
            },
            PlivoError::Unreadable {
                status: 502,
                body_start: "<html>".into(),
            },
        ];
        for e in errors {
            let m = e.operator_message();
            assert!(m.ends_with('.') || m.ends_with("otp"), "{m}");
            assert!(!m.contains("HTTP") && !m.contains("JSON"), "{m}");
        }
        assert!(
            PlivoError::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
                error: None,
                api_id: None
            }
            .operator_message()
            .contains("3 seconds")
        );
    }
}
