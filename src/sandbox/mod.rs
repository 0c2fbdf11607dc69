//! The Plivo sandbox: an HTTP server that behaves like Plivo's Verified Caller ID API (as
//! `PLIVO.md` describes it), so the demo and every test exercise the same client and code as
//! live mode. Caller IDs persist in the database (`sandbox_caller_ids`); pending verifications
//! and the outbox of "sent" codes live in memory, so codes never reach the database.
//!
//! Where Plivo's behaviour is not documented, the sandbox guesses; each guess is marked
//! `GUESS:` in `api.rs` so it can be checked against the real service.

mod answer;
pub mod api;
pub mod faults;
pub mod store;

use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
    routing::get,
};
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};
use time::OffsetDateTime;
use tokio::net::TcpListener;

use crate::{
    clock::Clock,
    db::Db,
    plivo::{AuthToken, Channel},
};
pub use faults::{Fault, Faults, Rule};

/// The sandbox's account id when none is given: `MA` and 18 capitals or digits, like a real one.
pub const DEFAULT_AUTH_ID: &str = "MASANDBOX00000000000";

/// How long a code is valid.
pub const CODE_LIFETIME: time::Duration = time::Duration::minutes(15);

/// How many sent codes the outbox keeps.
const OUTBOX_CAPACITY: usize = 1000;

/// A code "sent" to a phone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OutboxEntry {
    pub phone_number: String,
    pub channel: Channel,
    pub code: String,
    pub verification_uuid: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
}

/// A subaccount the sandbox's account has, with the token Plivo's list carries for each.
#[derive(Debug, Clone)]
pub struct SandboxSubaccount {
    pub auth_id: &'static str,
    pub name: &'static str,
    pub enabled: bool,
    pub created: &'static str,
    /// Random for each sandbox; callerdesk must never keep it.
    pub auth_token: String,
}

/// The sandbox account's subaccounts: the two its seeded caller IDs use, and one disabled.
fn subaccounts() -> Vec<SandboxSubaccount> {
    [
        ("SA2B3C4D5E6F7G8H9J0K", "Sales team", true, "2022-09-05"),
        ("SAKXQ7M2P9R4T6V8W1Y3", "Support (EU)", true, "2023-02-14"),
        ("SAQ1W2E3R4T5Y6U7I8O9", "Old agency", false, "2021-06-30"),
    ]
    .into_iter()
    .map(|(auth_id, name, enabled, created)| SandboxSubaccount {
        auth_id,
        name,
        enabled,
        created,
        auth_token: (0..40)
            .map(|_| char::from(b'A' + rand::random_range(0..26u8)))
            .collect(),
    })
    .collect()
}

/// A time as Plivo writes it: RFC 3339 in UTC with as many fractional digits as it needs
/// (none to nine: `.68729Z`, `.968133341Z`).
pub fn plivo_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A verification waiting for its code.
#[derive(Debug, Clone)]
struct Pending {
    phone_number: String,
    alias: String,
    channel: Channel,
    subaccount: String,
    code: String,
    expires_at: OffsetDateTime,
}

#[derive(Debug, Default)]
struct Memory {
    pending: HashMap<String, Pending>,
    outbox: VecDeque<OutboxEntry>,
    /// The code the next start sends, when a test chose it.
    next_code: Option<String>,
    /// Every API request received (method and path), oldest first, for tests to count.
    journal: VecDeque<(String, String)>,
}

/// How many requests the journal keeps.
const JOURNAL_CAPACITY: usize = 10_000;

/// Runs before an API request is answered, with its method and path (and query): tests use it
/// to change the account while callerdesk reads it, as people at Plivo's console would.
pub type Hook = Arc<dyn Fn(String, String) -> BoxFuture<'static, ()> + Send + Sync>;

struct Inner {
    db: Db,
    clock: Clock,
    auth_id: String,
    auth_token: AuthToken,
    memory: Mutex<Memory>,
    faults: Mutex<Faults>,
    hook: Mutex<Option<Hook>>,
    subaccounts: Vec<SandboxSubaccount>,
}

