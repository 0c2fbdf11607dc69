//! What the session holds. Sessions live in SQLite (tower-sessions), so they survive restarts.
//! They hold no secrets: a user id, the user's session epoch, the sign-in time, the CSRF token
//! and a one-shot notice to show after a redirect.

use serde::{Deserialize, Serialize};

/// The key under which [`SignedIn`] is stored.
pub const SIGNED_IN: &str = "signed_in";
/// The key of the CSRF token.
pub const CSRF: &str = "csrf";
/// The key of the notice shown once on the next page.
pub const NOTICE: &str = "notice";

/// The key of the last time (unix seconds) the session's idle expiry was pushed back.
pub const TOUCHED: &str = "touched";
/// How often an active session is saved to push its idle expiry back. Saving on every request
/// would queue a write behind the single writer for every page view.
pub const TOUCH_EVERY_SECS: i64 = 60;

/// Who is signed in on this session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedIn {
    pub user_id: i64,
    /// The user's `session_epoch` at sign-in; a later bump (disable, password reset) ends the
    /// session.
    pub epoch: i64,
    /// Unix seconds; the session ends a fixed time after this, however active.
    pub signed_in_at: i64,
}

/// A fresh random token (CSRF tokens, the setup token): 32 bytes as hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
