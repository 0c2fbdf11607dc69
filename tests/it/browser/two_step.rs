//! Two-step sign-in in Chromium: setting up an authenticator app from the account page (the
//! QR code drawn by the server), the recovery codes, and signing in with a code. Each page is
//! checked for accessibility and console errors and photographed.

use super::Driver;
use crate::helpers::{PASSWORD, TestApp};
use callerdesk::auth::two_step::{code_at_step, step_at};
use callerdesk::domain::Role;

#[tokio::test]
async fn setting_up_and_using_an_authenticator_app_in_chromium() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Operator).await;
    let driver = Driver::start().await;
    let mut page = driver.open(true).await;
    let code_now =
        |seed: &[u8]| code_at_step(seed, step_at(app.state.clock.now().unix_timestamp())).unwrap();

    page.goto(&format!("{}/login", app.base)).await;
    page.fill("#username", "ada").await;
    page.fill("#password", PASSWORD).await;
    page.click("Sign in").await;
    page.goto(&format!("{}/account", app.base)).await;
    page.wait_for_text("Two-step sign-in").await;
    page.check("account").await;
    page.click("Set up two-step sign-in").await;
    page.click("Start").await;
    page.find(".qr svg").await;
    page.check("two-step-setup").await;
    let seed_text = page.find("#seed").await.text().await.unwrap();
    let seed = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        &seed_text.replace(' ', ""),
    )
    .unwrap();

    page.fill("#code", "000000").await;
    page.click("Turn on two-step sign-in").await;
    page.wait_for_text("That code does not match").await;
    page.fill("#code", &code_now(&seed)).await;
    page.click("Turn on two-step sign-in").await;
    page.wait_for_text("Save your recovery codes").await;
    page.check("two-step-recovery-codes").await;
    let codes = page.find("#recovery-codes").await.text().await.unwrap();
    assert_eq!(codes.lines().filter(|l| l.contains('-')).count(), 10);

    page.click("Sign out").await;
    page.fill("#username", "ada").await;
    page.fill("#password", PASSWORD).await;
    page.click("Sign in").await;
    page.wait_for_text("Enter your code").await;
    page.check("two-step-code").await;
    app.state.clock.advance(time::Duration::seconds(30));
    page.fill("#code", &code_now(&seed)).await;
    page.click("Sign in").await;
    page.wait_for_text("Caller IDs").await;
    assert!(page.url().await.ends_with('/'));
    page.goto(&format!("{}/account", app.base)).await;
    page.wait_for_text("Make new recovery codes").await;
    page.check("account-two-step-on").await;
    page.finish().await;
}
