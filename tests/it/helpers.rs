//! The test harness: a running app on a fresh database, and a browser-like HTTP client.

use callerdesk::{
    audit::Actor,
    clock::Clock,
    config::{DatabaseArg, ServeArgs, Settings},
    domain::{Password, Role, Username},
    startup::Application,
    web::state::AppState,
};
use reqwest::{Response, StatusCode, redirect::Policy};
use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

/// A good password for tests.
pub const PASSWORD: &str = "correct horse battery staple";

/// The application, running in this process on its own port and database file.
pub struct TestApp {
    pub base: String,
    pub dir: Arc<TempDir>,
    pub state: AppState,
    pub setup_url: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

pub fn serve_args(database: PathBuf) -> ServeArgs {
    ServeArgs {
        audit: Default::default(),
        audit_check_interval: "1h".into(),
        audit_syslog: None,
        audit_file: None,
        database: DatabaseArg { database },
        listen: "127.0.0.1:0".into(),
        plivo_auth_id: None,
        plivo_auth_token: None,
        plivo_api_base: "https://api.plivo.com/v1/".into(),
        sync_interval: "0".into(),
        default_country: "US".into(),
        secure_cookies: "false".into(),
        trusted_proxies: String::new(),
        session_idle: "30m".into(),
        session_max: "12h".into(),
        plivo_timeout: "10s".into(),
        codes_per_number_per_day: "10".into(),
        codes_per_person_per_hour: "30".into(),
        resend_cooldown: "60s".into(),
        sync_pages_in_flight: "20".into(),
        require_two_step: "false".into(),
        secret_key: None,
        sso: Default::default(),
    }
}

impl TestApp {
    /// A fresh app on a fresh database.
    pub async fn spawn() -> Self {
        Self::spawn_in(Arc::new(TempDir::new().unwrap())).await
    }

    /// An app on the database in `dir` (which may already hold one).
    pub async fn spawn_in(dir: Arc<TempDir>) -> Self {
        let args = serve_args(dir.path().join("callerdesk.db"));
        Self::spawn_with(dir, args).await
    }

    pub async fn spawn_with(dir: Arc<TempDir>, args: ServeArgs) -> Self {
        let settings = Settings::from_args(&args).unwrap();
        let app = Application::build(settings, Clock::adjustable())
            .await
            .unwrap();
        let base = app.url();
        let state = app.state().clone();
        let setup_url = app.setup_url();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            dir,
            state,
            setup_url,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("callerdesk.db")
    }

    /// Stops serving and closes the database, as a shutdown would; hands back the directory
    /// holding the database (which is deleted when the last handle to it goes).
    pub async fn stop(mut self) -> Arc<TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        self.dir.clone()
    }

    /// A new browser with no cookies.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// Adds a user as `callerdesk user add` does, with a chosen password.
    pub async fn add_user(&self, name: &str, role: Role) -> i64 {
        let user = self
            .state
            .accounts
            .create(
                &callerdesk::audit::Who::command_line(),
                &Username::parse(name).unwrap(),
                &Password::parse(PASSWORD).unwrap(),
                role,
                false,
            )
            .await
            .unwrap();
        self.state.setup.close();
        user.id
    }

    /// A browser signed in as a new user of this role.
    pub async fn signed_in(&self, name: &str, role: Role) -> Browser {
        self.add_user(name, role).await;
        let mut browser = self.browser();
        let response = browser.sign_in(name, PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-in as {name} failed"
        );
        browser
    }

    /// The in-process Plivo sandbox (tests run in sandbox mode).
    pub fn sandbox(&self) -> &callerdesk::sandbox::Sandbox {
        self.state
            .sandbox
            .as_ref()
            .expect("tests run in sandbox mode")
    }

