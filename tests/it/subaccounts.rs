//! Subaccounts by name: the sync reads them from Plivo's Account API, pages show names instead of
//! `SA…` ids, and the verify and edit forms offer a list to choose from.

use crate::helpers::{TestApp, location};
use callerdesk::{
    domain::Role,
    sandbox::{Fault, Faults, Rule},
};
use reqwest::StatusCode;

const SALES: &str = "SA2B3C4D5E6F7G8H9J0K";
const SUPPORT: &str = "SAKXQ7M2P9R4T6V8W1Y3";

#[tokio::test]
async fn subaccounts_show_by_name_and_are_chosen_from_a_list() {
    let app = TestApp::spawn().await;
    app.sandbox().seed(30).await.unwrap();
    let mut olive = app.signed_in("olive", Role::Operator).await;

    // Before any sync nothing is known: the form asks for an id.
    let (_, form) = olive.page("/verify").await;
    assert!(
        form.contains(r#"<input id="subaccount" name="subaccount" type="text""#),
        "{form}"
    );

    app.sync().await.unwrap();
    let (_, list) = olive.page("/").await;
    assert!(
        list.contains(&format!(r#"<option value="{SALES}">Sales team</option>"#)),
        "the filter offers names: {list}"
    );
    assert!(
        list.contains(&format!(r#"<span title="{SUPPORT}">Support (EU)</span>"#)),
        "rows show names: {list}"
    );

    // The download carries the subaccount's id and, beside it, its name.
    let csv = olive.get("/caller-ids.csv").await.text().await.unwrap();
    assert!(csv.starts_with("phone_number,name,country,subaccount,subaccount_name,"));
    assert!(csv.contains(&format!(",{SUPPORT},Support (EU),")), "{csv}");
    assert!(csv.contains(",,Main account,"), "{csv}");

    let (_, form) = olive.page("/verify").await;
    assert!(form.contains(r#"<select id="subaccount" name="subaccount""#));
    assert!(form.contains(r#"<option value="" selected>Main account</option>"#));
    assert!(form.contains(&format!(
        r#"<option value="{SUPPORT}">Support (EU)</option>"#
    )));
    assert!(
        !form.contains("Old agency"),
        "a disabled subaccount is not offered"
    );

    // Verify a number onto a subaccount chosen from the list.
    app.sandbox().set_next_code("482913");
    let r = olive
        .post(
            "/verify",
            &[
                ("number", "202-555-0177"),
                ("alias", "Helpdesk"),
                ("channel", "sms"),
                ("subaccount", SUPPORT),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let path = location(&r);
    olive
        .post(&format!("{path}/code"), &[("code", "482913")])
        .await;
    let (_, page) = olive.page("/caller-ids/12025550177").await;
    assert!(
        page.contains(&format!(
            r#"Support (EU) <span class="hint">(<code>{SUPPORT}</code>)</span>"#
        )),
        "{page}"
    );
    // A number on a subaccount can't be moved back through the API: no "Main account" choice.
    assert!(
        !page.contains(r#"<option value="">Main account</option>"#),
        "{page}"
    );
    assert!(page.contains(&format!(
        r#"<option value="{SUPPORT}" selected>Support (EU)</option>"#
    )));

    let r = olive
        .post(
            "/caller-ids/12025550177",
            &[("alias", "Helpdesk"), ("subaccount", SALES)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = olive.page("/caller-ids/12025550177").await;
    assert!(
        page.contains("Saved. The subaccount is now Sales team (it was Support (EU))."),
        "{page}"
    );
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;
    let (_, audit) = ivy.page("/audit?number=202-555-0177").await;
    assert!(
        audit.contains(
            r#"changed <span class="number">+1 202-555-0177</span>: subaccount Support (EU) → Sales team"#
        ),
        "{audit}"
    );
}

#[tokio::test]
async fn a_sync_that_cannot_read_the_subaccounts_still_succeeds_and_says_so() {
    let app = TestApp::spawn().await;
    app.sandbox().seed(10).await.unwrap();
    app.sync().await.unwrap();
    app.sandbox().set_faults(Faults {
        rules: vec![Rule {
            count: 10,
            method: Some("GET".into()),
            path: Some("/Subaccount/".into()),
            fault: Fault::Html502,
        }],
        ..Default::default()
    });
    let summary = app.sync().await.unwrap();
    let said = summary.to_string();
    assert!(
        said.contains("The subaccounts' names could not be read"),
        "{said}"
    );
    // The names from the first run are still shown.
    let mut olive = app.signed_in("olive", Role::Operator).await;
    let (_, form) = olive.page("/verify").await;
    assert!(form.contains("Sales team"), "{form}");
}
