//! Who a sign-in through the company's provider lets in, as one use case under the writer:
//! the account linked to the person's `sub`; else an account an admin made beforehand, named
//! by the person's verified email, which is then linked; else a new account when a group gives
//! a role. The role follows the groups at each sign-in (for an account an admin made, only
//! while a group gives one); a disabled account stays disabled. Every outcome is an audit
//! event naming the provider and the subject.

use serde_json::json;

use super::{AccountError, Accounts, is_last_active_admin};
use crate::{
    audit::{self, Action, Actor, Outcome, RequestMeta, Who},
    auth::oidc::Identity,
    db::{
        Timestamp,
        users::{self, User},
    },
    domain::{Role, Username},
};

/// The provider, as the audit log names it.
#[derive(Debug, Clone)]
pub struct Provider<'a> {
    /// The button's wording ("your company account", "Google").
    pub name: &'a str,
    /// The issuer URL.
    pub issuer: &'a str,
}

/// How a sign-in through the provider ended.
#[derive(Debug)]
pub enum ProviderSignIn {
    SignedIn(User),
    /// Not let in: the sentence says why and whom to ask.
    Refused(String),
}

impl Accounts {
    /// Signs in the person the provider vouched for, with `role` as their groups give it.
    #[tracing::instrument(skip_all, fields(subject = %identity.subject))]
    pub async fn sign_in_with_provider(
        &self,
        provider: &Provider<'_>,
        identity: &Identity,
        role: Option<Role>,
        meta: &RequestMeta,
    ) -> Result<ProviderSignIn, AccountError> {
        let now = self.now();
        let mut tx = self.db.write().await?;
        let base = json!({
            "provider": provider.name,
            "issuer": provider.issuer,
            "subject": identity.subject,
        });
        let with = |extra: serde_json::Value| merged(&base, extra);
        let anonymous = Who::new(Actor::anonymous(), meta.clone());

        let mut user = users::by_subject(&mut *tx, provider.issuer, &identity.subject).await?;
        // An account an admin made beforehand, named by the person's verified email, and not
        // yet linked to anyone.
        if user.is_none()
            && let Some(email) = &identity.verified_email
            && let Some(found) = users::by_name(&mut *tx, email).await?
            && found.oidc_subject.is_none()
        {
            users::link(&mut tx, found.id, provider.issuer, &identity.subject).await?;
            let event = Who::new(Actor::user(found.id, &found.username), meta.clone())
                .event(Action::UserLinked, Outcome::Succeeded)
                .with_details(with(
                    json!({ "username": found.username, "by": "verified email" }),
                ));
            audit::append(&mut tx, now, event).await?;
            user = Some(found);
        }
        let user = match (user, role) {
            (Some(user), _) => user,
            (None, Some(role)) => {
                match self
                    .provision(&mut tx, provider, identity, role, meta, &base)
                    .await?
                {
                    Ok(user) => user,
                    Err(sentence) => {
                        tx.commit().await?;
                        return Ok(ProviderSignIn::Refused(sentence));
                    }
                }
            }
            (None, None) => {
                let event = anonymous
                    .event(Action::SignIn, Outcome::Failed)
                    .with_details(with(json!({
                        "reason": "no group that gives a role",
                        "username": identity.username.clone().or(identity.verified_email.clone()),
                    })));
                audit::append(&mut tx, now, event).await?;
                tx.commit().await?;
                return Ok(ProviderSignIn::Refused(format!(
                    "Your {} is not in a group that may use callerdesk. Ask your IT team to add you to callerdesk's group, or a callerdesk admin to create your account.",
                    provider.name
                )));
            }
        };
        let who = Who::new(Actor::user(user.id, &user.username), meta.clone());
        let refusal = if user.disabled {
            Some((
                "account disabled",
                "Your callerdesk account is disabled. Ask a callerdesk admin if you should have access.".to_owned(),
            ))
        } else if role.is_none() && user.provisioned {
            Some((
                "no group that gives a role any more",
                format!(
                    "Your {} is no longer in a group that may use callerdesk. Ask your IT team if you still need access.",
                    provider.name
                ),
            ))
        } else {
            None
        };
        if let Some((reason, sentence)) = refusal {
            let event = who
                .event(Action::SignIn, Outcome::Failed)
                .with_details(with(json!({ "username": user.username, "reason": reason })));
            audit::append(&mut tx, now, event).await?;
            tx.commit().await?;
            return Ok(ProviderSignIn::Refused(sentence));
        }
        let mut user = user;
        if let Some(role) = role
            && role != user.role()
        {
            if is_last_active_admin(&mut tx, &user).await? {
                tracing::warn!(
                    user = user.id,
                    "the groups would take the role of the only active admin; it stays admin"
                );
            } else {
                users::set_role(&mut tx, user.id, role).await?;
                let event = who
                    .event(Action::UserRoleChanged, Outcome::Succeeded)
                    .with_details(with(json!({
                        "username": user.username,
                        "old": user.role().as_str(),
                        "new": role.as_str(),
                        "by": "groups at the provider",
                    })));
                audit::append(&mut tx, now, event).await?;
                user.role = role;
            }
        }
        users::record_sign_in(&mut tx, user.id, Timestamp::from(now)).await?;
        let event = who
            .event(Action::SignIn, Outcome::Succeeded)
            .with_details(with(json!({ "username": user.username })));
        audit::append(&mut tx, now, event).await?;
        tx.commit().await?;
        Ok(ProviderSignIn::SignedIn(user))
    }

