//! Single sign-on against a real OpenID Connect provider: panva's `oidc-provider` (a certified
//! implementation) run by Node from `tests/oidc-provider/`, listening on 127.0.0.1 while the
//! app is reached at localhost, so the two are different sites as in every real deployment.
//! The provider's own login page is filled in over HTTP here (and in Chromium by
//! `browser::sso`).

use crate::helpers::{Browser, PASSWORD, TestApp, location, serve_args};
use callerdesk::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    process::{Child, ChildStdin, Command, Stdio},
    sync::Arc,
};
use tempfile::TempDir;

pub const CLIENT_SECRET: &str = "callerdesk-test-secret";
pub const PROVIDER_NAME: &str = "Example Company SSO";

/// The provider, stopped when dropped.
pub struct TestProvider {
    pub issuer: String,
    child: Child,
    _stdin: ChildStdin,
    http: reqwest::Client,
}

impl TestProvider {
    pub fn start() -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/oidc-provider/provider.mjs"
        );
        let mut child = Command::new("node")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the test provider (scripts/test installs Node.js and runs npm ci)");
        let stdin = child.stdin.take().unwrap();
        let mut issuer = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut issuer).unwrap();
        // Kept read to the end, so the provider never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer:?}");
        Self {
            issuer: issuer.trim().to_owned(),
            child,
            _stdin: stdin,
            http: reqwest::Client::new(),
        }
    }

    async fn control(&self, what: &str, body: Value) {
        let response = self
            .http
            .post(format!("{}/__test/{what}", self.issuer))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{what}");
    }

    /// Who may sign in, with their claims.
    pub async fn people(&self, people: Value) {
        self.control("people", people).await;
    }

    /// Registers callerdesk, reached at `base`.
    pub async fn register(&self, base: &str) {
        let redirect = format!("{base}/login/oidc/callback");
        self.control("client", json!({ "redirect_uri": redirect }))
            .await;
    }

    pub async fn rotate_key(&self) {
        self.control("rotate", json!({})).await;
    }

    /// The next ID tokens carry this claim wrong (`nonce`, `aud`, `exp`), or none with `None`.
    pub async fn tamper(&self, claim: Option<&str>) {
        self.control("tamper", json!({ "claim": claim })).await;
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (the app must know its public address before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The app with single sign-on through `provider`, reached at http://localhost:PORT.
pub async fn app_with(
    provider: &TestProvider,
    change: impl FnOnce(&mut callerdesk::config::ServeArgs),
) -> TestApp {
    let dir = Arc::new(TempDir::new().unwrap());
    let port = free_port();
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.listen = format!("127.0.0.1:{port}");
    args.sso.public_url = Some(format!("http://localhost:{port}"));
    args.sso.oidc_issuer = Some(provider.issuer.clone());
    args.sso.oidc_client_id = Some("callerdesk".into());
    args.sso.oidc_client_secret = Some(CLIENT_SECRET.into());
    args.sso.oidc_name = Some(PROVIDER_NAME.into());
    args.sso.oidc_admin_groups = Some("callerdesk-admins".into());
    args.sso.oidc_operator_groups = Some("callerdesk-operators".into());
    args.sso.oidc_auditor_groups = Some("callerdesk-auditors".into());
    change(&mut args);
    let mut app = TestApp::spawn_with(dir, args).await;
    app.base = format!("http://localhost:{port}");
    provider.register(&app.base).await;
    app.state.setup.close();
    app
}

/// What came back to callerdesk from the provider: the callback's address, before it is used.
pub async fn through_provider(browser: &mut Browser, login: &str) -> String {
    let start = browser.get("/login/oidc").await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let mut next = location(&start);
    let mut origin = String::new();
    for _ in 0..10 {
        if next.starts_with(&browser.base) {
            return next;
        }
        if next.starts_with("http") {
            let url = url::Url::parse(&next).unwrap();
            origin = url.origin().ascii_serialization();
        } else {
            next = format!("{origin}{next}");
        }
        let response = browser.client.get(&next).send().await.unwrap();
        if response.status().is_redirection() {
            next = location(&response);
            continue;
        }
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"name="prompt" value="login""#), "{page}");
        let action = page.split(r#"action=""#).nth(1).unwrap();
        let action = &action[..action.find('"').unwrap()];
        let action = if action.starts_with("http") {
            action.to_owned()
        } else {
            format!("{origin}{action}")
        };
        let submitted = browser
            .client
            .post(&action)
            .form(&[("prompt", "login"), ("login", login), ("password", "any")])
            .send()
            .await
            .unwrap();
        next = location(&submitted);
    }
    panic!("the provider never sent the browser back: {next}");
}

/// Signs in through the provider; the status and body of callerdesk's answer.
pub async fn sign_in_through(browser: &mut Browser, login: &str) -> (StatusCode, String) {
    let callback = through_provider(browser, login).await;
    let response = browser.client.get(&callback).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn role_of(app: &TestApp, name: &str) -> Option<Role> {
    app.state.accounts.by_name(name).await.ok().map(|u| u.role)
}

async fn details_of(app: &TestApp, action: &str) -> Vec<Value> {
    sqlx::query_scalar::<_, String>(
        "SELECT outcome || ' ' || COALESCE(details, '{}') FROM audit_events WHERE action = ? ORDER BY id",
    )
    .bind(action)
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap()
    .into_iter()
    .map(|line| {
        let (outcome, details) = line.split_once(' ').unwrap();
        let mut details: Value = serde_json::from_str(details).unwrap();
        details["outcome"] = json!(outcome);
        details
    })
    .collect()
}

fn person(groups: &[&str], email: &str, verified: bool) -> Value {
    json!({ "groups": groups, "email": email, "email_verified": verified })
}

#[tokio::test]
async fn groups_give_a_role_at_first_sign_in_and_the_role_follows_them() {
    let provider = TestProvider::start();
    let app = app_with(&provider, |_| {}).await;
    provider
        .people(json!({
            "ada": person(&["callerdesk-operators", "staff"], "ada@example.com", true),
            "bob": person(&["marketing"], "bob@example.com", true),
        }))
        .await;

    let mut ada = app.browser();
    let (_, login) = ada.page("/login").await;
    assert!(login.contains("Sign in with Example Company SSO"));
    let (status, page) = sign_in_through(&mut ada, "ada").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{:?}",
        details_of(&app, "sign_in").await
    );
    assert!(page.contains(r#"http-equiv="refresh" content="0;url=/""#));
    assert_eq!(ada.get("/").await.status(), StatusCode::OK);
    assert_eq!(role_of(&app, "ada").await, Some(Role::Operator));
    let created = details_of(&app, "user_created").await;
    assert_eq!(created[0]["subject"], "sub-ada");
    assert_eq!(created[0]["provider"], PROVIDER_NAME);
    assert_eq!(created[0]["role"], "operator");
    let signed_in = details_of(&app, "sign_in").await;
    assert_eq!(signed_in.last().unwrap()["outcome"], "succeeded");
    assert_eq!(signed_in.last().unwrap()["subject"], "sub-ada");
    // No password was made for the account: it signs in only through the provider.
    assert_eq!(
        app.browser().sign_in("ada", "").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // IT moves ada to the admins: she is admin at her next sign-in.
    provider
        .people(json!({ "ada": person(&["callerdesk-admins"], "ada@example.com", true) }))
        .await;
    let mut again = app.browser();
    let (status, _) = sign_in_through(&mut again, "ada").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(role_of(&app, "ada").await, Some(Role::Admin));
    let changed = details_of(&app, "user_role_changed").await;
    assert_eq!(
        (changed[0]["old"].as_str(), changed[0]["new"].as_str()),
        (Some("operator"), Some("admin"))
    );
    assert_eq!(changed[0]["subject"], "sub-ada");

    // Out of every mapped group: no longer let in.
    provider
        .people(json!({ "ada": person(&["staff"], "ada@example.com", true) }))
        .await;
    let mut gone = app.browser();
    let (status, page) = sign_in_through(&mut gone, "ada").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("no longer in a group that may use callerdesk"));

    // Someone in no mapped group gets no account, and a sentence saying whom to ask.
    provider
        .people(json!({ "bob": person(&["marketing"], "bob@example.com", true) }))
        .await;
    let mut bob = app.browser();
    let (status, page) = sign_in_through(&mut bob, "bob").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("is not in a group that may use callerdesk. Ask your IT team"));
    assert_eq!(role_of(&app, "bob").await, None);
    assert_ne!(bob.get("/").await.status(), StatusCode::OK);
    let refused = details_of(&app, "sign_in").await;
    let last = refused.last().unwrap();
    assert_eq!(
        (last["outcome"].as_str(), last["subject"].as_str()),
        (Some("failed"), Some("sub-bob"))
    );

    // The audit page says it in words.
    let mut auditor = app.signed_in("root", Role::Admin).await;
    let (_, audit) = auditor.page("/audit").await;
    assert!(audit.contains("signed in through Example Company SSO (subject sub-ada)"));
    assert!(audit.contains("became admin instead of operator because of their groups"));
    assert!(audit.contains("could not sign in through Example Company SSO (subject sub-bob)"));
}

#[tokio::test]
async fn an_account_made_beforehand_is_linked_by_verified_email_and_disabled_stays_out() {
    let provider = TestProvider::start();
    let app = app_with(&provider, |_| {}).await;
    app.add_user("carol@example.com", Role::Auditor).await;
    app.add_user("dan@example.com", Role::Operator).await;
    provider
        .people(json!({
            "carol": person(&["staff"], "carol@example.com", true),
            "dan": person(&["staff"], "dan@example.com", false),
        }))
        .await;

    let mut carol = app.browser();
    let (status, page) = sign_in_through(&mut carol, "carol").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("carol@example.com"));
    assert_eq!(
        role_of(&app, "carol@example.com").await,
        Some(Role::Auditor)
    );
    let linked = details_of(&app, "user_linked").await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["subject"], "sub-carol");
    assert_eq!(linked[0]["by"], "verified email");

    // An email the provider does not vouch for links nothing.
    let mut dan = app.browser();
    let (status, _) = sign_in_through(&mut dan, "dan").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(details_of(&app, "user_linked").await.len(), 1);

    // Disabled stays disabled, whatever the provider says (and whatever the groups).
    provider
        .people(json!({ "carol": person(&["callerdesk-admins"], "carol@example.com", true) }))
        .await;
    let id = app
        .state
        .accounts
        .by_name("carol@example.com")
        .await
        .unwrap()
        .id;
    app.state
        .accounts
        .set_disabled(&callerdesk::audit::Who::command_line(), id, true)
        .await
        .unwrap();
    let mut again = app.browser();
    let (status, page) = sign_in_through(&mut again, "carol").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("Your callerdesk account is disabled"));
    assert_eq!(
        role_of(&app, "carol@example.com").await,
        Some(Role::Auditor)
    );
    assert_ne!(again.get("/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_forged_or_replayed_state_signs_no_one_in() {
    let provider = TestProvider::start();
    let app = app_with(&provider, |_| {}).await;
    provider
        .people(json!({ "ada": person(&["callerdesk-operators"], "ada@example.com", true) }))
        .await;

    // The state changed on the way back.
    let mut browser = app.browser();
    let callback = through_provider(&mut browser, "ada").await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let response = browser.client.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("no longer valid"));
    assert_ne!(browser.get("/").await.status(), StatusCode::OK);

    // A good answer, used twice: the second is refused.
    let mut browser = app.browser();
    let callback = through_provider(&mut browser, "ada").await;
    let first = browser.client.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let mut stranger = app.browser();
    let replayed = stranger.client.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::FORBIDDEN);
    assert_ne!(stranger.get("/").await.status(), StatusCode::OK);
    let replayed = browser.client.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::FORBIDDEN);

    // An answer meant for another browser (no flow cookie here).
    let mut victim = app.browser();
    let callback = through_provider(&mut victim, "ada").await;
    let mut attacker = app.browser();
    let response = attacker.client.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_ne!(attacker.get("/").await.status(), StatusCode::OK);

    let reasons: Vec<String> = details_of(&app, "sign_in")
        .await
        .into_iter()
        .filter(|d| d["outcome"] == "failed")
        .map(|d| d["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("state did not match"));
    assert!(reasons[1..].iter().all(|r| r.contains("not started here")));
}

#[tokio::test]
async fn id_tokens_with_a_wrong_nonce_audience_or_expiry_are_refused() {
    let provider = TestProvider::start();
    let app = app_with(&provider, |_| {}).await;
    provider
        .people(json!({ "ada": person(&["callerdesk-operators"], "ada@example.com", true) }))
        .await;
    for (claim, reason) in [("nonce", "nonce"), ("aud", "audience"), ("exp", "expired")] {
        provider.tamper(Some(claim)).await;
        let mut browser = app.browser();
        let (status, page) = sign_in_through(&mut browser, "ada").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{claim}");
        assert!(page.contains("could not be trusted"), "{claim}: {page}");
        assert_ne!(browser.get("/").await.status(), StatusCode::OK, "{claim}");
        let last = details_of(&app, "sign_in").await.pop().unwrap();
        let said = last["reason"].as_str().unwrap().to_lowercase();
        assert!(said.contains(reason), "{claim}: {said}");
    }
    assert_eq!(role_of(&app, "ada").await, None);
    // The same provider, untampered: in.
    provider.tamper(None).await;
    let (status, _) = sign_in_through(&mut app.browser(), "ada").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_new_signing_key_at_the_provider_is_picked_up() {
    let provider = TestProvider::start();
    let app = app_with(&provider, |_| {}).await;
    provider
        .people(json!({ "ada": person(&["callerdesk-operators"], "ada@example.com", true) }))
        .await;
    let (status, _) = sign_in_through(&mut app.browser(), "ada").await;
    assert_eq!(status, StatusCode::OK);
    // The provider now signs with a key callerdesk has not seen, and no longer publishes the
    // old one; callerdesk still holds the old key set.
    provider.rotate_key().await;
    provider.register(&app.base).await;
    let mut browser = app.browser();
    let (status, page) = sign_in_through(&mut browser, "ada").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_password_sign_in_off_only_break_glass_accounts_use_passwords() {
    let provider = TestProvider::start();
    let app = app_with(&provider, |a| a.sso.password_signin = Some("false".into())).await;
    // The first admin, made by the setup link, could never sign in again with a password
    // unless it is break-glass: it is.
    let first = app
        .state
        .accounts
        .set_up(
            &callerdesk::domain::Username::parse("founder").unwrap(),
            &callerdesk::domain::Password::parse(PASSWORD).unwrap(),
            &callerdesk::audit::RequestMeta::default(),
        )
        .await
        .unwrap();
    assert!(first.break_glass);
    app.add_user("olga", Role::Operator).await;
    let glass = app
        .state
        .accounts
        .create_with(
            &callerdesk::audit::Who::command_line(),
            &callerdesk::domain::Username::parse("keyholder").unwrap(),
            &callerdesk::domain::Password::parse(PASSWORD).unwrap(),
            Role::Admin,
            false,
            true,
        )
        .await
        .unwrap();
    assert!(glass.break_glass);

    let mut browser = app.browser();
    let (_, login) = browser.page("/login").await;
    assert!(login.contains("Sign in with Example Company SSO"));
    assert!(login.contains("Emergency sign-in with a password"));
    let refused = browser.sign_in("olga", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("match a break-glass account")
    );
    let mut keyholder = app.browser();
    let response = keyholder.sign_in("keyholder", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(keyholder.get("/users").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sign_out_names_the_provider_and_a_provider_session_skips_the_required_second_step() {
    let provider = TestProvider::start();
    let app = app_with(&provider, |a| a.require_two_step = "true".into()).await;
    provider
        .people(json!({ "ada": person(&["callerdesk-operators"], "ada@example.com", true) }))
        .await;
    let mut ada = app.browser();
    let (status, _) = sign_in_through(&mut ada, "ada").await;
    assert_eq!(status, StatusCode::OK);
    // The provider has its own second step: callerdesk asks for none of its own.
    assert_eq!(ada.get("/").await.status(), StatusCode::OK);
    let (_, account) = ada.page("/account").await;
    assert!(account.contains("You signed in with Example Company SSO"));
    assert!(!account.contains("Change your password"));
    ada.page("/").await;
    let out = ada.post("/logout", &[]).await;
    assert_eq!(location(&out), "/login?signed_out=1");
    let (_, page) = ada.page("/login?signed_out=1").await;
    assert!(page.contains("You may still be signed in to Example Company SSO"));
    let out = details_of(&app, "sign_out").await;
    assert_eq!(out[0]["provider"], PROVIDER_NAME);
    assert_eq!(out[0]["subject"], "sub-ada");
}

#[tokio::test]
async fn a_provider_that_does_not_answer_gets_a_sentence_not_an_error_page() {
    let dir = Arc::new(TempDir::new().unwrap());
    let port = free_port();
    let closed = free_port();
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.listen = format!("127.0.0.1:{port}");
    args.sso.public_url = Some(format!("http://localhost:{port}"));
    args.sso.oidc_issuer = Some(format!("http://127.0.0.1:{closed}"));
    args.sso.oidc_client_id = Some("callerdesk".into());
    args.sso.oidc_client_secret = Some(CLIENT_SECRET.into());
    let app = TestApp::spawn_with(dir, args).await;
    let mut browser = app.browser();
    let response = browser.get("/login/oidc").await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("could not reach your company account"),
        "{page}"
    );
    let refused = details_of(&app, "sign_in").await;
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
}
