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
    /// Staff accounts: sign-in, setup, users.
    pub accounts: crate::accounts::Accounts,
}

impl AppState {
    /// The sync, with this app's database, Plivo client and clock.
    pub fn syncer(&self) -> crate::sync::Syncer {
        crate::sync::Syncer {
            db: self.db.clone(),
            plivo: self.plivo.clone(),
            clock: self.clock.clone(),
            pages_in_flight: self.settings.sync_pages_in_flight,
        }
    }
}

impl AppState {
    /// The verification steps, with this app's database, Plivo client, clock and limits.
    pub fn verifier(&self) -> crate::verify::Verifier {
        crate::verify::Verifier {
            db: self.db.clone(),
            plivo: self.plivo.clone(),
            clock: self.clock.clone(),
            limits: crate::verify::Limits {
                resend_cooldown: std::time::Duration::from_secs(60),
                per_number_per_day: self.settings.codes_per_number_per_day,
                per_person_per_hour: self.settings.codes_per_person_per_hour,
            },
        }
    }
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
