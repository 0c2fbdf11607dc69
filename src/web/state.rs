//! What every handler can reach.

use axum::extract::FromRef;
use std::sync::{Arc, Mutex, PoisonError};
use subtle::ConstantTimeEq;

use crate::{clock::Clock, config::Settings, db::Db, plivo::PlivoClient, sandbox::Sandbox};

/// Shared application state: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub setup: SetupGate,
    /// Every call to Plivo (or to the sandbox standing in for it) goes through this client.
    pub plivo: PlivoClient,
    /// The in-process sandbox, in sandbox mode (its outbox shows the codes "sent").
    pub sandbox: Option<Sandbox>,
    /// The audit chain's last check.
    pub chain: crate::audit::ChainWatch,
    /// Signs the sign-in and setup forms' double-submit tokens (`web::csrf`).
    pub form_key: crate::web::csrf::FormKey,
    /// Sign-in through the company's OpenID Connect provider, when set up.
    pub sso: Option<crate::auth::oidc::Sso>,
    /// Staff accounts: sign-in, setup, users.
    pub accounts: crate::accounts::Accounts,
    /// Editing and deleting caller IDs.
    pub caller_ids: crate::caller_ids::CallerIds,
    /// Verifying numbers: start, code, send again, cancel, expiry.
    pub verifier: crate::verify::Verifier,
    /// Reconciling the cache with Plivo.
    pub syncer: crate::sync::Syncer,
    /// Work a request started that outlives it (a sync, an export, a verification step);
    /// shutdown waits for it.
    pub tasks: tokio_util::task::TaskTracker,
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

/// The one-time first-run token: printed at start-up while no user exists, held only in
/// memory, dead once used.
#[derive(Clone, Debug, Default)]
pub struct SetupGate(Arc<Mutex<Option<String>>>);

impl SetupGate {
    pub fn open(token: String) -> Self {
        Self(Arc::new(Mutex::new(Some(token))))
    }

    pub fn closed() -> Self {
        Self::default()
    }

    /// Whether `candidate` is the live token.
    pub fn accepts(&self, candidate: &str) -> bool {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_deref()
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(candidate.as_bytes())))
    }

    /// Kills the token.
    pub fn close(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setup_token_works_until_closed() {
        let gate = SetupGate::open("abc".into());
        assert!(gate.accepts("abc"));
        assert!(!gate.accepts("abd"));
        assert!(!gate.accepts(""));
        gate.close();
        assert!(!gate.accepts("abc"));
        assert!(!SetupGate::closed().accepts(""));
    }
}
