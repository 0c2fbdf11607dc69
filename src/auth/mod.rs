//! Authentication: password hashing, sign-in throttling, what a session holds and where
//! sessions are kept.

pub mod password;
pub mod session;
pub mod store;
pub mod throttle;
