//! Staff accounts as use cases: signing in, first-run setup, adding people, changing roles,
//! passwords and access, each with its audit event in the same transaction. The web pages and
//! the command line both call these, so a rule (the last admin, a name already taken, throttled
//! password checks) is written once and holds the same everywhere.

mod provider;
mod two_step;

use serde_json::json;
use time::OffsetDateTime;

pub use provider::{Provider, ProviderSignIn};
pub use two_step::{Confirmed, NewRecoveryCodes, SecondStep};

use crate::{
    Result,
    audit::{self, Action, Actor, Outcome, RequestMeta, Who},
    auth::{
        password::{self, HashError},
        sealed::SealingKey,
        throttle::{self, Decided},
    },
    clock::Clock,
    db::{
        Db, Timestamp,
        users::{self, User},
    },
    domain::{Password, Role, Username},
};

/// Why an account change was not made, in words for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("There is already a user called {0}. Choose another name.")]
    NameTaken(Username),
    #[error("There is no such user.")]
    NoSuchUser,
    #[error("{0} is the only active admin, so they stay admin. Make someone else admin first.")]
    LastAdminKeepsRole(String),
    #[error("{0} is the only active admin and can't be disabled. Make someone else admin first.")]
    LastAdminStaysActive(String),
    #[error("{0} is already {1}.")]
    AlreadyRole(String, Role),
    #[error("{0} is already disabled.")]
    AlreadyDisabled(String),
    #[error("{0} is already active.")]
    AlreadyActive(String),
    #[error("Two-step sign-in is already on for {0}.")]
    TwoStepAlreadyOn(String),
    #[error("{0} has no two-step sign-in to reset.")]
    NoTwoStep(String),
    /// Setup happens once: an account exists already.
    #[error("callerdesk is already set up.")]
    AlreadySetUp,
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// How a sign-in (or a check of the current password) ended.
#[derive(Debug)]
pub enum SignIn {
    /// The right password, for an account that may sign in.
    Succeeded(User),
    /// The right password, for an account with a second step: not signed in until it passes
    /// (`Accounts::second_step`).
    SecondStepDue(User),
    /// A wrong password, an unknown name or a disabled account (told apart to no one).
    Refused,
    /// Too many tries: refused without checking; try again after this long.
    Throttled(time::Duration),
}

/// The account use cases, with what they need. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub db: Db,
    pub clock: Clock,
    /// Wakes password checks waiting for others in flight (`auth::throttle`).
    pub waiting: throttle::Waiting,
    /// Seals authenticator seeds (`auth::sealed`).
    pub sealing: SealingKey,
    /// False: only break-glass accounts sign in with a password (`CALLERDESK_PASSWORD_SIGNIN`).
    pub password_signin: bool,
}

impl Accounts {
    pub fn new(db: Db, clock: Clock) -> Self {
        Self {
            db,
            clock,
            waiting: throttle::Waiting::default(),
            sealing: SealingKey::ephemeral(),
            password_signin: true,
        }
    }

    /// The same, with password sign-in limited to break-glass accounts when `allowed` is false.
    pub fn with_password_signin(self, allowed: bool) -> Self {
        Self {
            password_signin: allowed,
            ..self
        }
    }

