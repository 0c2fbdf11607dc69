//! Plivo's Verified Caller ID API: the typed client every Plivo call goes through, and the
//! sandbox that stands in for Plivo when no credentials are configured (and in every test).
//! `../shared/PLIVO.md` describes the API as it really behaves.

mod client;
mod error;
mod limiter;
pub mod sandbox;
mod types;

pub use client::{PlivoClient, PlivoConfig, RetryPolicy};
pub use error::PlivoError;
pub use limiter::RateLimiter;
pub use types::{
    CallerId, Channel, ListPage, ListQuery, Meta, StartVerification, Started, Update, Verified,
};

#[cfg(test)]
mod properties;
