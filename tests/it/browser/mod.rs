//! Tests in a real browser: Debian's headless Chromium driven through chromedriver (WebDriver),
//! against the real `callerdesk` binary in sandbox mode.
//!
//! Chromium and chromedriver are installed by `scripts/test` when missing. Without them these
//! tests fail with a sentence saying so; they never skip.
//!
//! Every page a test looks at goes through [`Page::check`]: no console error or
//! Content-Security-Policy violation so far, no axe-core accessibility violation, and a
//! screenshot at phone (375 px) and desktop (1280 px) width under `target/screenshots/`.

mod sso;
mod story;
mod trouble;
mod two_step;

use fantoccini::{
    Client, ClientBuilder, Locator, elements::Element, wd::WebDriverCompatibleCommand,
};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tempfile::TempDir;

/// axe-core 4.14.1 (Mozilla Public License 2.0), from the npm registry, unchanged.
const AXE: &str = include_str!("axe.min.js");

/// WebDriver's key codes.
pub const ENTER: &str = "\u{E007}";
const TAB: &str = "\u{E004}";

/// The flags Chromium needs to run headless as root on a machine with a closed network.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
];

fn find_program(names: &[&str]) -> PathBuf {
    for name in names {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!(
        "{} is not installed. The browser tests need Debian's chromium and chromium-driver: \
         run scripts/test (which installs them) or `apt-get install -y chromium chromium-driver`.",
        names[0]
    );
}

/// A chromedriver process on a free port; stopped when dropped.
pub struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    pub async fn start() -> Self {
        let binary = find_program(&["chromedriver"]);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(binary)
            .arg(format!("--port={port}"))
            // A group of its own, so that dropping the driver stops the browsers too.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let ready = reqwest::get(format!("{url}/status"))
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { process, url }
    }

    /// A new browser window with a fresh profile, JavaScript on or off.
    pub async fn open(&self, javascript: bool) -> Page {
        let profile = TempDir::new().unwrap();
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push("--window-size=1280,900".into());
        let downloads = TempDir::new().unwrap();
        let mut prefs = json!({
            "download.default_directory": downloads.path(),
            "download.prompt_for_download": false,
        });
        if !javascript {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": find_program(&["chromium", "chromium-browser"]),
                "args": args,
                "prefs": prefs,
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap();
        Page {
            client,
            javascript,
            _profile: profile,
            downloads,
            problems: Vec::new(),
        }
    }
}

impl Drop for Driver {
    /// Stops chromedriver and every Chromium it started (its process group): a test that fails
    /// before closing its window would otherwise leave Chromium running, using the machine.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.process.id())])
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Chromedriver's log endpoint: the browser's console messages since the last call, including
/// Content-Security-Policy violations, which Chromium reports there as errors.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// A Chrome DevTools Protocol command, through chromedriver.
#[derive(Debug)]
struct Cdp(Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

/// One browser window.
pub struct Page {
    pub client: Client,
    pub javascript: bool,
    _profile: TempDir,
    downloads: TempDir,
    /// Console errors and accessibility violations seen so far, reported together at the end.
    problems: Vec<String>,
}

impl Page {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css:?} on {}: {e}", self.url().await),
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// The visible text of the whole page. A page that is replaced between finding its body
    /// and reading it (a redirect, htmx swapping the body) leaves a stale element: read the
    /// new one.
    pub async fn text(&self) -> String {
        // Chromium can also refuse a read while a navigation is under way ("cannot determine
        // loading status"): any failure is tried again, for up to five seconds.
        let mut last = String::new();
        for _ in 0..50 {
            match self.find("body").await.text().await {
                Ok(text) => return text,
                Err(e) => {
                    last = e.to_string();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!(
            "the page on {} could not be read (it kept changing?): {last}",
            self.url().await
        )
    }

    /// Types into the field with this CSS selector, replacing what it held.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks the button or link whose visible text contains `label`, and waits for the page
    /// (or the part htmx replaces) to settle.
    pub async fn click(&self, label: &str) {
        self.click_to(label, true).await;
    }

    /// Clicks a download link and returns the file's name and contents.
    pub async fn download(&self, label: &str) -> (String, String) {
        self.click_to(label, false).await;
        self.downloaded().await
    }

    async fn click_to(&self, label: &str, loads_page: bool) {
        let xpath = format!(
            "//*[self::button or self::a or self::summary][contains(normalize-space(.), {})]",
            xpath_literal(label)
        );
        // The element found can be replaced before it is clicked (htmx swapping its part of the
        // page, a redirect still arriving): find it again then.
        let mut attempts = 0;
        let (navigates, before) = loop {
            let element = match self
                .client
                .wait()
                .at_most(Duration::from_secs(30))
                .for_element(Locator::XPath(&xpath))
                .await
            {
                Ok(element) => element,
                Err(e) => panic!(
                    "nothing to click labelled {label:?} on {}: {e}\n--- the page read:\n{}",
                    self.url().await,
                    self.text().await
                ),
            };
            let before = self.client.find(Locator::Css("html")).await.unwrap();
            let clicked = match element.tag_name().await {
                Ok(tag) => element.click().await.map(|()| tag),
                Err(e) => Err(e),
            };
            match clicked {
                Ok(tag) => break (loads_page && !self.javascript && tag != "summary", before),
                Err(e) if e.is_stale_element_reference() && attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("could not click {label:?} on {}: {e}", self.url().await),
            }
        };
        if navigates {
            // Without JavaScript every button and link loads a new page: wait for it.
            let deadline = Instant::now() + Duration::from_secs(30);
            while before.tag_name().await.is_ok() {
                assert!(
                    Instant::now() < deadline,
                    "clicking {label:?} loaded no page"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.settle().await;
    }

    /// Waits until the document has loaded and htmx has no request in flight.
    pub async fn settle(&self) {
        if !self.javascript {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let busy = self
                .client
                .execute(
                    "return document.readyState !== 'complete' \
                     || document.querySelector('.htmx-request') !== null;",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            if !busy {
                return;
            }
            assert!(Instant::now() < deadline, "the page did not settle");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reloads the page until its text contains `text`, as someone waiting for a sync would.
    pub async fn reload_until(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            self.client.refresh().await.unwrap();
            self.settle().await;
            if self.text().await.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "{text:?} never appeared");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the page's text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body = self.text().await;
            if body.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} never appeared on {}; the page says:\n{body}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types into whatever has the focus.
    pub async fn keys(&self, text: &str) {
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
        self.settle().await;
    }

    /// Presses Tab until the element matching `css` has the focus (at most 40 times), checking
    /// on the way that each focused element shows a focus ring.
    pub async fn tab_to(&mut self, css: &str) {
        for _ in 0..40 {
            self.keys(TAB).await;
            let focus = self
                .client
                .execute(
                    "const e = document.activeElement, s = getComputedStyle(e);
                     return { here: e.matches(arguments[0]), page: e === document.body,
                              what: e.outerHTML.slice(0, 80),
                              ring: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
                                    || s.boxShadow !== 'none' };",
                    vec![json!(css)],
                )
                .await
                .unwrap();
            // Past the last element the focus leaves the page (to the body) and comes back.
            if focus["ring"] != json!(true) && focus["page"] != json!(true) {
                self.problems.push(format!(
                    "no visible focus on {}",
                    focus["what"].as_str().unwrap_or_default()
                ));
            }
            if focus["here"] == json!(true) {
                return;
            }
        }
        panic!("Tab never reached {css} on {}", self.url().await);
    }

    /// Waits for a download to finish and returns its file name and contents.
    pub async fn downloaded(&self) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let paths: Vec<_> = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect();
            let name_of = |path: &std::path::PathBuf| {
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            };
            // Chromium first reserves the final name with an empty file, writes to a hidden or
            // `.crdownload` file beside it, then renames that over the reservation: the download
            // is done when no partial file is left and the final one has contents.
            let writing = paths.iter().any(|path| {
                let name = name_of(path);
                name.starts_with('.') || name.ends_with(".crdownload")
            });
            let done = paths
                .iter()
                .find(|path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0))
                .filter(|_| !writing);
            if let Some(path) = done {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                return (name, std::fs::read_to_string(path).unwrap());
            }
            assert!(Instant::now() < deadline, "nothing was downloaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Collects console errors (CSP violations among them) since the last call.
    /// Reads and drops what the console said so far: for pages that are not ours (the
    /// single sign-on provider's login page), whose messages are not callerdesk's problems.
    pub async fn forget_console(&self) {
        let _ = self.client.issue_cmd(BrowserLog).await;
    }

    async fn collect_console(&mut self) {
        self.collect_console_except(None).await;
    }

    /// Like [`Page::check`], for a page that is an error on purpose: its own status line in
    /// the console (containing `expected`) is not a problem.
    pub async fn check_error_page(&mut self, name: &str, expected: &str) {
        self.collect_console_except(Some(expected)).await;
        self.check(name).await;
    }

    async fn collect_console_except(&mut self, expected_text: Option<&str>) {
        let entries = self.client.issue_cmd(BrowserLog).await.unwrap();
        let url = self.url().await;
        for entry in entries.as_array().into_iter().flatten() {
            let level = entry["level"].as_str().unwrap_or_default();
            let message = entry["message"].as_str().unwrap_or_default();
            let csp = message.contains("Content Security Policy");
            // Chromium logs every 4xx response as an error. A form sent again with a mistake
            // in it is answered 422 (and a limit 429) on purpose, for htmx to show in place.
            let expected = entry["source"] == "network"
                && (message.contains("status of 422") || message.contains("status of 429"));
            let expected = expected || expected_text.is_some_and(|t| message.contains(t));
            if (level == "SEVERE" && !expected) || (level == "WARNING" && csp) {
                self.problems.push(format!("console on {url}: {message}"));
            }
        }
    }

    /// Runs axe-core in the page: WCAG 2.1 A and AA rules and axe's best practices (landmarks,
    /// heading order, one main heading).
    async fn accessibility(&mut self) {
        if !self.javascript {
            return;
        }
        self.client
            .execute(&format!("{AXE}\n;return true;"), vec![])
            .await
            .unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag',
                     values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })
                   .then(r => done(r.violations.map(v =>
                       v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                       v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        let url = self.url().await;
        for violation in result.as_array().into_iter().flatten() {
            self.problems.push(format!(
                "accessibility on {url}: {}",
                violation.as_str().unwrap_or_default()
            ));
        }
    }

    /// Checks the page as it is now (console, accessibility) and saves screenshots of it at
    /// phone and desktop width as `<name>-375.png` and `<name>-1280.png`.
    pub async fn check(&mut self, name: &str) {
        self.settle().await;
        self.accessibility().await;
        let dir = screenshot_dir();
        let suffix = if self.javascript { "" } else { "-nojs" };
        for width in [375u32, 1280] {
            // The viewport of a phone or a desktop window, as tall as the whole page.
            let mobile = width < 600;
            self.viewport(width, 900, mobile).await;
            if mobile {
                self.no_sideways_scrolling(name).await;
            }
            let height = self
                .client
                .execute("return document.documentElement.scrollHeight;", vec![])
                .await
                .ok()
                .and_then(|v| v.as_u64())
                .unwrap_or(900)
                .clamp(600, 6000);
            self.viewport(width, height, mobile).await;
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}{suffix}-{width}.png")), png).unwrap();
        }
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
        self.collect_console().await;
    }

    async fn cdp(&self, cmd: &str, params: Value) {
        self.client
            .issue_cmd(Cdp(json!({ "cmd": cmd, "params": params })))
            .await
            .unwrap();
    }

    async fn viewport(&self, width: u32, height: u64, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )
        .await;
    }

    /// At phone width nothing may stick out sideways (tables become stacked rows).
    async fn no_sideways_scrolling(&mut self, name: &str) {
        if !self.javascript {
            return;
        }
        let wide = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap()
            .as_i64()
            .unwrap_or_default();
        if wide > 0 {
            self.problems
                .push(format!("{name}: at 375 px the page is {wide} px too wide"));
        }
    }

    /// Fails the test with every problem seen, then closes the window.
    pub async fn finish(mut self) {
        self.collect_console().await;
        let problems = std::mem::take(&mut self.problems);
        self.client.close().await.unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

/// Where the screenshots go: `target/screenshots/` (or under `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `s` as an XPath string literal.
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

impl Page {
    /// At a phone's size (375 × 667), how far down the page the first element matching `css`
    /// starts, in CSS pixels, and whether every phone number on the page (`.number`) sits on
    /// one line.
    pub async fn at_phone_size(&self, css: &str) -> (f64, bool) {
        self.viewport(375, 667, true).await;
        let found = self
            .client
            .execute(
                "const el = document.querySelector(arguments[0]); \
                 const whole = [...document.querySelectorAll('.number')] \
                   .every(n => n.getClientRects().length === 1); \
                 return [el ? el.getBoundingClientRect().top + window.scrollY : -1, whole];",
                vec![json!(css)],
            )
            .await
            .unwrap();
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
        (
            found[0].as_f64().unwrap_or(-1.0),
            found[1].as_bool().unwrap_or(false),
        )
    }
}
