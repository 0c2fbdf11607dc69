//! Extractors: who is signed in ([`CurrentUser`]) and where a request came from
//! ([`ClientMeta`]).

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

use crate::{
    audit::{Actor, RequestMeta},
    db::users::{self, User},
    domain::{Permission, Role},
    web::error::{AppError, Refusal},
    web::{session, state::AppState},
};

/// The signed-in user, checked on every request against the database: a disabled user, a
/// bumped session epoch (password reset, disable) or a session past its absolute lifetime all
/// end the session here.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub session: Session,
    /// The single sign-on provider this session came through; `None` for a password.
    pub provider: Option<String>,
}

/// Paths a user with a temporary password may still use.
const PASSWORD_CHANGE_PATHS: [&str; 3] = ["/account", "/account/password", "/logout"];
/// Paths a user who must set up two-step sign-in may still use.
const TWO_STEP_SETUP_PATHS: [&str; 5] = [
    "/account",
    "/account/password",
    "/account/two-step",
    "/account/two-step/confirm",
    "/logout",
];

impl CurrentUser {
    pub fn role(&self) -> Role {
        self.user.role()
    }

    /// Refuses with 403 unless the user's role allows `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.role().can(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden(Refusal {
                actor: self.actor(),
                reason: format!(
                    "the role {} may not {}",
                    self.role().as_str(),
                    permission.description()
                ),
            }))
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id, &self.user.username)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, why)| AppError::Internal(anyhow::anyhow!("session missing: {why}")))?;
        let next = (parts.method == axum::http::Method::GET)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
            .flatten();
        let signed_in_required = || AppError::SignInRequired { next: next.clone() };

        let Some(signed_in) = session::signed_in(&session).await? else {
            return Err(signed_in_required());
        };
        let user = users::by_id(&state.db.reader, signed_in.user_id).await?;
        let now = state.clock.now().unix_timestamp();
        let valid = user.filter(|u| sign_in_holds(state, u, &signed_in));
        let Some(user) = valid else {
            session::end(&session).await?;
            return Err(signed_in_required());
        };
        // Modifying the session makes the store save it, which pushes the idle expiry back: at
        // most once a minute, and often enough that activity always keeps a session alive.
        let idle = i64::try_from(state.settings.session_idle.as_secs()).unwrap_or(i64::MAX);
        let every = session::TOUCH_EVERY_SECS.min(idle / 4);
        session::touch(&session, now, every).await?;
        let path = parts.uri.path();
        if user.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&path) {
            return Err(AppError::PasswordChangeRequired);
        }
        let provider = signed_in.provider;
        if must_set_up_two_step(state, &user, provider.is_some())
            && !TWO_STEP_SETUP_PATHS.contains(&path)
        {
            return Err(AppError::TwoStepSetupRequired);
        }
        Ok(Self {
            user,
            session,
            provider,
        })
    }
}

/// Whether `user` must set up an authenticator app before anything else
/// (`CALLERDESK_REQUIRE_TWO_STEP`): password sign-ins only (a provider has its own).
pub fn must_set_up_two_step(state: &AppState, user: &User, via_provider: bool) -> bool {
    state.settings.require_two_step && !user.two_step && !via_provider
}

/// Whether a sign-in still holds for `user`: not disabled since, no epoch bump (a password
/// reset, a disable) since, and within the session's absolute lifetime.
pub fn sign_in_holds(state: &AppState, user: &users::User, signed_in: &session::SignedIn) -> bool {
    let max_age = i64::try_from(state.settings.session_max.as_secs()).unwrap_or(i64::MAX);
    !user.disabled
        && user.session_epoch == signed_in.epoch
        && state
            .clock
            .now()
            .unix_timestamp()
            .saturating_sub(signed_in.signed_in_at)
            < max_age
}

/// Client IP, user agent and request id, for the audit log.
#[derive(Debug, Clone)]
pub struct ClientMeta(pub RequestMeta);

impl ClientMeta {
    /// The client IP as text, or "unknown" (for throttling keys).
    pub fn ip_or_unknown(&self) -> String {
        self.0.client_ip.clone().unwrap_or_else(|| "unknown".into())
    }
}

impl ClientMeta {
    /// Where the request with these headers and extensions came from.
    pub fn of(
        headers: &HeaderMap,
        extensions: &axum::http::Extensions,
        trusted_proxies: &[IpNet],
    ) -> Self {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(512).collect::<String>())
        };
        Self(RequestMeta {
            client_ip: peer
                .map(|peer| client_ip(peer, headers, trusted_proxies))
                .map(|ip| ip.to_string()),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        })
    }
}

impl FromRequestParts<AppState> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(
            &parts.headers,
            &parts.extensions,
            &state.settings.trusted_proxies,
        ))
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case the
/// right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let headers = xff("198.51.100.7, 10.0.0.5");
        assert_eq!(
            client_ip(proxy, &headers, &trusted).to_string(),
            "198.51.100.7"
        );
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        assert_eq!(client_ip(proxy, &headers, &[]), proxy);
        // A client can't pick its address by prepending to the header.
        let headers = xff("1.2.3.4, 198.51.100.7");
        assert_eq!(
            client_ip(proxy, &headers, &trusted).to_string(),
            "198.51.100.7"
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
