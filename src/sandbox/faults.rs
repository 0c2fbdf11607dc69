//! Fault injection: added latency, the next N matching requests answered badly, a share of all
//! requests failing. Set with `POST /__sandbox/faults` (this JSON), cleared with `DELETE`.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Sandbox;

/// What a faulty answer looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// This status with Plivo's error body (`error` defaults to a generic text).
    Status {
        status: u16,
        #[serde(default)]
        error: Option<String>,
    },
    /// 200 with a body that is not valid JSON.
    MalformedJson,
    /// 502 with a proxy's HTML page instead of JSON.
    #[serde(rename = "html_502")]
    Html502,
    /// Never answer: the client gives up at its timeout.
    Hang,
    /// 429 with `Retry-After`.
    RateLimited {
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
}

fn one() -> u64 {
    1
}

/// The next `count` requests matching `method` and `path` (a substring of the request's path
/// and query, so `offset=200` picks one page of the list) get `fault`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default = "one_u32")]
    pub count: u32,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    pub fault: Fault,
}

fn one_u32() -> u32 {
    1
}

/// The whole fault configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Added to every API request.
    #[serde(default)]
    pub latency_ms: u64,
    /// Tried in order; a rule is dropped once its count is used up.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Share (0 to 1) of API requests that get `ratio_fault` (default: 500).
    #[serde(default)]
    pub failure_ratio: f64,
    #[serde(default)]
    pub ratio_fault: Option<Fault>,
}

impl Faults {
    /// The fault (if any) for this request, using up one count of the matching rule.
    pub fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let matching = self.rules.iter().position(|rule| {
            rule.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && rule.path.as_deref().is_none_or(|p| path.contains(p))
        });
        if let Some(index) = matching {
            let rule = &mut self.rules[index];
            let fault = rule.fault.clone();
            rule.count = rule.count.saturating_sub(1);
            if rule.count == 0 {
                self.rules.remove(index);
            }
            return Some(fault);
        }
        if self.failure_ratio > 0.0 && rand::random::<f64>() < self.failure_ratio {
            return Some(self.ratio_fault.clone().unwrap_or(Fault::Status {
                status: 500,
                error: None,
            }));
        }
        None
    }
}

impl Fault {
    /// The faulty answer.
    pub async fn respond(self) -> Response {
        match self {
            Fault::Status { status, error } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let error = error.unwrap_or_else(|| {
                    status
                        .canonical_reason()
                        .unwrap_or("error")
                        .to_ascii_lowercase()
                });
                super::answer::error(status, &error)
            }
            Fault::MalformedJson => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"api_id": "d3b0c4f0", "objects": [{"phone_number": "+1202"#,
            )
                .into_response(),
            Fault::Html502 => (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
            )
                .into_response(),
            Fault::Hang => std::future::pending().await,
            Fault::RateLimited { retry_after_secs } => {
                let mut response = super::answer::error(StatusCode::TOO_MANY_REQUESTS, "too many requests");
                if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
        }
    }
}

/// `GET /__sandbox/faults`
pub async fn show_faults(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.faults()).into_response()
}

/// `POST /__sandbox/faults`: replaces the fault configuration.
pub async fn set_faults(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            sandbox.set_faults(faults);
            Json(sandbox.faults()).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// `DELETE /__sandbox/faults`
pub async fn clear_faults(State(sandbox): State<Sandbox>) -> Response {
    sandbox.set_faults(Faults::default());
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_method_and_path_and_run_out() {
        let mut faults: Faults = serde_json::from_str(
            r#"{"rules": [{"count": 2, "method": "get", "path": "/VerifiedCallerId/", "fault": {"kind": "html_502"}}]}"#,
        )
        .unwrap();
        assert_eq!(faults.take("POST", "/v1/Account/X/VerifiedCallerId/"), None);
        assert_eq!(
            faults.take("GET", "/v1/Account/X/VerifiedCallerId/"),
            Some(Fault::Html502)
        );
        assert_eq!(
            faults.take("GET", "/v1/Account/X/VerifiedCallerId/"),
            Some(Fault::Html502)
        );
        assert_eq!(faults.take("GET", "/v1/Account/X/VerifiedCallerId/"), None);
    }

    #[test]
    fn a_ratio_of_one_fails_everything() {
        let mut faults = Faults {
            failure_ratio: 1.0,
            ..Default::default()
        };
        assert_eq!(
            faults.take("GET", "/x"),
            Some(Fault::Status {
                status: 500,
                error: None
            })
        );
    }
}
