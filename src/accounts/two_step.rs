//! Two-step sign-in as use cases: setting up an authenticator app, passing the second step at
//! sign-in (an app's code or a recovery code), and an admin's reset. Codes are claimed through
//! the writer (`db::two_step`), so a code or a recovery code counts once however many requests
//! bring it together; wrong codes are throttled with wrong passwords.

use serde_json::json;

use super::{AccountError, Accounts, target};
use crate::{
    audit::{self, Action, Actor, Outcome, RequestMeta, Who},
    auth::{throttle, two_step as totp},
    db::{
        Timestamp,
        two_step::{self as stored},
        users::{self, User},
    },
};

/// How a second step ended.
#[derive(Debug)]
pub enum SecondStep {
    /// Signed in.
    Passed(User),
    /// Not accepted, with the sentence that says why.
    Refused(&'static str),
    /// Too many wrong passwords and codes: try again after this long.
    Throttled(time::Duration),
}

/// How confirming a new authenticator app ended.
#[derive(Debug)]
pub enum Confirmed {
    /// On: the recovery codes, to be shown once.
    On(Vec<String>),
    /// The code did not match the app being set up.
    WrongCode,
    /// No app is being set up (it was confirmed in another tab, or reset).
    NothingToConfirm,
}

/// How asking for new recovery codes ended.
#[derive(Debug)]
pub enum NewRecoveryCodes {
    /// The new codes, to be shown once; the old ones no longer work.
    Made(Vec<String>),
    /// The app's code was not right, with the sentence that says so.
    Refused(&'static str),
    /// Too many wrong passwords and codes: try again after this long.
    Throttled(time::Duration),
}

/// Why a code was refused, as said to the person.
const WRONG_CODE: &str = "That code is not right. Type the 6 digits your authenticator app shows now, or one of your recovery codes.";
const APP_CODE_WRONG: &str =
    "That code is not right. Type the 6 digits your authenticator app shows for callerdesk now.";
const USED_CODE: &str = "That code was used already. Wait for your app to show the next one (a new code comes every 30 seconds).";
const USED_RECOVERY: &str =
    "That recovery code was used already. Each one works once: use another, or your app's code.";
const NO_SECOND_STEP: &str =
    "This sign-in can't continue. Sign in again with your name and password.";

/// The row a seed is sealed for: a sealed seed copied to another account does not open.
fn seal_context(user_id: i64) -> String {
    format!("callerdesk two-step seed for user {user_id}")
}

impl Accounts {
    /// Starts setting up an authenticator app for `user`: a new seed, sealed and stored
    /// unconfirmed (replacing one not confirmed). Returns the seed to show.
    pub async fn begin_two_step(&self, user: &User) -> Result<Vec<u8>, AccountError> {
        let seed = totp::new_seed();
        let sealed = self.sealing.seal(&seal_context(user.id), &seed);
        let mut tx = self.db.write().await?;
        let begun = stored::begin(&mut tx, user.id, &sealed, Timestamp::from(self.now())).await?;
        tx.commit().await?;
        if !begun {
            return Err(AccountError::TwoStepAlreadyOn(user.username.clone()));
        }
        Ok(seed)
    }

    /// The seed of `user`'s app, opened: the one in use when `confirmed`, else the one being
    /// set up. `None` when there is no such app, or its seal does not open (another key).
    async fn seed(&self, user_id: i64, confirmed: bool) -> Result<Option<Vec<u8>>, AccountError> {
        let row = stored::get(&self.db.reader, user_id).await?;
        Ok(row
            .filter(|r| r.confirmed_at.is_some() == confirmed)
            .and_then(|r| self.sealing.open(&seal_context(user_id), &r.sealed_seed)))
    }

    /// The seed of the app `user` is setting up (not yet confirmed), to show again.
    pub async fn pending_seed(&self, user: &User) -> Result<Option<Vec<u8>>, AccountError> {
        self.seed(user.id, false).await
    }

    /// Unused recovery codes `user` has left.
    pub async fn recovery_codes_left(&self, user: &User) -> Result<i64, AccountError> {
        Ok(stored::recovery_codes_left(&self.db.reader, user.id).await?)
    }

