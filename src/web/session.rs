//! What a visitor's session holds, and the only code that reads or writes it. Sessions live in
//! SQLite (tower-sessions; `auth::store`), so they survive restarts. They hold no secrets: who
//! is signed in (user id, session epoch, sign-in time), the CSRF token, a one-shot notice for
//! the next page, and when the idle expiry was last pushed back.
//!
//! A session is written only when something here changes it; showing a page to someone who is
//! not signed in writes nothing (their forms use `web::csrf`'s double-submit token).

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{auth::random_token, web::error::AppError};

const SIGNED_IN: &str = "signed_in";
const CSRF: &str = "csrf";
const NOTICE: &str = "notice";
const WARNING: &str = "warning";
const TOUCHED: &str = "touched";
const SECOND_STEP: &str = "second_step";

/// How long after the right password the second step may come.
pub const SECOND_STEP_WINDOW_SECS: i64 = 300;

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
    /// The single sign-on provider it came through (its name); `None` for a password.
    #[serde(default)]
    pub provider: Option<String>,
}

/// A sign-in half done: the password was right, the second step is due. The session is not
/// signed in ([`signed_in`] is `None`), so no page but the second step's opens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecondStepDue {
    pub user_id: i64,
    pub epoch: i64,
    /// Unix seconds when the password was accepted.
    pub since: i64,
    /// Where to go once signed in.
    pub next: String,
}

/// Marks the session as waiting for `due`'s second step (with a new session id).
pub async fn await_second_step(session: &Session, due: SecondStepDue) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.insert(SECOND_STEP, due).await?;
    Ok(())
}

/// The second step this session waits for, if any and still within its window.
pub async fn second_step_due(
    session: &Session,
    now: i64,
) -> Result<Option<SecondStepDue>, AppError> {
    let due = session.get::<SecondStepDue>(SECOND_STEP).await?;
    Ok(due.filter(|d| (0..SECOND_STEP_WINDOW_SECS).contains(&now.saturating_sub(d.since))))
}

/// Forgets a half-done sign-in (it passed, or was abandoned).
pub async fn forget_second_step(session: &Session) -> Result<(), AppError> {
    if session.get::<SecondStepDue>(SECOND_STEP).await?.is_some() {
        let _ = session.remove::<SecondStepDue>(SECOND_STEP).await?;
    }
    Ok(())
}

impl SignedIn {
    /// `user`, signed in at `now` (unix seconds), by password or through `provider`.
    pub fn of(user: &crate::db::users::User, now: i64, provider: Option<String>) -> Self {
        Self {
            user_id: user.id,
            epoch: user.session_epoch,
            signed_in_at: now,
            provider,
        }
    }
}

/// Who is signed in, if anyone.
pub async fn signed_in(session: &Session) -> Result<Option<SignedIn>, AppError> {
    Ok(session.get::<SignedIn>(SIGNED_IN).await?)
}

/// Signs `who` in: a new session id (no fixation) and a new CSRF token with it.
pub async fn sign_in(session: &Session, who: SignedIn) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.insert(CSRF, random_token()).await?;
    session.insert(SIGNED_IN, who).await?;
    Ok(())
}

/// Keeps this session signed in after the user's epoch moved on (their own password change
/// ended every other session).
pub async fn keep_after_epoch_bump(session: &Session, epoch: i64) -> Result<(), AppError> {
    if let Some(mut who) = signed_in(session).await? {
        who.epoch = epoch;
        session.insert(SIGNED_IN, who).await?;
    }
    Ok(())
}

/// The session's CSRF token, if it has one (a signed-in session does).
pub async fn csrf(session: &Session) -> Result<Option<String>, AppError> {
    Ok(session.get::<String>(CSRF).await?)
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Some(token) = csrf(session).await? {
        return Ok(token);
    }
    let token = random_token();
    session.insert(CSRF, &token).await?;
    Ok(token)
}

/// A sentence for the next page: news (green), or a warning that something was not done
/// (amber, read out at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub text: String,
    pub warning: bool,
}

impl Notice {
    pub fn news(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            warning: false,
        }
    }
}

/// The notice left for this page, if any. Removing marks the session modified, and a modified
/// session is written to the database, so only remove what is there: a page view with no
/// notice writes nothing.
pub async fn take_notice(session: &Session) -> Result<Option<Notice>, AppError> {
    for (key, warning) in [(WARNING, true), (NOTICE, false)] {
        if session.get::<String>(key).await?.is_some() {
            return Ok(session
                .remove::<String>(key)
                .await?
                .map(|text| Notice { text, warning }));
        }
    }
    Ok(None)
}

/// Leaves a notice for the next page ("User alice was created.").
pub async fn notify(session: &Session, text: impl Into<String>) -> Result<(), AppError> {
    session.insert(NOTICE, text.into()).await?;
    Ok(())
}

/// Leaves a warning for the next page: what was asked for was not done, and why. It replaces
/// any news left before it.
pub async fn warn(session: &Session, text: impl Into<String>) -> Result<(), AppError> {
    let _ = session.remove::<String>(NOTICE).await?;
    session.insert(WARNING, text.into()).await?;
    Ok(())
}

/// Pushes the idle expiry back (by saving the session) when it was last pushed `every`
/// seconds or more before `now`: often enough that activity keeps a session alive.
pub async fn touch(session: &Session, now: i64, every: i64) -> Result<(), AppError> {
    let touched = session.get::<i64>(TOUCHED).await?.unwrap_or(0);
    if now.saturating_sub(touched) >= every {
        session.insert(TOUCHED, now).await?;
    }
    Ok(())
}

/// Ends the session (sign-out, or a session no longer valid).
pub async fn end(session: &Session) -> Result<(), AppError> {
    session.flush().await?;
    Ok(())
}
