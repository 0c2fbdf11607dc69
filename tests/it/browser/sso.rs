//! Signing in through the company's provider in Chromium, with and without JavaScript: the
//! provider's own login page at 127.0.0.1, callerdesk at localhost, so the browser treats
//! them as different sites and applies its SameSite rules to the way back, as in a real
//! deployment.

use super::Driver;
use crate::sso::{PROVIDER_NAME, TestProvider, app_with};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn signing_in_through_the_provider_in_chromium() {
    let provider = TestProvider::start();
    let app = app_with(&provider, |a| a.sso.password_signin = Some("false".into())).await;
    provider
        .people(json!({
            "ada": { "groups": ["callerdesk-operators"], "email": "ada@example.com", "email_verified": true }
        }))
        .await;
    let driver = Driver::start().await;
    for javascript in [true, false] {
        let mut page = driver.open(javascript).await;
        page.goto(&format!("{}/verify", app.base)).await;
        page.wait_for_text(&format!("Sign in with {PROVIDER_NAME}"))
            .await;
        page.check("sso-login").await;
        page.click(&format!("Sign in with {PROVIDER_NAME}")).await;

        // The provider's own page, on the other site.
        page.find("input[name=login]").await;
        assert!(page.url().await.starts_with(&provider.issuer));
        page.forget_console().await;
        page.fill("input[name=login]", "ada").await;
        page.fill("input[name=password]", "any password").await;
        page.click("Sign-in").await;

        // Back at callerdesk, signed in, on the page first asked for.
        let deadline = Instant::now() + Duration::from_secs(30);
        while page.url().await != format!("{}/verify", app.base) {
            assert!(
                Instant::now() < deadline,
                "never reached /verify: on {} reading:\n{}",
                page.url().await,
                page.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        page.wait_for_text("Verify a number").await;
        page.wait_for_text("ada").await;
        page.check("sso-signed-in").await;
        page.finish().await;
    }
    let sign_ins: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'sign_in' AND outcome = 'succeeded'
         AND json_extract(details, '$.subject') = 'sub-ada'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(sign_ins, 2);
}
