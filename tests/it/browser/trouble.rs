//! Plivo trouble met in Chromium as a person meets it: a send Plivo refuses, a Plivo that does
//! not answer (the button says "Sending…" meanwhile), and a code that did not arrive (the
//! button counts down the wait for a new one, the help offers a call). The app is the real
//! binary pointed at `callerdesk sandbox`, whose faults the test sets over HTTP.

use super::{Driver, Page};
use crate::helpers::spawn_until;
use serde_json::{Value, json};
use std::{
    process::{Child, Command},
    time::{Duration, Instant},
};
use tempfile::TempDir;

const PASSWORD: &str = "first admin pass phrase";
const AUTH_ID: &str = "MASANDBOX00000000000";
const TOKEN: &str = "trouble-sandbox-token";

/// `callerdesk sandbox` and `callerdesk serve` using it as Plivo, with a 3-second Plivo timeout
/// and an 8-second wait between codes; both killed when dropped.
struct Setup {
    sandbox: Child,
    server: Child,
    sandbox_base: String,
    base: String,
    setup_link: String,
    _dir: TempDir,
}

impl Setup {
    fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let bin = env!("CARGO_BIN_EXE_callerdesk");
        let (sandbox, line, _) = spawn_until(
            Command::new(bin)
                .args(["sandbox", "--listen", "127.0.0.1:0", "--auth-id", AUTH_ID])
                .args(["--auth-token", TOKEN, "--database"])
                .arg(dir.path().join("sandbox.db")),
            "listening at",
        );
        let sandbox_base = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap()
            .trim_end_matches("/v1/")
            .to_owned();
        let (server, setup, _) = spawn_until(
            Command::new(bin)
                .arg("serve")
                .env("CALLERDESK_LISTEN", "127.0.0.1:0")
                .env("CALLERDESK_DATABASE", dir.path().join("callerdesk.db"))
                .env("CALLERDESK_SYNC_INTERVAL", "0")
                .env("CALLERDESK_PLIVO_TIMEOUT", "3s")
                .env("CALLERDESK_RESEND_COOLDOWN", "8s")
                .env("PLIVO_API_BASE", format!("{sandbox_base}/v1/"))
                .env("PLIVO_AUTH_ID", AUTH_ID)
                .env("PLIVO_AUTH_TOKEN", TOKEN),
            "/setup?token=",
        );
        let setup_link = setup.trim().to_owned();
        let base = setup_link.split("/setup").next().unwrap().to_owned();
        Self {
            sandbox,
            server,
            sandbox_base,
            base,
            setup_link,
            _dir: dir,
        }
    }

    /// The next request that sends a code gets `fault`.
    async fn fail_next_send(&self, fault: Value) {
        let rules = json!({ "rules": [{ "count": 1, "method": "POST", "path": "/VerifiedCallerId/", "fault": fault }] });
        let r = reqwest::Client::new()
            .post(format!("{}/__sandbox/faults", self.sandbox_base))
            .body(rules.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// The last code the sandbox sent to `number`.
    async fn code_sent_to(&self, number: &str) -> String {
        let outbox: Value = reqwest::get(format!("{}/__sandbox/outbox", self.sandbox_base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["phone_number"] == number)
            .and_then(|e| e["code"].as_str())
            .unwrap_or_else(|| panic!("no code sent to {number}: {outbox}"))
            .to_owned()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for process in [&mut self.server, &mut self.sandbox] {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// The "Send a new code" button's state: (disabled, its words).
async fn resend_button(page: &Page) -> (bool, String) {
    let v = page
        .client
        .execute(
            "const b = document.querySelector('.secondary-actions button[data-wait]'); \
             return [b.disabled, b.textContent.trim()];",
            vec![],
        )
        .await
        .unwrap();
    (
        v[0].as_bool().unwrap_or_default(),
        v[1].as_str().unwrap_or_default().to_owned(),
    )
}

async fn start_verification(page: &Page, setup: &Setup, number: &str) {
    page.goto(&format!("{}/verify", setup.base)).await;
    page.fill("#number", number).await;
    page.click("Send the code").await;
}

async fn trouble(page: &mut Page, setup: &Setup) {
    let js = page.javascript;
    let suffix = if js { "" } else { " (no JavaScript)" };
    page.goto(&setup.setup_link).await;
    page.fill("#username", "ada").await;
    page.fill("#password", PASSWORD).await;
    page.fill("#confirm", PASSWORD).await;
    page.click("Create admin account").await;
    page.wait_for_text("Your admin account is ready").await;

    // Plivo refuses to send: the page says so, never "code sent", and offers one next step.
    setup
        .fail_next_send(json!({ "kind": "status", "status": 503 }))
        .await;
    start_verification(page, setup, "202-555-0150").await;
    page.wait_for_text("Plivo did not confirm sending a code")
        .await;
    let text = page.text().await;
    assert!(
        !text.contains("code sent by") && text.contains("Start again"),
        "a failed send{suffix}:\n{text}"
    );
    if js {
        page.check("20-send-failed").await;
    }

    // Plivo does not answer: while the person waits, the button says what is happening.
    setup.fail_next_send(json!({ "kind": "hang" })).await;
    page.goto(&format!("{}/verify", setup.base)).await;
    page.fill("#number", "202-555-0152").await;
    if js {
        // Chromedriver waits for a navigation to end before it runs anything in the page, so
        // the button is read as the form is sent and kept until then in the tab's storage.
        page.client
            .execute(
                "document.addEventListener('submit', () => { \
                   const b = document.querySelector('button.is-busy'); \
                   const n = document.querySelector('.busy-note'); \
                   sessionStorage.setItem('busy', JSON.stringify(b && n \
                     ? [b.textContent, b.getAttribute('aria-disabled'), n.textContent] : null)); });",
                vec![],
            )
            .await
            .unwrap();
    }
    page.click("Send the code").await;
    page.wait_for_text("Plivo did not answer in time").await;
    if js {
        let busy = page
            .client
            .execute("return JSON.parse(sessionStorage.getItem('busy'));", vec![])
            .await
            .unwrap();
        assert_eq!(busy[0], "Sending…", "{busy}");
        assert_eq!(busy[1], "true", "{busy}");
        assert!(
            busy[2]
                .as_str()
                .unwrap_or_default()
                .contains("Waiting for Plivo's answer"),
            "{busy}"
        );
    }
    page.wait_for_text("Plivo did not answer in time").await;
    assert!(!page.text().await.contains("code sent by"));

    // A code that did not come: the wait for a new one is shown, then the button enables itself.
    start_verification(page, setup, "202-555-0153").await;
    page.wait_for_text("Code from the phone").await;
    if js {
        let (disabled, words) = resend_button(page).await;
        assert!(
            disabled && words.starts_with("Send a new code in ") && words.ends_with(" s"),
            "{disabled} {words:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while resend_button(page).await != (false, "Send a new code".to_owned()) {
            assert!(Instant::now() < deadline, "{:?}", resend_button(page).await);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(!page.text().await.contains("A new code can be sent from"));
    } else {
        // Without JavaScript the button works at once, and the page says when it will.
        page.wait_for_text("A new code can be sent from").await;
        page.click("Send a new code").await;
        page.wait_for_text("A code was sent less than").await;
        tokio::time::sleep(Duration::from_secs(9)).await;
    }
    page.click("Send a new code").await;
    page.wait_for_text("A new code is on its way by text message")
        .await;
    // The next step's answer replaces that notice.
    let code = setup.code_sent_to("+12025550153").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    page.fill("#code", wrong).await;
    page.click("Check the code").await;
    page.wait_for_text("That code is not right").await;
    let text = page.text().await;
    assert!(
        !text.contains("A new code is on its way") && text.matches("4 tries left").count() == 1,
        "{suffix}:\n{text}"
    );

    // "Didn't get a code?" says what to check and offers a call.
    page.click("Didn't get a code?").await;
    page.wait_for_text("does not filter messages from unknown senders")
        .await;
    if js {
        page.check("21-code-help").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while resend_button(page).await.0 {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    } else {
        tokio::time::sleep(Duration::from_secs(9)).await;
    }
    page.click("Call the phone instead").await;
    page.wait_for_text("A new code is on its way by phone call")
        .await;
    let code = setup.code_sent_to("+12025550153").await;
    page.fill("#code", &code).await;
    page.click("Check the code").await;
    page.wait_for_text("is now a verified caller ID").await;

    // A number typed as it is dialled in the country chosen beside it.
    page.goto(&format!("{}/verify", setup.base)).await;
    page.find("#country option[value=GB]")
        .await
        .click()
        .await
        .unwrap();
    page.fill("#number", "020 7946 0958").await;
    if js {
        page.wait_for_text("Will verify +44 20 7946 0958").await;
        page.check("22-verify-country").await;
    }
    page.click("Send the code").await;
    page.wait_for_text("Verify +44 20 7946 0958").await;
    page.wait_for_text("code sent by text message").await;
}

#[tokio::test]
async fn plivo_trouble_in_chromium() {
    let driver = Driver::start().await;
    let setup = Setup::start();
    let mut page = driver.open(true).await;
    trouble(&mut page, &setup).await;
    page.finish().await;
}

#[tokio::test]
async fn plivo_trouble_without_javascript() {
    let driver = Driver::start().await;
    let setup = Setup::start();
    let mut page = driver.open(false).await;
    trouble(&mut page, &setup).await;
    page.finish().await;
}