    /// Turns the app on once `typed` is its current code: ten recovery codes are made (only
    /// their hashes stored) and the step is claimed, so the same code can't also sign in.
    pub async fn confirm_two_step(
        &self,
        user: &User,
        typed: &str,
        meta: &RequestMeta,
    ) -> Result<Confirmed, AccountError> {
        let Some(seed) = self.pending_seed(user).await? else {
            return Ok(Confirmed::NothingToConfirm);
        };
        let now = self.now();
        let Some(step) = totp::matching_step(&seed, typed, now.unix_timestamp()) else {
            return Ok(Confirmed::WrongCode);
        };
        let codes = totp::new_recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
        let mut tx = self.db.write().await?;
        if !stored::claim_step(&mut tx, user.id, step, false).await? {
            return Ok(Confirmed::NothingToConfirm);
        }
        stored::confirm(&mut tx, user.id, &hashes, Timestamp::from(now)).await?;
        let event = Who::new(Actor::user(user.id, &user.username), meta.clone())
            .event(Action::TwoStepEnabled, Outcome::Succeeded)
            .with_details(json!({ "username": user.username, "method": "authenticator app" }));
        audit::append(&mut tx, now, event).await?;
        tx.commit().await?;
        Ok(Confirmed::On(codes))
    }

    /// The second step of a sign-in whose password was right (when the account's session
    /// epoch was `epoch`): an app's code (each step's code accepted once) or an unused
    /// recovery code. Throttled with the account's password
    /// checks; the sign-in (or its failure) is recorded here.
    #[tracing::instrument(skip(self, typed, meta))]
    pub async fn second_step(
        &self,
        user_id: i64,
        epoch: i64,
        typed: &str,
        meta: &RequestMeta,
    ) -> Result<SecondStep, AccountError> {
        let user = users::by_id(&self.db.reader, user_id).await?;
        // A password reset or a disable since the password was typed ends this sign-in too.
        let current = |u: &User| u.two_step && !u.disabled && u.session_epoch == epoch;
        let Some(user) = user.filter(current) else {
            return Ok(SecondStep::Refused(NO_SECOND_STEP));
        };
        let ip = meta.client_ip.as_deref().unwrap_or("unknown");
        let who = Who::new(Actor::user(user.id, &user.username), meta.clone());
        let tried = json!({ "username": user.username, "second_step": "too many tries" });
        let attempt = match self
            .claim(&user.username, ip, &who, Action::SignInThrottled, &tried)
            .await?
        {
            Ok(attempt) => attempt,
            Err(wait) => return Ok(SecondStep::Throttled(wait)),
        };
        let seed = self.seed(user.id, true).await?;
        let now = self.now();
        let recovery = totp::is_recovery_code(typed);
        let step = match (&seed, recovery) {
            (Some(seed), false) => totp::matching_step(seed, typed, now.unix_timestamp()),
            _ => None,
        };
        if seed.is_none() && !recovery {
            tracing::error!(
                user = user.id,
                "an authenticator seed did not open with the secret key (CALLERDESK_SECRET_KEY changed?)"
            );
        }
        let mut tx = self.db.write().await?;
        let (passed, how) = if recovery {
            let hash = totp::recovery_hash(typed);
            let used =
                stored::use_recovery_code(&mut tx, user.id, &hash, Timestamp::from(now)).await?;
            (used, "recovery code")
        } else if let Some(step) = step {
            (
                stored::claim_step(&mut tx, user.id, step, true).await?,
                "authenticator app",
            )
        } else {
            (false, "authenticator app")
        };
        let outcome = if passed {
            users::record_sign_in(&mut tx, user.id, Timestamp::from(now)).await?;
            throttle::succeeded(&mut tx, attempt, &user.username).await?;
            let left = stored::recovery_codes_left(&mut *tx, user.id).await?;
            let event = who
                .event(Action::SignIn, Outcome::Succeeded)
                .with_details(json!({
                    "username": user.username, "second_step": how, "recovery_codes_left": left
                }));
            audit::append(&mut tx, now, event).await?;
            SecondStep::Passed(user.clone())
        } else {
            throttle::failed(&mut tx, attempt).await?;
            let (reason, said) = match (recovery, step) {
                (true, _) => {
                    // A known hash means the code was real but used; an unknown one, a guess.
                    let hash = totp::recovery_hash(typed);
                    if stored::recovery_code_exists(&mut *tx, user.id, &hash).await? {
                        ("recovery code already used", USED_RECOVERY)
                    } else {
                        ("wrong recovery code", WRONG_CODE)
                    }
                }
                (false, Some(_)) => ("code already used", USED_CODE),
                (false, None) => ("wrong code", WRONG_CODE),
            };
            let event = who
                .event(Action::SignIn, Outcome::Failed)
                .with_details(json!({ "username": user.username, "second_step": reason }));
            audit::append(&mut tx, now, event).await?;
            SecondStep::Refused(said)
        };
        tx.commit().await?;
        self.waiting.wake();
        Ok(outcome)
    }

