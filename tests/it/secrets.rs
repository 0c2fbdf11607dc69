//! The whole story in live mode against a separately running sandbox, with logs at debug: no
//! code, password, Plivo auth token or subaccount token (every sync reads them all from Plivo),
//! authenticator seed or code, recovery code or secret key may appear in the log, the database
//! file (and its WAL) or any page served (but the two that show a seed and recovery codes to
//! their owner).

use crate::helpers::{Browser, location, spawn_until as start};
use callerdesk::auth::two_step::{code_at_step, step_at};
use reqwest::StatusCode;
use std::process::Command;

const TOKEN: &str = "plivo-secret-token-5f1e2d";
const AUTH_ID: &str = "MAQWERTYUIOP12345678";
const ADMIN_PASSWORD: &str = "first admin pass phrase";
const TEMPORARY: &str = "temporary operator phrase";
const OPERATOR_PASSWORD: &str = "operator chosen phrase";

/// A code "stands alone" when not part of a longer run of digits or hex, nor a timestamp's
/// fraction: how it would look if it leaked.
fn code_in(text: &str, code: &str) -> bool {
    let near = |c: Option<char>| c.is_some_and(|c| c.is_ascii_hexdigit() || c == '.');
    text.match_indices(code).any(|(at, _)| {
        !near(text[..at].chars().last()) && !near(text[at + code.len()..].chars().next())
    })
}

/// A browser that keeps every page it was served.
struct Recording {
    browser: Browser,
    pages: String,
}

impl Recording {
    async fn page(&mut self, path: &str) -> String {
        let (_, body) = self.browser.page(path).await;
        self.pages.push_str(&body);
        body
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.browser.post(path, fields).await
    }
}