    /// The same, sealing authenticator seeds with `key` (the server's key file).
    pub fn with_sealing(self, sealing: SealingKey) -> Self {
        Self { sealing, ..self }
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Checks a password, throttled: a slot is claimed before the hash is computed (see
    /// `auth::throttle`), and the outcome is recorded with its audit event. `username` is
    /// what was typed.
    #[tracing::instrument(skip(self, password, meta))]
    pub async fn sign_in(
        &self,
        username: &str,
        password: String,
        meta: &RequestMeta,
    ) -> Result<SignIn, AccountError> {
        let ip = meta.client_ip.as_deref().unwrap_or("unknown");
        let tried = json!({ "username": username });
        let who = Who::new(Actor::anonymous(), meta.clone());
        let attempt = match self
            .claim(username, ip, &who, Action::SignInThrottled, &tried)
            .await?
        {
            Ok(attempt) => attempt,
            Err(wait) => return Ok(SignIn::Throttled(wait)),
        };
        let user = users::by_name(&self.db.reader, username).await?;
        let stored = match &user {
            Some(u) => users::password_hash(&self.db.reader, u.id).await?,
            None => None,
        };
        let checked = password::check(password, stored).await;
        let now = self.now();
        let mut tx = self.db.write().await?;
        let may_use_password = |u: &User| self.password_signin || u.break_glass;
        let outcome = match user.filter(|u| checked.is_some() && !u.disabled && may_use_password(u))
        {
            Some(user) if user.two_step => {
                if let Some(Some(upgraded)) = &checked {
                    users::upgrade_password_hash(&mut tx, user.id, upgraded).await?;
                }
                throttle::released(&mut tx, attempt).await?;
                SignIn::SecondStepDue(user)
            }
            Some(user) => {
                users::record_sign_in(&mut tx, user.id, Timestamp::from(now)).await?;
                if let Some(Some(upgraded)) = &checked {
                    users::upgrade_password_hash(&mut tx, user.id, upgraded).await?;
                }
                throttle::succeeded(&mut tx, attempt, username).await?;
                let actor = Actor::user(user.id, &user.username);
                let event = Who::new(actor, meta.clone())
                    .event(Action::SignIn, Outcome::Succeeded)
                    .with_details(json!({ "username": user.username }));
                audit::append(&mut tx, now, event).await?;
                SignIn::Succeeded(user)
            }
            None => {
                throttle::failed(&mut tx, attempt).await?;
                let event = who
                    .event(Action::SignIn, Outcome::Failed)
                    .with_details(tried);
                audit::append(&mut tx, now, event).await?;
                SignIn::Refused
            }
        };
        tx.commit().await?;
        self.waiting.wake();
        Ok(outcome)
    }

    /// A slot for one password check of `username` from `ip`, or how long to wait; a refusal
    /// is recorded as `refused` with `details`.
    async fn claim(
        &self,
        username: &str,
        ip: &str,
        who: &Who,
        refused: Action,
        details: &serde_json::Value,
    ) -> Result<Result<throttle::Attempt, time::Duration>, AccountError> {
        let (decided, mut tx) =
            throttle::claim_or_wait(&self.db, &self.waiting, username, ip, || self.now()).await?;
        let claimed = match decided {
            Decided::Granted(attempt) => Ok(attempt),
            Decided::Throttled(wait) => {
                let event = who
                    .event(refused, Outcome::Failed)
                    .with_details(details.clone());
                audit::append(&mut tx, self.now(), event).await?;
                Err(wait)
            }
        };
        tx.commit().await?;
        Ok(claimed)
    }

    /// Changes a signed-in person's own password after checking the current one, which is
    /// throttled like a sign-in (it is a password guess too). Every refusal is an event.
    #[tracing::instrument(skip_all, fields(user = user.id))]
    pub async fn change_own_password(
        &self,
        user: &User,
        current: String,
        new: &Password,
        meta: &RequestMeta,
    ) -> Result<SignIn, AccountError> {
        let who = Who::new(Actor::user(user.id, &user.username), meta.clone());
        let ip = meta.client_ip.as_deref().unwrap_or("unknown");
        let throttled = json!({ "reason": "too many wrong passwords" });
        let attempt = match self
            .claim(
                &user.username,
                ip,
                &who,
                Action::PasswordChanged,
                &throttled,
            )
            .await?
        {
            Ok(attempt) => attempt,
            Err(wait) => return Ok(SignIn::Throttled(wait)),
        };
        let stored = users::password_hash(&self.db.reader, user.id).await?;
        let right = password::verify(current, stored).await;
        let hash = if right {
            Some(password::hash(new).await?)
        } else {
            None
        };
        let now = self.now();
        let mut tx = self.db.write().await?;
        let outcome = match hash {
            Some(hash) => {
                throttle::succeeded(&mut tx, attempt, &user.username).await?;
                users::set_password(&mut tx, user.id, &hash, false).await?;
                let event = who.event(Action::PasswordChanged, Outcome::Succeeded);
                audit::append(&mut tx, now, event).await?;
                SignIn::Succeeded(user.clone())
            }
            None => {
                throttle::failed(&mut tx, attempt).await?;
                let event = who
                    .event(Action::PasswordChanged, Outcome::Failed)
                    .with_details(json!({ "reason": "wrong current password" }));
                audit::append(&mut tx, now, event).await?;
                SignIn::Refused
            }
        };
        tx.commit().await?;
        self.waiting.wake();
        Ok(outcome)
    }

    /// Creates the first admin (first-run setup): only while no account exists, checked under
    /// the writer so two tabs can't both do it. The new admin is signed in by it (the caller
    /// starts the session): that is recorded as a sign-in, after setup.
    #[tracing::instrument(skip(self, password, meta))]
    pub async fn set_up(
        &self,
        username: &Username,
        password: &Password,
        meta: &RequestMeta,
    ) -> Result<User, AccountError> {
        let hash = password::hash(password).await?;
        let mut tx = self.db.write().await?;
        if users::count(&mut *tx).await? > 0 {
            return Err(AccountError::AlreadySetUp);
        }
        let now = self.now();
        let id = users::insert(
            &mut tx,
            username,
            &hash,
            Role::Admin,
            false,
            Timestamp::from(now),
        )
        .await?
        .ok_or_else(|| AccountError::NameTaken(username.clone()))?;
        let who = Who::new(Actor::user(id, username.as_str()), meta.clone());
        audit::append(
            &mut tx,
            now,
            who.event(Action::SetupCompleted, Outcome::Succeeded),
        )
        .await?;
        // With password sign-in off, a password admin could never sign in again: the first
        // admin is a break-glass account then.
        let break_glass = !self.password_signin;
        if break_glass {
            users::set_break_glass(&mut tx, id).await?;
        }
        append_created(&mut tx, now, &who, username, Role::Admin, break_glass).await?;
        users::record_sign_in(&mut tx, id, Timestamp::from(now)).await?;
        audit::append(
            &mut tx,
            now,
            who.event(Action::SignIn, Outcome::Succeeded)
                .with_details(json!({ "username": username.as_str(), "after": "setup" })),
        )
        .await?;
        let user = users::by_id(&mut *tx, id)
            .await?
            .ok_or(AccountError::NoSuchUser)?;
        tx.commit().await?;
        Ok(user)
    }

    /// Adds an account. With `temporary`, the person must choose their own password at their
    /// first sign-in (as when an admin hands it over).
    pub async fn create(
        &self,
        who: &Who,
        username: &Username,
        password: &Password,
        role: Role,
        temporary: bool,
    ) -> Result<User, AccountError> {
        self.create_with(who, username, password, role, temporary, false)
            .await
    }

    /// Adds an account; with `break_glass`, one that may sign in with a password when password
    /// sign-in is off (`callerdesk user add --break-glass`).
    #[tracing::instrument(skip(self, who, password))]
    pub async fn create_with(
        &self,
        who: &Who,
        username: &Username,
        password: &Password,
        role: Role,
        temporary: bool,
        break_glass: bool,
    ) -> Result<User, AccountError> {
        let hash = password::hash(password).await?;
        let now = self.now();
        let mut tx = self.db.write().await?;
        let id = users::insert(
            &mut tx,
            username,
            &hash,
            role,
            temporary,
            Timestamp::from(now),
        )
        .await?
        .ok_or_else(|| AccountError::NameTaken(username.clone()))?;
        if break_glass {
            users::set_break_glass(&mut tx, id).await?;
        }
        append_created(&mut tx, now, who, username, role, break_glass).await?;
        let user = users::by_id(&mut *tx, id)
            .await?
            .ok_or(AccountError::NoSuchUser)?;
        tx.commit().await?;
        Ok(user)
    }

    /// Changes someone's role; the last active admin stays admin.
    #[tracing::instrument(skip(self, who))]
    pub async fn change_role(&self, who: &Who, id: i64, role: Role) -> Result<User, AccountError> {
        let mut tx = self.db.write().await?;
        let user = target(&mut tx, id).await?;
        if user.role() == role {
            return Err(AccountError::AlreadyRole(user.username, role));
        }
        if is_last_active_admin(&mut tx, &user).await? {
            return Err(AccountError::LastAdminKeepsRole(user.username));
        }
        users::set_role(&mut tx, id, role).await?;
        let event = who
            .event(Action::UserRoleChanged, Outcome::Succeeded)
            .with_details(json!({
                "username": user.username, "old": user.role().as_str(), "new": role.as_str()
            }));
        audit::append(&mut tx, self.now(), event).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Sets someone's password (ending their sessions). With `temporary`, they must choose
    /// their own at their next sign-in.
    #[tracing::instrument(skip(self, who, password))]
    pub async fn reset_password(
        &self,
        who: &Who,
        id: i64,
        password: &Password,
        temporary: bool,
    ) -> Result<User, AccountError> {
        let hash = password::hash(password).await?;
        let mut tx = self.db.write().await?;
        let user = target(&mut tx, id).await?;
        users::set_password(&mut tx, id, &hash, temporary).await?;
        let event = who
            .event(Action::UserPasswordReset, Outcome::Succeeded)
            .with_details(json!({ "username": user.username }));
        audit::append(&mut tx, self.now(), event).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Disables (ending their sessions) or enables someone; the last active admin can't be
    /// disabled.
    #[tracing::instrument(skip(self, who))]
    pub async fn set_disabled(
        &self,
        who: &Who,
        id: i64,
        disabled: bool,
    ) -> Result<User, AccountError> {
        let mut tx = self.db.write().await?;
        let user = target(&mut tx, id).await?;
        if user.disabled == disabled {
            return Err(if disabled {
                AccountError::AlreadyDisabled(user.username)
            } else {
                AccountError::AlreadyActive(user.username)
            });
        }
        if disabled && is_last_active_admin(&mut tx, &user).await? {
            return Err(AccountError::LastAdminStaysActive(user.username));
        }
        users::set_disabled(&mut tx, id, disabled).await?;
        let action = if disabled {
            Action::UserDisabled
        } else {
            Action::UserEnabled
        };
        let event = who
            .event(action, Outcome::Succeeded)
            .with_details(json!({ "username": user.username }));
        audit::append(&mut tx, self.now(), event).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The account called `name` (in any case).
    pub async fn by_name(&self, name: &str) -> Result<User, AccountError> {
        users::by_name(&self.db.reader, name)
            .await?
            .ok_or(AccountError::NoSuchUser)
    }
}

/// The account an action is about, read inside the writer's transaction.
async fn target(conn: &mut sqlx::SqliteConnection, id: i64) -> Result<User, AccountError> {
    users::by_id(conn, id)
        .await?
        .ok_or(AccountError::NoSuchUser)
}

/// Whether changing `user` would leave no active admin. Read in the writer's transaction, so
/// two admins demoting each other at once can't both pass.
async fn is_last_active_admin(
    conn: &mut sqlx::SqliteConnection,
    user: &User,
) -> Result<bool, AccountError> {
    Ok(user.role() == Role::Admin && !user.disabled && users::active_admins(conn).await? <= 1)
}

/// The `user_created` event of an account made here or on the command line (one made at a
/// first single sign-on has its own, in `provider`).
async fn append_created(
    conn: &mut sqlx::SqliteConnection,
    now: OffsetDateTime,
    who: &Who,
    username: &Username,
    role: Role,
    break_glass: bool,
) -> Result<(), AccountError> {
    let mut details = json!({ "username": username.as_str(), "role": role.as_str() });
    if break_glass {
        details["break_glass"] = json!(true);
    }
    let event = who
        .event(Action::UserCreated, Outcome::Succeeded)
        .with_details(details);
    audit::append(conn, now, event).await?;
    Ok(())
}
