//! The whole story in a browser: first-run setup from the link the server prints, users, a
//! verification with a wrong code first, the list, an alias edit, a deletion, and the audit
//! trail found and exported by an auditor. Once with JavaScript, once without.

use super::{Driver, ENTER, Page};
use crate::helpers::{serve_in_sandbox, spawn_until};
use std::process::Child;
use tempfile::TempDir;

const ADMIN_PASSWORD: &str = "first admin pass phrase";
const TEMPORARY: &str = "temporary pass phrase";
const OPERATOR_PASSWORD: &str = "operator own pass phrase";
const AUDITOR_PASSWORD: &str = "auditor own pass phrase";

/// The real binary in sandbox mode on a fresh database; killed when dropped.
struct Server {
    process: Child,
    base: String,
    setup_link: String,
    _dir: TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let (process, line, _rest) = spawn_until(
            &mut serve_in_sandbox(&dir.path().join("callerdesk.db")),
            "/setup?token=",
        );
        let setup_link = line.trim().to_owned();
        let base = setup_link
            .split("/setup")
            .next()
            .unwrap_or_default()
            .to_owned();
        Self {
            process,
            base,
            setup_link,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn sign_in(page: &mut Page, server: &Server, username: &str, password: &str) {
    page.goto(&server.url("/login")).await;
    page.fill("#username", username).await;
    page.fill("#password", password).await;
    page.click("Sign in").await;
    // With JavaScript on, the click returns before the form's answer arrives: wait for it, so
    // that the next `goto` is not overtaken by the sign-in's redirect.
    page.wait_for_text("Sign out").await;
}

async fn sign_out(page: &Page) {
    page.click("Sign out").await;
    page.wait_for_text("Sign in").await;
}

/// The story up to the deletion, as the three people do it; `snap` takes screenshots and checks
/// accessibility on the pages along the way (only once: the JavaScript-on run).
async fn story(page: &mut Page, server: &Server, snap: bool) {
    let js = page.javascript;

    // First run: the link the server printed.
    page.goto(&server.setup_link).await;
    page.wait_for_text("Create the first admin account").await;
    if snap {
        page.check("01-setup").await;
    }
    page.fill("#username", "ada").await;
    page.fill("#password", ADMIN_PASSWORD).await;
    page.fill("#confirm", ADMIN_PASSWORD).await;
    page.click("Create admin account").await;
    // The new admin is signed in at once.
    page.wait_for_text("Your admin account is ready and you are signed in")
        .await;
    page.wait_for_text("Caller IDs").await;
    if snap {
        page.check("02-home-empty").await;
    }
    // A first sync brings in the sandbox's example caller IDs.
    page.click("Sync now").await;
    if js {
        // The status updates itself.
        page.wait_for_text("Last synced with Plivo").await;
    }
    // Without JavaScript the page says to reload it until the sync is done.
    page.reload_until("Last synced with Plivo").await;
    if snap {
        page.check("02-home-synced").await;
    }

    // The admin adds an operator and an auditor.
    page.goto(&server.url("/users")).await;
    for (name, role) in [("olivia", "operator"), ("aaron", "auditor")] {
        page.fill("#new-username", name).await;
        page.find(&format!("input[name=role][value={role}]"))
            .await
            .click()
            .await
            .unwrap();
        page.fill("#new-password", TEMPORARY).await;
        page.click("Add user").await;
        page.wait_for_text(&format!("{name} was added as")).await;
    }
    if snap {
        page.check("03-users").await;
    }
    sign_out(page).await;
    if snap {
        page.check("04-login").await;
    }

    // The operator's first sign-in: a new password first.
    sign_in(page, server, "olivia", TEMPORARY).await;
    page.wait_for_text("Choose your own to continue").await;
    if snap {
        page.check("05-account-new-password").await;
    }
    page.fill("#current", TEMPORARY).await;
    page.fill("#new", OPERATOR_PASSWORD).await;
    page.fill("#confirm", OPERATOR_PASSWORD).await;
    page.click("Change password").await;
    page.wait_for_text("Your password was changed").await;

    // Verify a number by text message.
    page.click("Verify a number").await;
    if snap {
        // A number that cannot be right, explained as it is typed.
        page.fill("#number", "555-01").await;
        page.wait_for_text("too short").await;
        page.check("06-verify-bad-number").await;
    }
    page.fill("#number", "(202) 555-0143").await;
    if js {
        // The live preview shows the number as it will be sent.
        page.wait_for_text("+1 202-555-0143").await;
    }
    page.fill("#alias", "Front desk").await;
    if snap {
        page.check("06-verify-start").await;
    }
    page.click("Send the code").await;
    page.wait_for_text("Code from the phone").await;
    let code = page.find(".sandbox-code code").await.text().await.unwrap();
    assert!(
        code.chars().all(|c| c.is_ascii_digit()) && code.len() >= 4,
        "{code:?}"
    );
    assert_eq!(
        page.exists(".countdown").await,
        js,
        "the countdown is JavaScript's and only JavaScript's"
    );
    if snap {
        page.check("07-verify-code").await;
    }

    // A wrong code first: the error is tied to the field.
    let wrong: String = code
        .chars()
        .map(|c| if c == '1' { '2' } else { '1' })
        .collect();
    page.fill("#code", &wrong).await;
    page.click("Check the code").await;
    page.wait_for_text("That code is not right").await;
    let field = page.find("#code").await;
    assert_eq!(
        field.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    let described = field
        .attr("aria-describedby")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(described.contains("code-error"), "{described}");
    assert_eq!(
        page.find("#code-error")
            .await
            .attr("role")
            .await
            .unwrap()
            .as_deref(),
        Some("alert")
    );
    if snap {
        page.check("08-verify-wrong-code").await;
    }

    // Then the right one.
    page.fill("#code", &code).await;
    page.click("Check the code").await;
    page.wait_for_text("is now a verified caller ID").await;
    if snap {
        page.check("09-verified").await;
    }

    // In the list, found by a search typed the way people write numbers.
    page.click("Caller IDs").await;
    page.fill("#q", "555-0143").await;
    page.click("Search").await;
    page.wait_for_text("Front desk").await;
    if snap {
        page.check("10-list-search").await;
    }
    if js {
        // On a phone the first caller ID shows without scrolling past the banner, the
        // navigation and the search, and no number breaks across lines.
        let (top, whole) = page.at_phone_size("#results tbody tr").await;
        assert!(
            (0.0..600.0).contains(&top),
            "the first row starts at {top} px"
        );
        assert!(whole, "a phone number breaks across lines at 375 px");
    }
    page.click("+1 202-555-0143").await;
    page.wait_for_text("Save changes").await;
    page.fill("#alias", "Reception").await;
    page.click("Save changes").await;
    page.wait_for_text("Reception").await;
    if snap {
        page.check("11-caller-id").await;
    }
    sign_out(page).await;

    // The admin deletes it.
    sign_in(page, server, "ada", ADMIN_PASSWORD).await;
    page.goto(&server.url("/caller-ids/12025550143")).await;
    page.click("Delete").await;
    page.wait_for_text("Yes, delete").await;
    if snap {
        page.check("12-confirm-delete").await;
    }
    page.click("Yes, delete").await;
    page.wait_for_text("Deleted +1 202-555-0143").await;
    if snap {
        page.check("13-deleted").await;
    }
    sign_out(page).await;

    // The auditor finds every step, filtered by the number, and exports CSV.
    sign_in(page, server, "aaron", TEMPORARY).await;
    page.fill("#current", TEMPORARY).await;
    page.fill("#new", AUDITOR_PASSWORD).await;
    page.fill("#confirm", AUDITOR_PASSWORD).await;
    page.click("Change password").await;
    page.click("Audit log").await;
    page.wait_for_text("Audit log").await;
    if snap {
        page.check("14-audit").await;
    }
    // The filters wait behind "Filters" until someone needs them.
    page.click("Filters").await;
    page.fill("#number", "202 555 0143").await;
    page.click("Show").await;
    let text = page.text().await;
    // One line per action, each starting with who and the verb.
    for step in [
        "olivia sent a code by text message to +1 202-555-0143 “Front desk”",
        "olivia entered a wrong code for +1 202-555-0143 “Front desk” (4 tries left)",
        "olivia verified +1 202-555-0143 “Front desk” by text message (1 wrong code first)",
        "olivia changed +1 202-555-0143: name “Front desk” → “Reception”",
        "ada deleted +1 202-555-0143 “Reception” at Plivo",
    ] {
        assert!(
            text.contains(step),
            "{step:?} is not in the audit log:\n{text}"
        );
    }
    if snap {
        page.check("15-audit-by-number").await;
    }
    let (name, csv) = page.download("spreadsheet (CSV)").await;
    assert!(name.ends_with(".csv"), "{name}");
    assert!(csv.starts_with("id,"), "{csv}");
    assert!(
        csv.contains("12025550143") && csv.contains("olivia"),
        "{csv}"
    );
    assert!(!csv.contains(&code), "the code is in the export");
    // The stored events behind a line: opening its Details shows them (without JavaScript, one
    // more click on the link there).
    page.click("Details").await;
    if !js {
        page.click("stored for this line").await;
    }
    page.wait_for_text("exactly as stored").await;
    if snap {
        page.check("15-audit-stored-events").await;
    }

    if snap {
        page.goto(&server.url("/no-such-page")).await;
        page.check_error_page(
            "16-not-found",
            "/no-such-page - Failed to load resource: the server responded with a status of 404",
        )
        .await;
    }
}

#[tokio::test]
async fn the_whole_story_in_chromium() {
    let driver = Driver::start().await;
    let server = Server::start();
    let mut page = driver.open(true).await;
    story(&mut page, &server, true).await;
    page.finish().await;
}

#[tokio::test]
async fn the_core_story_without_javascript() {
    let driver = Driver::start().await;
    let server = Server::start();
    let mut page = driver.open(false).await;
    story(&mut page, &server, false).await;
    page.finish().await;
}

/// Setting up and verifying a number with the keyboard alone: Tab to move, typing, Enter to
/// press. Every element Tab reaches must show where the focus is.
#[tokio::test]
async fn the_core_story_from_the_keyboard_alone() {
    let driver = Driver::start().await;
    let server = Server::start();
    let mut page = driver.open(true).await;

    page.goto(&server.setup_link).await;
    // The username field has the focus already.
    page.keys("ada").await;
    page.tab_to("input#password").await;
    page.keys(ADMIN_PASSWORD).await;
    page.tab_to("input#confirm").await;
    page.keys(ADMIN_PASSWORD).await;
    page.keys(ENTER).await;
    // The new admin is signed in at once.
    page.wait_for_text("Your admin account is ready and you are signed in")
        .await;
    page.wait_for_text("Not synced with Plivo yet").await;

    // The first stop on every page is the link past the navigation.
    page.tab_to("a.skip-link").await;
    page.tab_to("nav a[href='/verify']").await;
    page.keys(ENTER).await;
    page.wait_for_text("Send the code").await;
    page.tab_to("input#number").await;
    page.keys("(202) 555-0143").await;
    page.keys(ENTER).await;
    page.wait_for_text("Code from the phone").await;
    let code = page.find(".sandbox-code code").await.text().await.unwrap();
    // The code field has the focus when the page opens.
    page.keys(&code).await;
    page.keys(ENTER).await;
    page.wait_for_text("is now a verified caller ID").await;
    page.finish().await;
}
