//! The source of "now". Everything that compares times takes it from here, so tests can move
//! time forward without sleeping.

use std::sync::{Arc, Mutex, PoisonError};
use time::{Duration, OffsetDateTime};

/// A clock: the system's, or (in tests) one that can be advanced.
#[derive(Clone, Default)]
pub struct Clock {
    offset: Option<Arc<Mutex<Duration>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { offset: None }
    }

    /// A clock that runs with the system but can be moved forward with [`Clock::advance`].
    pub fn adjustable() -> Self {
        Self {
            offset: Some(Arc::new(Mutex::new(Duration::ZERO))),
        }
    }

    /// The current time in UTC.
    pub fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        match &self.offset {
            None => now,
            Some(offset) => now + *offset.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Moves an adjustable clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(offset) = &self.offset {
            *offset.lock().unwrap_or_else(PoisonError::into_inner) += by;
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock").field("now", &self.now()).finish()
    }
}