#[tokio::test]
async fn no_secret_reaches_the_log_the_database_or_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_callerdesk");
    let (mut sandbox, line, sandbox_log) = start(
        Command::new(bin)
            .args([
                "sandbox",
                "--listen",
                "127.0.0.1:0",
                "--auth-id",
                AUTH_ID,
                "--auth-token",
                TOKEN,
                "--database",
            ])
            .arg(dir.path().join("sandbox.db")),
        "listening at",
    );
    let sandbox_base = line
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches("/v1/")
        .to_owned();
    let db = dir.path().join("callerdesk.db");
    let (mut server, setup, server_log) = start(
        Command::new(bin)
            .arg("serve")
            .env("RUST_LOG", "debug")
            .env("CALLERDESK_LISTEN", "127.0.0.1:0")
            .env("CALLERDESK_DATABASE", &db)
            .env("CALLERDESK_SYNC_INTERVAL", "0")
            .env("PLIVO_API_BASE", format!("{sandbox_base}/v1/"))
            .env("PLIVO_AUTH_ID", AUTH_ID)
            .env("PLIVO_AUTH_TOKEN", TOKEN),
        "/setup?token=",
    );
    let base = setup.split("/setup").next().unwrap().to_owned();
    let setup_token = setup.split("token=").nth(1).unwrap().to_owned();

    // The admin sets up, adds an operator.
    let mut admin = Recording {
        browser: Browser::new(&base),
        pages: String::new(),
    };
    admin.page(&format!("/setup?token={setup_token}")).await;
    let r = admin
        .post(
            "/setup",
            &[
                ("token", &setup_token),
                ("username", "ada"),
                ("password", ADMIN_PASSWORD),
                ("confirm", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(location(&r), "/", "setup signs the admin in");
    // And again with the password typed, for the sign-in path's logs.
    assert_eq!(
        admin.browser.sign_in("ada", ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    admin.page("/users").await;
    admin
        .post(
            "/users",
            &[
                ("username", "olive"),
                ("role", "operator"),
                ("password", TEMPORARY),
            ],
        )
        .await;
    admin.page("/users").await;

    // A sync reads the subaccounts, whose tokens are in Plivo's answer; their names show.
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{sandbox_base}/v1/Account/{AUTH_ID}/Subaccount/"))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subaccount_tokens: Vec<String> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["auth_token"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(subaccount_tokens.len(), 3);
    admin.page("/").await;
    admin.post("/sync", &[]).await;
    let mut named = false;
    for _ in 0..100 {
        if admin.page("/verify").await.contains("Sales team") {
            named = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        named,
        "the verify form offers subaccounts by name after a sync"
    );

    // The operator signs in with the temporary password, chooses her own, verifies a number.
    let mut olive = Recording {
        browser: Browser::new(&base),
        pages: String::new(),
    };
    olive.browser.sign_in("olive", TEMPORARY).await;
    olive.page("/account").await;
    olive
        .post(
            "/account/password",
            &[
                ("current", TEMPORARY),
                ("new", OPERATOR_PASSWORD),
                ("confirm", OPERATOR_PASSWORD),
            ],
        )
        .await;
    olive.page("/verify").await;
    let r = olive
        .post(
            "/verify",
            &[
                ("number", "(202) 555-0199"),
                ("alias", "Desk"),
                ("channel", "sms"),
            ],
        )
        .await;
    let path = location(&r);
    let code_page = olive.page(&path).await;
    assert!(
        !code_page.contains("Sandbox:"),
        "live mode shows no sandbox code"
    );
    let outbox: serde_json::Value = reqwest::get(format!("{sandbox_base}/__sandbox/outbox"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = outbox[0]["code"].as_str().unwrap().to_owned();
    let wrong = if code == "000000" {
        "111111".to_owned()
    } else {
        "000000".to_owned()
    };
    olive
        .post(&format!("{path}/code"), &[("code", &wrong)])
        .await;
    olive.page(&path).await;
    olive
        .post(&format!("{path}/code"), &[("code", &code)])
        .await;
    let done = olive.page(&path).await;
    assert!(done.contains("is now a verified caller ID"), "{done}");
    olive.page("/").await;
    olive.page("/caller-ids/12025550199").await;

    // She turns on two-step sign-in and signs in again with a code. The seed and the recovery
    // codes are shown to her (those two pages are left out of the page check), and nowhere else.
    olive.page("/account/two-step").await;
    olive.post("/account/two-step", &[]).await;
    let (_, setup_page) = olive.browser.page("/account/two-step").await;
    let seed_text = setup_page.split(r#"id="seed">"#).nth(1).unwrap();
    let seed_text: String = seed_text[..seed_text.find('<').unwrap()]
        .split_whitespace()
        .collect();
    let seed = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &seed_text).unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let app_code = |at: i64| code_at_step(&seed, step_at(at)).unwrap();
    let confirmed = olive
        .post("/account/two-step/confirm", &[("code", &app_code(now()))])
        .await;
    let recovery_page = confirmed.text().await.unwrap();
    let recovery: Vec<String> = recovery_page
        .split("<li><code>")
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    olive.page("/").await;
    olive.post("/logout", &[]).await;
    let r = olive.browser.sign_in("olive", OPERATOR_PASSWORD).await;
    assert_eq!(location(&r), "/login/two-step");
    olive.page("/login/two-step").await;
    // The next step's code: the one that confirmed the app is used up.
    let second = app_code(now() + 30);
    let r = olive.post("/login/two-step", &[("code", &second)]).await;
    let r = if r.status() == StatusCode::SEE_OTHER {
        r
    } else {
        tokio::time::sleep(std::time::Duration::from_secs(31)).await;
        olive.page("/login/two-step").await;
        olive
            .post("/login/two-step", &[("code", &app_code(now()))])
            .await
    };
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    olive.page("/account").await;
    let key_file = std::fs::read_to_string(dir.path().join("callerdesk.db.secret-key")).unwrap();
    admin.page("/audit").await;
    admin.page("/audit?number=202-555-0199").await;
    admin.pages.push_str(
        &admin
            .browser
            .get("/audit/export?format=jsonl")
            .await
            .text()
            .await
            .unwrap(),
    );

    let _ = server.kill();
    let _ = server.wait();
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    let log = server_log.join().unwrap();
    let _ = sandbox_log.join();
    assert!(
        log.contains("DEBUG") || log.contains("INFO"),
        "the log was captured"
    );

    let mut stored = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(db.with_extension("db-wal")) {
        stored.extend(wal);
    }
    let stored_text = String::from_utf8_lossy(&stored).into_owned();
    let pages = format!("{}{}", admin.pages, olive.pages);
    for (what, text) in [
        ("the log", &log),
        ("the database", &stored_text),
        ("the pages", &pages),
    ] {
        for secret in [TOKEN, ADMIN_PASSWORD, TEMPORARY, OPERATOR_PASSWORD] {
            assert!(!text.contains(secret), "{secret:?} found in {what}");
        }
        for secret in &subaccount_tokens {
            assert!(!text.contains(secret), "a subaccount token found in {what}");
        }
        for c in [&code, &wrong] {
            assert!(!code_in(text, c), "the code {c} found in {what}");
        }
        assert!(
            !text.contains(&seed_text),
            "the authenticator seed found in {what}"
        );
        assert!(
            !text.contains(key_file.trim()),
            "the secret key found in {what}"
        );
        for c in &recovery {
            assert!(
                !text.contains(c.as_str()),
                "a recovery code found in {what}"
            );
        }
    }
    // The app's codes are 6 digits; look for them where they would stand alone.
    for (what, text) in [("the log", &log), ("the database", &stored_text)] {
        assert!(!code_in(text, &second), "an app code found in {what}");
    }
}
