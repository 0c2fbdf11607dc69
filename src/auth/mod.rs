//! Authentication: password hashing, sign-in throttling, and what a session holds.

pub mod password;
pub mod session;
pub mod throttle;
