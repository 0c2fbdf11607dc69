//! Building the application: open the database, prepare the first-run setup link, build the
//! router, bind the listener (port 0 in tests), then serve until told to stop.

use axum::Router;
use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::{net::TcpListener, task::JoinHandle};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::{
    auth::{
        random_token,
        store::{self, SqliteSessions},
    },
    clock::Clock,
    config::{PlivoMode, Settings},
    db::{self, Db},
    plivo::{AuthToken, PlivoClient, PlivoConfig, PlivoError},
    sandbox::{self, Sandbox},
    sync::{self, Syncer},
    web::{
        self,
        state::{AppState, SetupGate},
    },
};

/// How long a shutdown waits for work that requests started.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "callerdesk_session";

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] db::OpenError),
    #[error("Could not listen on {address} (CALLERDESK_LISTEN): {source}.")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("The database could not be read: {0}.")]
    Query(#[from] sqlx::Error),
    #[error("The Plivo sandbox could not start: {0}.")]
    Sandbox(std::io::Error),
    #[error("The Plivo client could not be set up: {0}.")]
    Plivo(#[from] PlivoError),
    #[error("Single sign-on could not be set up: {0}.")]
    Sso(#[from] crate::auth::oidc::SsoError),
    #[error("CALLERDESK_SECRET_KEY can't be used: {0}")]
    SecretKey(#[from] crate::auth::sealed::KeyFileError),
}

/// A built application, bound to its port and ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    setup_token: Option<String>,
    background: Vec<JoinHandle<()>>,
}

impl Application {
    /// Opens the database (applying migrations), binds the listener and builds the router.
    pub async fn build(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        let db = Db::open(&settings.database).await?;
        // No code can be being checked before the server serves: free the slots a crash left.
        let freed =
            db::verifications::end_all_code_checks(&mut *db.writer.acquire().await?).await?;
        if freed > 0 {
            tracing::info!(
                verifications = freed,
                "code checks left by a stop were given back"
            );
        }
        let setup_token = (db::users::count(&db.reader).await? == 0).then(random_token);
        let setup = setup_token
            .clone()
            .map_or_else(SetupGate::closed, SetupGate::open);

        let sqlite_sessions = SqliteSessions::new(db.reader.clone(), db.writer.clone());
        let idle =
            time::Duration::try_from(settings.session_idle).unwrap_or(time::Duration::MINUTE * 30);
        let sessions = SessionManagerLayer::new(store::store(sqlite_sessions.clone()))
            .with_name(SESSION_COOKIE)
            .with_http_only(true)
            .with_same_site(SameSite::Strict)
            .with_secure(settings.secure_cookies)
            .with_expiry(Expiry::OnInactivity(idle));
        let expired_sessions = tokio::spawn(async move {
            use tower_sessions::ExpiredDeletion;
            if let Err(e) = sqlite_sessions
                .continuously_delete_expired(tokio::time::Duration::from_secs(600))
                .await
            {
                tracing::warn!(error = %e, "deleting expired sessions stopped");
            }
        });

        let (plivo, sandbox, sandbox_task) = plivo_for(&settings, &db, &clock).await?;
        let mut background = vec![expired_sessions];
        background.extend(sandbox_task);
        let syncer = Syncer {
            db: db.clone(),
            plivo: plivo.clone(),
            clock: clock.clone(),
            pages_in_flight: settings.sync_pages_in_flight,
        };
        if let Some(interval) = settings.sync_interval {
            background.push(tokio::spawn(sync::schedule(syncer.clone(), interval)));
        }

        let address = settings.listen;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Listen { address, source })?;
        // The use cases, built once and shared by every request.
        let tasks = tokio_util::task::TaskTracker::new();
        let sealing = crate::auth::sealed::SealingKey::load_or_create(&settings.secret_key)?;
        let accounts = crate::accounts::Accounts::new(db.clone(), clock.clone())
            .with_sealing(sealing)
            .with_password_signin(settings.sign_in.password_signin);
        let sso = match &settings.sign_in.oidc {
            Some(oidc) => Some(crate::auth::oidc::Sso::new(
                oidc.clone(),
                clock.clone(),
                settings.plivo_timeout,
            )?),
            None => None,
        };
        let caller_ids = crate::caller_ids::CallerIds {
            db: db.clone(),
            plivo: plivo.clone(),
            clock: clock.clone(),
        };
        let verifier = crate::verify::Verifier {
            db: db.clone(),
            plivo: plivo.clone(),
            clock: clock.clone(),
            limits: crate::verify::Limits {
                resend_cooldown: settings.resend_cooldown,
                per_number_per_day: settings.codes_per_number_per_day,
                per_person_per_hour: settings.codes_per_person_per_hour,
            },
            tasks: tasks.clone(),
        };
        let state = AppState {
            db,
            settings: Arc::new(settings),
            clock,
            setup,
            plivo,
            sandbox,
            chain: crate::audit::ChainWatch::default(),
            form_key: crate::web::csrf::FormKey::random(),
            sso,
            accounts,
            caller_ids,
            verifier,
            syncer,
            tasks,
        };
        background.push(tokio::spawn(state.chain.clone().check_regularly(
            state.db.reader.clone(),
            state.clock.clone(),
            state.settings.audit_check_interval,
        )));
        for destination in &state.settings.forward {
            background.push(tokio::spawn(crate::audit::forward::run(
                destination.clone(),
                state.db.clone(),
                state.clock.clone(),
            )));
        }
        if let Some(checkpointer) = state.settings.checkpoints.clone() {
            background.push(tokio::spawn(crate::audit::checkpoints::schedule(
                checkpointer,
                state.db.clone(),
                state.clock.clone(),
            )));
        }
        background.push(tokio::spawn(crate::verify::expire_regularly(
            state.verifier.clone(),
            std::time::Duration::from_secs(30),
        )));
        let router = web::router(state.clone(), sessions);
        Ok(Self {
            listener,
            router,
            state,
            setup_token,
            background,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The router, to drive in-process without a socket (`tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The address people should open.
    pub fn url(&self) -> String {
        let ip = self.state.settings.listen.ip();
        let host = if ip.is_unspecified() {
            "127.0.0.1".to_owned()
        } else if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!("http://{host}:{}", self.port())
    }

    /// The one-time link that creates the first admin, while no user exists.
    pub fn setup_url(&self) -> Option<String> {
        self.setup_token
            .as_ref()
            .map(|token| format!("{}/setup?token={token}", self.url()))
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests, stops background
    /// work and closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        // Work requests started (a sync, an export, a code being checked) finishes and records
        // its outcome, within a bound.
        self.state.tasks.close();
        if tokio::time::timeout(SHUTDOWN_WAIT, self.state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "work started by requests did not finish within {SHUTDOWN_WAIT:?}; it stops now"
            );
        }
        for task in self.background {
            task.abort();
        }
        // The last events get a checkpoint of their own before the server stops.
        if let Some(checkpointer) = &self.state.settings.checkpoints {
            match checkpointer
                .make(&self.state.db, self.state.clock.now())
                .await
            {
                Ok(Some(c)) => tracing::info!(event = c.event_id, "checkpoint signed at shutdown"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "no checkpoint could be made at shutdown"),
            }
        }
        self.state.db.close().await;
        served
    }
}

/// The Plivo client: for live credentials, Plivo itself; otherwise the sandbox, started
/// in-process on a loopback port and reached over HTTP like the real thing.
pub async fn plivo_for(
    settings: &Settings,
    db: &Db,
    clock: &Clock,
) -> Result<(PlivoClient, Option<Sandbox>, Option<JoinHandle<()>>), StartError> {
    let (config, sandbox, task) = match &settings.plivo {
        PlivoMode::Live {
            auth_id,
            auth_token,
        } => (
            PlivoConfig::new(
                settings.plivo_api_base.clone(),
                auth_id.clone(),
                auth_token.clone(),
            ),
            None,
            None,
        ),
        PlivoMode::Sandbox => {
            let token = AuthToken::new(random_token());
            let sandbox = Sandbox::new(
                db.clone(),
                clock.clone(),
                sandbox::DEFAULT_AUTH_ID.to_owned(),
                token.clone(),
            );
            let listener = TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(StartError::Sandbox)?;
            let port = listener.local_addr().map_err(StartError::Sandbox)?.port();
            let task = sandbox.spawn(listener);
            seed_sandbox_once(db, &sandbox).await?;
            let base = url::Url::parse(&format!("http://127.0.0.1:{port}/v1/"))
                .map_err(|e| StartError::Sandbox(std::io::Error::other(e)))?;
            (
                PlivoConfig::new(base, sandbox::DEFAULT_AUTH_ID.to_owned(), token),
                Some(sandbox),
                Some(task),
            )
        }
    };
    let config = PlivoConfig {
        timeout: settings.plivo_timeout,
        ..config
    };
    Ok((PlivoClient::new(config)?, sandbox, task))
}

/// How many made-up caller IDs a new sandbox starts with, so the list is not empty.
pub const SANDBOX_FIRST_SEED: u32 = 12;

/// On the first start in sandbox mode, gives the sandbox a few caller IDs to list.
async fn seed_sandbox_once(db: &Db, sandbox: &Sandbox) -> Result<(), StartError> {
    let first =
        sqlx::query("INSERT OR IGNORE INTO app_meta (key, value) VALUES ('sandbox_seeded', 'yes')")
            .execute(&db.writer)
            .await?
            .rows_affected()
            == 1;
    if first {
        sandbox.seed(SANDBOX_FIRST_SEED).await?;
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