    /// A new account for a person whose groups give `role`, named from their
    /// `preferred_username`, else their verified email; `Err` with a sentence when neither is
    /// usable or free.
    async fn provision(
        &self,
        tx: &mut sqlx::SqliteConnection,
        provider: &Provider<'_>,
        identity: &Identity,
        role: Role,
        meta: &RequestMeta,
        base: &serde_json::Value,
    ) -> Result<Result<User, String>, AccountError> {
        let now = self.now();
        let with = |extra: serde_json::Value| merged(base, extra);
        let candidates = [&identity.username, &identity.verified_email];
        let mut taken = None;
        for name in candidates.into_iter().flatten() {
            let Ok(username) = Username::parse(name) else {
                continue;
            };
            // No password: the account signs in only through the provider.
            if let Some(id) =
                users::insert(tx, &username, "", role, false, Timestamp::from(now)).await?
            {
                users::link(tx, id, provider.issuer, &identity.subject).await?;
                users::set_provisioned(tx, id).await?;
                let who = Who::new(Actor::user(id, username.as_str()), meta.clone());
                let event = who
                    .event(Action::UserCreated, Outcome::Succeeded)
                    .with_details(with(json!({
                        "username": username.as_str(), "role": role.as_str(),
                        "by": "first sign-in through the provider",
                    })));
                audit::append(tx, now, event).await?;
                let user = users::by_id(&mut *tx, id)
                    .await?
                    .ok_or(AccountError::NoSuchUser)?;
                return Ok(Ok(user));
            }
            taken.get_or_insert(username);
        }
        let event = Who::new(Actor::anonymous(), meta.clone())
            .event(Action::SignIn, Outcome::Failed)
            .with_details(with(json!({
                "reason": "no free name for a new account",
                "username": identity.username.clone().or(identity.verified_email.clone()),
            })));
        audit::append(tx, now, event).await?;
        Ok(Err(match taken {
            Some(name) => format!(
                "callerdesk already has an account called {name} that belongs to someone else. Ask a callerdesk admin to sort it out."
            ),
            None => format!(
                "Your {} gave callerdesk no name or verified email to create your account with. Ask your IT team.",
                provider.name
            ),
        }))
    }
}

/// `base`'s fields with `extra`'s added.
fn merged(base: &serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut details = base.clone();
    if let (Some(d), serde_json::Value::Object(e)) = (details.as_object_mut(), extra) {
        d.extend(e);
    }
    details
}