/// A sandbox: cheap to clone; serve its [`Sandbox::router`] anywhere.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("auth_id", &self.inner.auth_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sandbox {
    pub fn new(db: Db, clock: Clock, auth_id: String, auth_token: AuthToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                clock,
                auth_id,
                auth_token,
                memory: Mutex::new(Memory::default()),
                faults: Mutex::new(Faults::default()),
                hook: Mutex::new(None),
                subaccounts: subaccounts(),
            }),
        }
    }

    pub fn auth_id(&self) -> &str {
        &self.inner.auth_id
    }

    pub fn auth_token(&self) -> &AuthToken {
        &self.inner.auth_token
    }

    /// The API under `/v1/`, and the sandbox's own controls under `/__sandbox/`.
    pub fn router(&self) -> Router {
        let account = "/v1/Account/{auth_id}/VerifiedCallerId";
        let api = Router::new()
            .route("/v1/Account/{auth_id}/Subaccount", get(api::subaccounts))
            .route("/v1/Account/{auth_id}/Subaccount/", get(api::subaccounts))
            .route(account, get(api::list).post(api::start))
            .route(&format!("{account}/"), get(api::list).post(api::start))
            .route(
                &format!("{account}/Verification/{{uuid}}"),
                axum::routing::post(api::submit_code),
            )
            .route(
                &format!("{account}/Verification/{{uuid}}/"),
                axum::routing::post(api::submit_code),
            )
            .route(
                &format!("{account}/{{number}}"),
                get(api::get_one).post(api::update).delete(api::delete),
            )
            .route(
                &format!("{account}/{{number}}/"),
                get(api::get_one).post(api::update).delete(api::delete),
            )
            .fallback(api::not_found)
            .layer(middleware::from_fn_with_state(self.clone(), inject_faults));
        Router::new()
            .route("/__sandbox/outbox", get(api::outbox))
            .route(
                "/__sandbox/faults",
                get(faults::show_faults)
                    .post(faults::set_faults)
                    .delete(faults::clear_faults),
            )
            .merge(api)
            .with_state(self.clone())
    }

    /// Serves on `listener` until the task is dropped or aborted.
    pub fn spawn(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let router = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the Plivo sandbox stopped");
            }
        })
    }

    /// Makes sure `count` seeded caller IDs exist.
    pub async fn seed(&self, count: u32) -> sqlx::Result<()> {
        store::seed(&self.inner.db, count, &plivo_time(self.inner.clock.now())).await
    }

    /// Every code sent, newest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        lock(&self.inner.memory)
            .outbox
            .iter()
            .rev()
            .cloned()
            .collect()
    }

    /// The code sent for a verification, while the sandbox remembers it.
    pub fn code_for(&self, verification_uuid: &str) -> Option<String> {
        lock(&self.inner.memory)
            .outbox
            .iter()
            .rev()
            .find(|e| e.verification_uuid == verification_uuid)
            .map(|e| e.code.clone())
    }

    /// Makes the next start send `code` instead of a random one (for tests that look for it).
    pub fn set_next_code(&self, code: &str) {
        lock(&self.inner.memory).next_code = Some(code.to_owned());
    }

    /// The account's subaccounts, tokens included (for tests that make sure none is kept).
    pub fn subaccounts(&self) -> &[SandboxSubaccount] {
        &self.inner.subaccounts
    }

    /// The API requests received so far (method, path), oldest first.
    pub fn requests(&self) -> Vec<(String, String)> {
        lock(&self.inner.memory).journal.iter().cloned().collect()
    }

    /// Sets (or clears) the hook run before each API request.
    pub fn before_each_request(&self, hook: Option<Hook>) {
        *lock(&self.inner.hook) = hook;
    }

    /// The database the sandbox keeps its caller IDs in.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Replaces the fault configuration.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.inner.faults) = faults;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }
}

/// Applies the configured latency and faults to every API request.
async fn inject_faults(State(sandbox): State<Sandbox>, request: Request, next: Next) -> Response {
    {
        let mut memory = lock(&sandbox.inner.memory);
        if memory.journal.len() >= JOURNAL_CAPACITY {
            memory.journal.pop_front();
        }
        memory.journal.push_back((
            request.method().to_string(),
            request.uri().path().to_owned(),
        ));
    }
    let hook = lock(&sandbox.inner.hook).clone();
    if let Some(hook) = hook {
        let target = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |p| p.as_str().to_owned(),
        );
        hook(request.method().to_string(), target).await;
    }
    let (latency, fault) = {
        let mut faults = lock(&sandbox.inner.faults);
        let target = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |p| p.as_str().to_owned(),
        );
        let fault = faults.take(request.method().as_str(), &target);
        (faults.latency_ms, fault)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match fault {
        Some(fault) => fault.respond().await,
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_carry_as_many_fractional_digits_as_plivos() {
        assert_eq!(
            plivo_time(datetime!(2023-08-30 07:47:43.68729 UTC)),
            "2023-08-30T07:47:43.68729Z"
        );
        assert_eq!(
            plivo_time(datetime!(2023-08-30 09:47:43.968133341 +02:00)),
            "2023-08-30T07:47:43.968133341Z"
        );
        assert_eq!(
            plivo_time(datetime!(2023-08-30 07:47:43 UTC)),
            "2023-08-30T07:47:43Z"
        );
    }
}