    /// Ten new recovery codes for `user`, once `typed` is their app's current code (claimed
    /// like a sign-in's, and throttled with their passwords): for when they are running out,
    /// or fear someone saw them.
    #[tracing::instrument(skip_all, fields(user = user.id))]
    pub async fn replace_recovery_codes(
        &self,
        user: &User,
        typed: &str,
        meta: &RequestMeta,
    ) -> Result<NewRecoveryCodes, AccountError> {
        let ip = meta.client_ip.as_deref().unwrap_or("unknown");
        let who = Who::new(Actor::user(user.id, &user.username), meta.clone());
        let tried = json!({ "username": user.username, "reason": "too many tries" });
        let attempt = match self
            .claim(
                &user.username,
                ip,
                &who,
                Action::RecoveryCodesReplaced,
                &tried,
            )
            .await?
        {
            Ok(attempt) => attempt,
            Err(wait) => return Ok(NewRecoveryCodes::Throttled(wait)),
        };
        let seed = self.seed(user.id, true).await?;
        let now = self.now();
        let step = seed
            .as_deref()
            .and_then(|seed| totp::matching_step(seed, typed, now.unix_timestamp()));
        let codes = totp::new_recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
        let mut tx = self.db.write().await?;
        let claimed = match step {
            Some(step) => stored::claim_step(&mut tx, user.id, step, true).await?,
            None => false,
        };
        let outcome = if claimed {
            stored::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
            throttle::succeeded(&mut tx, attempt, &user.username).await?;
            let event = who.event(Action::RecoveryCodesReplaced, Outcome::Succeeded);
            audit::append(&mut tx, now, event).await?;
            NewRecoveryCodes::Made(codes)
        } else {
            throttle::failed(&mut tx, attempt).await?;
            let (reason, said) = match step {
                Some(_) => ("code already used", USED_CODE),
                None => ("wrong code", APP_CODE_WRONG),
            };
            let event = who
                .event(Action::RecoveryCodesReplaced, Outcome::Failed)
                .with_details(json!({ "reason": reason }));
            audit::append(&mut tx, now, event).await?;
            NewRecoveryCodes::Refused(said)
        };
        tx.commit().await?;
        self.waiting.wake();
        Ok(outcome)
    }

    /// Removes someone's authenticator app and recovery codes (they lost their phone): they
    /// sign in with their password alone until they set up a new one (at once, when two-step
    /// sign-in is required).
    #[tracing::instrument(skip(self, who))]
    pub async fn reset_two_step(&self, who: &Who, id: i64) -> Result<User, AccountError> {
        let mut tx = self.db.write().await?;
        let user = target(&mut tx, id).await?;
        if !stored::remove(&mut tx, id).await? || !user.two_step {
            return Err(AccountError::NoTwoStep(user.username));
        }
        let event = who
            .event(Action::UserTwoStepReset, Outcome::Succeeded)
            .with_details(json!({ "username": user.username }));
        audit::append(&mut tx, self.now(), event).await?;
        tx.commit().await?;
        Ok(user)
    }
}
