//! Single sign-on with an OpenID Connect provider: the authorization code flow with PKCE
//! (S256), `state` and `nonce`, the provider found by discovery, and the ID token checked by
//! the `openidconnect` crate (signature against the provider's keys, issuer, audience, expiry,
//! nonce). What the token says about the person becomes an [`Identity`]; who that lets in is
//! `accounts::provider`.
//!
//! The provider's discovery document and keys are kept for a while and read again when a
//! token's signature does not check (the provider rotated its key) or the keys are an hour old.
//!
//! A flow in progress (its `state`, `nonce` and PKCE verifier) is held here in memory, under a
//! random id that only the browser which started it has (in a `SameSite=Lax` cookie, which the
//! browser sends on the provider's redirect back; the session's `Strict` cookie it does not).
//! A flow is taken out when its callback comes, so it is used at most once, and it lapses after
//! ten minutes.

use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
        CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
        CoreTokenIntrospectionResponse, CoreTokenType,
    },
};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use subtle::ConstantTimeEq;

use crate::{clock::Clock, config::Oidc};

/// How long a sign-in may take at the provider.
pub const FLOW_LIFETIME: time::Duration = time::Duration::minutes(10);
/// How long the provider's keys are used before they are read again.
const METADATA_LIFETIME: time::Duration = time::Duration::hours(1);
/// Flows held at once at most (each is a few hundred bytes); the oldest go first.
const MAX_FLOWS: usize = 10_000;

/// The claims callerdesk reads beyond the standard ones: the groups, under whichever name the
/// settings give (`CALLERDESK_OIDC_ROLES_CLAIM`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    pub claims: HashMap<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`: the provider's lasting id for the person.
    pub subject: String,
    /// `preferred_username`, if given.
    pub username: Option<String>,
    /// `email`, only when the provider says it is verified.
    pub verified_email: Option<String>,
    /// The groups claim's values.
    pub groups: Vec<String>,
}

/// Why a sign-in through the provider did not go through. The text is for the audit log; the
/// page says [`SsoError::sentence`].
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("the provider could not be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the sign-in was not started here, was used already or took too long")]
    UnknownFlow,
    #[error("the state did not match the sign-in started in this browser")]
    StateMismatch,
    #[error("the provider refused: {0}")]
    Refused(String),
    #[error("the ID token was refused: {0}")]
    BadToken(String),
    #[error("the ID token's signature did not check: {0}")]
    BadSignature(String),
}

impl SsoError {
    /// One sentence and one next step for the person signing in.
    pub fn sentence(&self, provider: &str) -> String {
        match self {
            SsoError::Provider(_) => format!(
                "callerdesk could not reach {provider} to finish signing you in. Try again in a minute; if it keeps failing, tell your IT team."
            ),
            SsoError::UnknownFlow | SsoError::StateMismatch => format!(
                "This sign-in link is no longer valid (it was used already, took more than 10 minutes, or was started in another browser). Sign in with {provider} again."
            ),
            SsoError::Refused(_) => format!(
                "{provider} did not sign you in. Try again, or ask your IT team if it keeps happening."
            ),
            SsoError::BadToken(_) | SsoError::BadSignature(_) => format!(
                "{provider}'s answer could not be trusted, so you were not signed in. Try again; if it keeps failing, tell your IT team."
            ),
        }
    }
}

/// A sign-in under way at the provider.
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    /// Where to go once signed in.
    next: String,
    started: time::OffsetDateTime,
}

/// The provider's discovery document and keys, and when they were read.
struct Discovered {
    metadata: CoreProviderMetadata,
    read_at: time::OffsetDateTime,
}

/// Sign-in through the configured provider. Cheap to clone.
#[derive(Clone)]
pub struct Sso {
    pub settings: Arc<Oidc>,
    http: reqwest::Client,
    clock: Clock,
    flows: Arc<Mutex<HashMap<String, Flow>>>,
    discovered: Arc<tokio::sync::Mutex<Option<Discovered>>>,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

/// The started sign-in: where to send the browser, and the id for its cookie.
pub struct Started {
    pub authorize_url: url::Url,
    pub flow_id: String,
}

/// A finished sign-in: who, and where they were going.
pub struct Finished {
    pub identity: Identity,
    pub next: String,
}

impl Sso {
    pub fn new(settings: Oidc, clock: Clock, timeout: Duration) -> Result<Self, SsoError> {
        // Redirects are never followed: a provider's endpoints answer directly (and following
        // them would let a document send callerdesk's requests elsewhere).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| SsoError::Provider(e.to_string()))?;
        Ok(Self {
            settings: Arc::new(settings),
            http,
            clock,
            flows: Arc::default(),
            discovered: Arc::default(),
        })
    }