    /// Makes `number` a verified caller ID at Plivo, outside callerdesk (through the API).
    pub async fn verify_at_plivo(&self, number: &str, alias: &str) {
        use callerdesk::plivo::{Channel, StartVerification};
        let started = self
            .state
            .plivo
            .start_verification(&StartVerification {
                phone_number: callerdesk::domain::PhoneNumber::from_e164(number).unwrap(),
                alias: Some(alias.to_owned()).filter(|a| !a.is_empty()),
                channel: Channel::Sms,
                subaccount: None,
            })
            .await
            .unwrap();
        let code = self.sandbox().code_for(&started.verification_uuid).unwrap();
        self.state
            .plivo
            .submit_code(&started.verification_uuid, &code)
            .await
            .unwrap();
    }

    /// One sync run, as the system.
    pub async fn sync(&self) -> Result<callerdesk::sync::Summary, callerdesk::sync::SyncError> {
        self.state
            .syncer
            .run(callerdesk::sync::Trigger::Schedule, Actor::system())
            .await
    }

    /// How many audit events have this action.
    pub async fn count_events(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = ?")
            .bind(action)
            .fetch_one(&self.state.db.reader)
            .await
            .unwrap()
    }

    /// The actions of every audit event, oldest first.
    pub async fn audit_actions(&self) -> Vec<(String, String, String)> {
        sqlx::query_as("SELECT action, outcome, actor_name FROM audit_events ORDER BY id")
            .fetch_all(&self.state.db.reader)
            .await
            .unwrap()
    }
}

/// A cookie-keeping client that behaves like a browser submitting our forms: it remembers the
/// CSRF token from the last page it loaded and sends the same-origin `Origin` header.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub csrf: Option<String>,
}

/// The CSRF token in a page, if any.
pub fn csrf_in(html: &str) -> Option<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap();
        Self {
            base: base.to_owned(),
            client,
            csrf: None,
        }
    }

    /// Points the same cookie jar at another running app (after a restart).
    pub fn moved_to(&mut self, base: &str) {
        self.base = base.to_owned();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GETs a page and returns its status and body, remembering its CSRF token.
    pub async fn page(&mut self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        if let Some(token) = csrf_in(&body) {
            self.csrf = Some(token);
        }
        (status, body)
    }

    /// POSTs a form with the remembered CSRF token (loading the sign-in page for one if needed).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        if self.csrf.is_none() {
            self.page("/login").await;
        }
        let token = self.csrf.clone().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        self.client
            .post(self.url(path))
            .header("origin", &self.base)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&mut self, username: &str, password: &str) -> Response {
        self.page("/login").await;
        let response = self
            .post("/login", &[("username", username), ("password", password)])
            .await;
        // The token changes with the session id at sign-in.
        self.csrf = None;
        if response.status() == StatusCode::SEE_OTHER {
            self.page("/account").await;
        }
        response
    }
}

/// The Location header of a redirect.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// `callerdesk serve` (the real binary) in sandbox mode on `database`, any free port, no sync
/// schedule.
pub fn serve_in_sandbox(database: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callerdesk"));
    command
        .arg("serve")
        .env("CALLERDESK_LISTEN", "127.0.0.1:0")
        .env("CALLERDESK_DATABASE", database)
        .env("CALLERDESK_SYNC_INTERVAL", "0")
        .env_remove("PLIVO_AUTH_ID")
        .env_remove("PLIVO_AUTH_TOKEN");
    command
}

/// Starts a process and reads its standard output up to the line containing `marker`; the rest
/// of its output is collected by the returned thread once it exits.
pub fn spawn_until(
    command: &mut Command,
    marker: &str,
) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained from the start: a full pipe would block the process before it prints `marker`.
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let line = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "stopped before {marker:?}: {seen}"
        );
        seen.push_str(&line);
        if line.contains(marker) {
            break line;
        }
    };
    let rest = std::thread::spawn(move || {
        let mut all = seen;
        let _ = stdout.read_to_string(&mut all);
        all + &errors.join().unwrap_or_default()
    });
    (child, line.trim().to_owned(), rest)
}
