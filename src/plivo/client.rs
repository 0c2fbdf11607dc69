//! The Plivo client: one method per operation, Basic auth, JSON, timeouts, and retries for the
//! calls that are safe to repeat (get, list, delete). Starting a verification and submitting a
//! code are never retried: a retry would send a person a second code or spend their attempt.

use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde::de::DeserializeOwned;
use std::{sync::Arc, time::Duration};
use url::Url;

use super::AuthToken;
use super::{
    error::PlivoError,
    limiter::RateLimiter,
    types::{
        CallerId, ListPage, ListQuery, StartBody, StartVerification, Started, SubaccountPage,
        Update, Verified,
    },
};
use crate::domain::PhoneNumber;

/// How many times, and how patiently, idempotent calls are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// The first back-off delay; each further one doubles, plus up to 50% jitter.
    pub base_delay: Duration,
    /// No single wait is longer than this (a longer `Retry-After` is not waited out).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Everything needed to talk to one Plivo account.
#[derive(Debug, Clone)]
pub struct PlivoConfig {
    /// `https://api.plivo.com/v1/` or a stand-in's equivalent; ends with `/`.
    pub api_base: Url,
    pub auth_id: String,
    pub auth_token: AuthToken,
    /// The whole request, from sending to the last byte of the answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Shared by every clone of the client: the account's request budget.
    pub limiter: Arc<RateLimiter>,
}

impl PlivoConfig {
    pub fn new(api_base: Url, auth_id: String, auth_token: AuthToken) -> Self {
        Self {
            api_base,
            auth_id,
            auth_token,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            limiter: Arc::new(RateLimiter::plivo()),
        }
    }
}

/// A client for one account's verified caller IDs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PlivoClient {
    http: reqwest::Client,
    /// `{api_base}Account/{auth_id}/`
    account: Url,
    auth_id: String,
    auth_token: AuthToken,
    timeout: Duration,
    retry: RetryPolicy,
    limiter: Arc<RateLimiter>,
}

/// The first bytes of an unreadable body kept for the log.
const BODY_START: usize = 200;

impl PlivoClient {
    pub fn new(config: PlivoConfig) -> Result<Self, PlivoError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("callerdesk/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .build()
            .map_err(|e| PlivoError::Connect {
                details: format!("could not build the HTTP client: {e}"),
            })?;
        let account = config
            .api_base
            .join(&format!("Account/{}/", config.auth_id))
            .map_err(|e| PlivoError::Connect {
                details: format!("bad Plivo base URL: {e}"),
            })?;
        Ok(Self {
            http,
            account,
            auth_id: config.auth_id,
            auth_token: config.auth_token,
            timeout: config.timeout,
            retry: config.retry,
            limiter: config.limiter,
        })
    }

    /// The account the client acts for.
    pub fn auth_id(&self) -> &str {
        &self.auth_id
    }

