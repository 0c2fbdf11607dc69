//! Authentication: password hashing, sign-in throttling, where sessions are kept, and
//! random tokens. (What a session holds is `web::session`.)

pub mod password;
pub mod store;
pub mod throttle;
mod token;

pub use token::random_token;
