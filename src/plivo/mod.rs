//! Plivo's Verified Caller ID API: the typed client every Plivo call goes through (the sandbox
//! that stands in for Plivo is a module of its own).
//! `../shared/PLIVO.md` describes the API as it really behaves.

mod account;
mod client;
mod error;
mod limiter;
mod types;

pub use account::{AuthToken, is_auth_id, parse_subaccount};
pub use client::{PlivoClient, PlivoConfig, RetryPolicy};
pub use error::PlivoError;
pub use limiter::RateLimiter;
pub use types::{
    CallerId, Channel, ListPage, ListQuery, Meta, StartVerification, Started, Subaccount,
    SubaccountPage, Update, Verified,
};

#[cfg(test)]
mod properties;