    fn url(&self, path: &str) -> Result<Url, PlivoError> {
        self.account.join(path).map_err(|e| PlivoError::Connect {
            details: format!("bad request path {path:?}: {e}"),
        })
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.auth_id, Some(self.auth_token.expose()))
            .header(header::ACCEPT, "application/json")
    }

    /// Whether these credentials may set a caller ID's subaccount: only the main account's
    /// (`MA…`) may; with a sub-account's (`SA…`) its caller IDs are its own, and a subaccount is
    /// never sent.
    pub fn may_set_subaccounts(&self) -> bool {
        !self.auth_id.starts_with("SA")
    }

    /// `POST VerifiedCallerId/`: Plivo sends a code to the number. Never retried.
    pub async fn start_verification(
        &self,
        start: &StartVerification,
    ) -> Result<Started, PlivoError> {
        let body = StartBody {
            phone_number: start.phone_number.as_str(),
            alias: start.alias.as_deref(),
            channel: start.channel,
            subaccount: start
                .subaccount
                .as_deref()
                .filter(|_| self.may_set_subaccounts()),
        };
        let url = self.url("VerifiedCallerId/")?;
        let bytes = self
            .send(false, || {
                self.request(Method::POST, url.clone()).json(&body)
            })
            .await?;
        parse(bytes)
    }

    /// `POST VerifiedCallerId/Verification/{uuid}/`: submits the code. Never retried.
    pub async fn submit_code(
        &self,
        verification_uuid: &str,
        otp: &str,
    ) -> Result<Verified, PlivoError> {
        let url = self.url(&format!(
            "VerifiedCallerId/Verification/{}/",
            path_segment(verification_uuid)
        ))?;
        let body = serde_json::json!({ "otp": otp });
        let bytes = self
            .send(false, || {
                self.request(Method::POST, url.clone()).json(&body)
            })
            .await?;
        parse(bytes)
    }

    /// `GET VerifiedCallerId/{number}/`
    pub async fn get(&self, number: &PhoneNumber) -> Result<CallerId, PlivoError> {
        let url = self.url(&format!("VerifiedCallerId/{}/", number.digits()))?;
        let bytes = self
            .send(true, || self.request(Method::GET, url.clone()))
            .await?;
        parse(bytes)
    }

    /// `GET VerifiedCallerId/` with paging and filters.
    pub async fn list(&self, query: &ListQuery) -> Result<ListPage, PlivoError> {
        let url = self.url("VerifiedCallerId/")?;
        let bytes = self
            .send(true, || self.request(Method::GET, url.clone()).query(query))
            .await?;
        parse(bytes)
    }

    /// `GET Account/{auth_id}/Subaccount/`: one page (20) of the account's subaccounts. Main-account
    /// credentials only. The answer holds every subaccount's auth token, so an unreadable one is
    /// reported without its body.
    pub async fn subaccounts(&self, offset: u64) -> Result<SubaccountPage, PlivoError> {
        let url = self.url("Subaccount/")?;
        let query = ListQuery {
            limit: Some(20),
            offset: Some(offset),
            ..Default::default()
        };
        let (status, body) = self
            .send(true, || {
                self.request(Method::GET, url.clone()).query(&query)
            })
            .await?;
        serde_json::from_slice(&body).map_err(|_| PlivoError::Unreadable {
            status: status.as_u16(),
            body_start: "(not kept: it may hold subaccount tokens)".into(),
        })
    }

    /// Every subaccount, page by page.
    pub async fn all_subaccounts(&self) -> Result<Vec<super::Subaccount>, PlivoError> {
        let mut all = Vec::new();
        loop {
            let page = self.subaccounts(all.len() as u64).await?;
            let total = page.meta.total_count;
            let got = page.objects.len();
            all.extend(page.objects);
            if got == 0 || all.len() as u64 >= total {
                return Ok(all);
            }
        }
    }

    /// `POST VerifiedCallerId/{number}/`: changes alias and/or subaccount. Not retried: it is
    /// safe to repeat, but the app records each attempt in the audit log and lets the person
    /// decide.
    pub async fn update(
        &self,
        number: &PhoneNumber,
        update: &Update,
    ) -> Result<CallerId, PlivoError> {
        let filtered;
        let update = if self.may_set_subaccounts() {
            update
        } else {
            filtered = Update {
                subaccount: None,
                ..update.clone()
            };
            &filtered
        };
        let url = self.url(&format!("VerifiedCallerId/{}/", number.digits()))?;
        let bytes = self
            .send(false, || {
                self.request(Method::POST, url.clone()).json(update)
            })
            .await?;
        parse(bytes)
    }

    /// `DELETE VerifiedCallerId/{number}/`: answered by 204 (with or without a body) or 200 `{}`.
    /// Retried like a read; a retry answered 404 after an attempt that may have reached Plivo
    /// (no answer in time, a broken connection, a 5xx) is a success: the number is gone, which
    /// is what was asked.
    pub async fn delete(&self, number: &PhoneNumber) -> Result<(), PlivoError> {
        let url = self.url(&format!("VerifiedCallerId/{}/", number.digits()))?;
        match self
            .send_tracked(true, || self.request(Method::DELETE, url.clone()))
            .await
        {
            Ok(_) => Ok(()),
            Err((PlivoError::Refused { status: 404, .. }, true)) => Ok(()),
            Err((e, _)) => Err(e),
        }
    }

    /// Sends, retrying transient failures when `idempotent`, and returns a 2xx answer's body.
    async fn send(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<(StatusCode, bytes::Bytes), PlivoError> {
        self.send_tracked(idempotent, build)
            .await
            .map_err(|(e, _)| e)
    }

    /// [`Self::send`], saying with a failure whether an earlier attempt may have reached Plivo
    /// and acted (it failed in a way that does not rule that out).
    async fn send_tracked(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<(StatusCode, bytes::Bytes), (PlivoError, bool)> {
        let attempts = if idempotent {
            self.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 1;
        let mut earlier_may_have_acted = false;
        loop {
            let result = self.send_once(build()).await;
            match result {
                Err(e) if attempt < attempts && e.is_transient() => {
                    earlier_may_have_acted |= !e.certainly_not_acted();
                    let wait = self.delay(attempt, &e);
                    tracing::warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "Plivo call failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err((e, earlier_may_have_acted)),
                Ok(answer) => return Ok(answer),
            }
        }
    }

    fn delay(&self, attempt: u32, error: &PlivoError) -> Duration {
        if let PlivoError::RateLimited {
            retry_after: Some(wait),
            ..
        } = error
        {
            return (*wait).min(self.retry.max_delay);
        }
        let exponential = self
            .retry
            .base_delay
            .saturating_mul(1 << (attempt - 1).min(16));
        let jitter = exponential.mul_f64(rand::random::<f64>() * 0.5);
        (exponential + jitter).min(self.retry.max_delay)
    }

    async fn send_once(
        &self,
        request: RequestBuilder,
    ) -> Result<(StatusCode, bytes::Bytes), PlivoError> {
        self.limiter.acquire().await;
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            return Ok((status, body));
        }
        let (error, api_id) = error_body(&body);
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(PlivoError::RateLimited {
                retry_after,
                error,
                api_id,
            });
        }
        match error {
            Some(error) => Err(PlivoError::Refused {
                status: status.as_u16(),
                error,
                api_id,
            }),
            None => Err(PlivoError::Unreadable {
                status: status.as_u16(),
                body_start: body_start(&body),
            }),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> PlivoError {
        if e.is_timeout() {
            PlivoError::Timeout {
                after: self.timeout,
            }
        } else {
            // Without the URL: it is ours, and the log line has the operation anyway. Only a
            // connection never made means the request was not sent.
            let e = e.without_url();
            let mut details = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                details.push_str(": ");
                details.push_str(&cause.to_string());
                source = cause.source();
            }
            if e.is_connect() {
                PlivoError::Connect { details }
            } else {
                PlivoError::Interrupted { details }
            }
        }
    }
}

/// A value placed in a path: only the characters Plivo's ids use, so nothing can change the
/// path's shape.
fn path_segment(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

fn body_start(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(BODY_START)]).into_owned()
}

/// Plivo's error text (a string, or an object shown as JSON) and `api_id`, if the body is
/// Plivo's JSON error shape.
fn error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return (None, None);
    };
    let api_id = map
        .get("api_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let error = match map.get("error") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => map
            .get("message")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        Some(other) => Some(other.to_string()),
    };
    (error, api_id)
}

fn parse<T: DeserializeOwned>((status, body): (StatusCode, bytes::Bytes)) -> Result<T, PlivoError> {
    serde_json::from_slice(&body).map_err(|_| PlivoError::Unreadable {
        status: status.as_u16(),
        body_start: body_start(&body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_as_text_or_object() {
        assert_eq!(
            error_body(br#"{"api_id":"a1","error":"invalid otp"}"#),
            (Some("invalid otp".into()), Some("a1".into()))
        );
        assert_eq!(
            error_body(br#"{"api_id":"a2","error":{"phone_number":["invalid"]}}"#),
            (
                Some(r#"{"phone_number":["invalid"]}"#.into()),
                Some("a2".into())
            )
        );
        assert_eq!(error_body(b"<html>502 Bad Gateway</html>"), (None, None));
    }

    #[test]
    fn path_segments_cannot_change_the_path() {
        assert_eq!(path_segment("f87836bd-0a1b"), "f87836bd-0a1b");
        assert_eq!(path_segment("../../x?y=1"), "xy1");
    }
}