    /// The provider's name, as the pages and the audit log give it.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The issuer, as the audit log records it.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The provider's metadata, read again when `fresh` or when it is an hour old.
    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, SsoError> {
        let mut discovered = self.discovered.lock().await;
        let now = self.clock.now();
        if let Some(d) = discovered.as_ref()
            && !fresh
            && now - d.read_at < METADATA_LIFETIME
        {
            return Ok(d.metadata.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| SsoError::Provider(e.to_string()))?;
        let client = HttpClient(self.http.clone());
        let metadata = CoreProviderMetadata::discover_async(issuer, &client)
            .await
            .map_err(|e| SsoError::Provider(error_chain(&e)))?;
        *discovered = Some(Discovered {
            metadata: metadata.clone(),
            read_at: now,
        });
        Ok(metadata)
    }

    fn client(&self, metadata: CoreProviderMetadata) -> Result<OidcClient, SsoError> {
        let redirect = RedirectUrl::new(self.settings.redirect_url.to_string())
            .map_err(|e| SsoError::Provider(e.to_string()))?;
        Ok(OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in: the provider's address to send the browser to, with a new flow.
    pub async fn start(&self, next: String) -> Result<Started, SsoError> {
        let client = self.client(self.metadata(false).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize_url, state, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let flow_id = crate::auth::random_token();
        let now = self.clock.now();
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        flows.retain(|_, f| now - f.started < FLOW_LIFETIME);
        if flows.len() >= MAX_FLOWS
            && let Some(oldest) = flows
                .iter()
                .min_by_key(|(_, f)| f.started)
                .map(|(id, _)| id.clone())
        {
            flows.remove(&oldest);
        }
        flows.insert(
            flow_id.clone(),
            Flow {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                next,
                started: now,
            },
        );
        Ok(Started {
            authorize_url,
            flow_id,
        })
    }

    /// Drops the flow the browser holding `flow_id` started (the provider said no).
    pub fn forget(&self, flow_id: Option<&str>) {
        if let Some(id) = flow_id {
            self.flows
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id);
        }
    }

    /// Finishes the sign-in the browser holding `flow_id` started: the `state` must be that
    /// flow's, the code is exchanged with its PKCE verifier, and the ID token must check. The
    /// flow is used up whatever happens.
    pub async fn finish(
        &self,
        flow_id: Option<&str>,
        state: &str,
        code: &str,
    ) -> Result<Finished, SsoError> {
        let flow = flow_id.and_then(|id| {
            self.flows
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id)
        });
        let flow = flow
            .filter(|f| self.clock.now() - f.started < FLOW_LIFETIME)
            .ok_or(SsoError::UnknownFlow)?;
        if !bool::from(flow.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(SsoError::StateMismatch);
        }
        let client = self.client(self.metadata(false).await?)?;
        let http = HttpClient(self.http.clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SsoError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| SsoError::Refused(error_chain(&e)))?;
        let id_token = tokens
            .extra_fields()
            .id_token()
            .ok_or_else(|| SsoError::BadToken("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(flow.nonce.clone());
        let identity = match self.identity(&client, id_token, &nonce) {
            Ok(identity) => identity,
            // A signature that does not check may be the provider's new key: read its keys
            // again, once.
            Err(SsoError::BadSignature(_)) => {
                let client = self.client(self.metadata(true).await?)?;
                self.identity(&client, id_token, &nonce)?
            }
            Err(e) => return Err(e),
        };
        Ok(Finished {
            identity,
            next: flow.next,
        })
    }

    fn identity(
        &self,
        client: &OidcClient,
        id_token: &openidconnect::IdToken<
            OtherClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >,
        nonce: &Nonce,
    ) -> Result<Identity, SsoError> {
        let clock = self.clock.clone();
        let verifier = client.id_token_verifier().set_time_fn(move || {
            let now = clock.now();
            chrono::DateTime::from_timestamp(now.unix_timestamp(), now.nanosecond())
                .unwrap_or_default()
        });
        let claims = id_token.claims(&verifier, nonce).map_err(|e| match e {
            openidconnect::ClaimsVerificationError::SignatureVerification(_) => {
                SsoError::BadSignature(error_chain(&e))
            }
            _ => SsoError::BadToken(error_chain(&e)),
        })?;
        let groups = match claims
            .additional_claims()
            .claims
            .get(&self.settings.roles_claim)
        {
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(Identity {
            subject: claims.subject().as_str().to_owned(),
            username: claims.preferred_username().map(|u| u.as_str().to_owned()),
            verified_email: claims
                .email()
                .filter(|_| claims.email_verified() == Some(true))
                .map(|e| e.as_str().to_owned()),
            groups,
        })
    }
}

/// An error and its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// An HTTP call to the provider failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// callerdesk's own HTTP client (reqwest, rustls) speaking for `openidconnect`.
struct HttpClient(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut outgoing = self.0.request(parts.method, parts.uri.to_string());
            for (name, value) in &parts.headers {
                outgoing = outgoing.header(name, value);
            }
            let response = outgoing
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(error_chain(&e)))?;
            let mut answer = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| HttpError(error_chain(&e)))?;
            answer
                .body(bytes.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}
