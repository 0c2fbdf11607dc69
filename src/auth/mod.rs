//! Authentication: password hashing, sign-in throttling, the second step (authenticator codes
//! and recovery codes, with their seeds sealed), where sessions are kept, and random tokens. (What a session holds is `web::session`.)

pub mod oidc;
pub mod password;
pub mod sealed;
pub mod store;
pub mod throttle;
mod token;
pub mod two_step;

pub use token::random_token;
