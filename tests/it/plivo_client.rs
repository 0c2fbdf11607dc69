//! The client against `wiremock`, for what Plivo really sends that the sandbox does not do by
//! itself: odd timestamps, missing fields, errors as objects, odd delete answers, HTML, 429s,
//! hangs, and the exact shape of what the client sends.

use crate::plivo_sandbox::client_for;
use callerdesk::{
    domain::PhoneNumber,
    plivo::{Channel, ListQuery, PlivoError, StartVerification},
};
use serde_json::json;
use std::time::{Duration, Instant};
use time::macros::datetime;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path, query_param},
};

const AUTH_ID: &str = "MAABCDEFGHIJ12345678";
const ACCOUNT: &str = "/v1/Account/MAABCDEFGHIJ12345678";

async fn server() -> (MockServer, callerdesk::plivo::PlivoClient) {
    let server = MockServer::start().await;
    let client = client_for(
        &server.uri(),
        AUTH_ID,
        "secret-token",
        Duration::from_millis(800),
    );
    (server, client)
}

fn number() -> PhoneNumber {
    PhoneNumber::from_e164("+12025551234").unwrap()
}

#[tokio::test]
async fn requests_have_plivos_shape() {
    let (server, client) = server().await;
    Mock::given(method("POST"))
        .and(path(format!("{ACCOUNT}/VerifiedCallerId/")))
        .and(header("accept", "application/json"))
        .and(header(
            "user-agent",
            concat!("callerdesk/", env!("CARGO_PKG_VERSION")),
        ))
        // base64("MAABCDEFGHIJ12345678:secret-token")
        .and(header(
            "authorization",
            "Basic TUFBQkNERUZHSElKMTIzNDU2Nzg6c2VjcmV0LXRva2Vu",
        ))
        .and(body_json(
            json!({"phone_number": "+12025551234", "channel": "call"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "api_id": "a1", "message": "sent", "verification_uuid": "f87836bd-0000"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let started = client
        .start_verification(&StartVerification {
            phone_number: number(),
            alias: None,
            channel: Channel::Call,
            subaccount: None,
        })
        .await
        .unwrap();
    assert_eq!(started.verification_uuid, "f87836bd-0000");

    Mock::given(method("GET"))
        .and(path(format!("{ACCOUNT}/VerifiedCallerId/")))
        .and(query_param("limit", "20"))
        .and(query_param("offset", "40"))
        .and(query_param("country", "US"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "api_id": "a2", "meta": {"limit": 20, "offset": 40, "total_count": 40, "next": null, "previous": "/x"}, "objects": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let page = client
        .list(&ListQuery {
            limit: Some(20),
            offset: Some(40),
            country: Some("US".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.objects.is_empty());

    Mock::given(method("POST"))
        .and(path(format!(
            "{ACCOUNT}/VerifiedCallerId/Verification/f87836bd-0000/"
        )))
        .and(body_json(json!({"otp": "123456"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "alias": "", "api_id": "a3", "channel": "", "country": "US",
            "created_at": "2023-08-30T07:47:43.68729Z", "phone_number": "+12025551234",
            "verification_uuid": "f87836bd-0000"
        })))
        .mount(&server)
        .await;
    let verified = client.submit_code("f87836bd-0000", "123456").await.unwrap();
    assert_eq!(verified.channel, None, "an empty channel is no channel");
    assert_eq!(verified.alias, None);
    assert_eq!(verified.subaccount, None, "absent subaccount");
    assert_eq!(
        verified.created_at,
        Some(datetime!(2023-08-30 07:47:43.68729 UTC))
    );
}

#[tokio::test]
async fn quirky_caller_ids_parse() {
    let (server, client) = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{ACCOUNT}/VerifiedCallerId/12025551234/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "alias": "Main office", "api_id": "a4", "country": "", "created_at": "2023-08-30T07:47:43.968133341Z",
            "modified_at": "2023-08-30 07:47:43", "phone_number": "+12025551234", "subaccount": null,
            "verification_uuid": "u", "new_field_from_the_future": {"nested": [1, 2]}
        })))
        .mount(&server)
        .await;
    let c = client.get(&number()).await.unwrap();
    assert_eq!(c.alias.as_deref(), Some("Main office"));
    assert_eq!(c.country, None);
    assert_eq!(c.subaccount, None);
    assert_eq!(
        c.created_at,
        Some(datetime!(2023-08-30 07:47:43.968133341 UTC))
    );
    assert_eq!(c.modified_at, Some(datetime!(2023-08-30 07:47:43 UTC)));
}

#[tokio::test]
async fn an_error_object_is_kept_as_text_with_its_api_id() {
    let (server, client) = server().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "api_id": "a5", "error": {"phone_number": ["not a valid number"]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = client.submit_code("u", "1234").await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.api_id(), Some("a5"));
    assert_eq!(
        e.plivo_error(),
        Some(r#"{"phone_number":["not a valid number"]}"#)
    );
}

#[tokio::test]
async fn delete_accepts_204_with_a_body_and_200_with_an_empty_object() {
    let (server, client) = server().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204).set_body_string("{\"api_id\": \"a6\"}"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    client.delete(&number()).await.unwrap();
    server.reset().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    client.delete(&number()).await.unwrap();
}

#[tokio::test]
async fn an_html_502_is_unreadable_and_retried_for_get() {
    let (server, client) = server().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_raw("<html><body>502 Bad Gateway</body></html>", "text/html"),
        )
        .expect(3)
        .mount(&server)
        .await;
    let e = client.get(&number()).await.unwrap_err();
    match &e {
        PlivoError::Unreadable {
            status: 502,
            body_start,
        } => assert!(body_start.starts_with("<html>")),
        other => panic!("{other:?}"),
    }
    assert!(!e.operator_message().contains("html"));
}

#[tokio::test]
async fn list_waits_out_retry_after_then_succeeds() {
    let (server, client) = server().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"api_id": "a7", "error": "too many requests"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "api_id": "a8", "meta": {"limit": 20, "offset": 0, "total_count": 0}, "objects": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let began = Instant::now();
    client.list(&ListQuery::default()).await.unwrap();
    assert!(
        began.elapsed() >= Duration::from_secs(1),
        "did not wait for Retry-After"
    );
}

#[tokio::test]
async fn start_verification_is_never_retried() {
    let (server, client) = server().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"api_id": "a9", "error": "too many requests"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = client
        .start_verification(&StartVerification {
            phone_number: number(),
            alias: None,
            channel: Channel::Sms,
            subaccount: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        e,
        PlivoError::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
            error: Some("too many requests".into()),
            api_id: Some("a9".into())
        }
    );
    server.verify().await;

    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let e = client
        .start_verification(&StartVerification {
            phone_number: number(),
            alias: None,
            channel: Channel::Sms,
            subaccount: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, PlivoError::Unreadable { status: 500, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_hang_times_out_at_the_configured_limit() {
    let (server, client) = server().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .expect(1)
        .mount(&server)
        .await;
    let began = Instant::now();
    let e = client.submit_code("u", "123456").await.unwrap_err();
    let took = began.elapsed();
    assert_eq!(
        e,
        PlivoError::Timeout {
            after: Duration::from_millis(800)
        }
    );
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_retried_for_list() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client_for(
        &format!("http://127.0.0.1:{port}"),
        AUTH_ID,
        "secret-token",
        Duration::from_secs(1),
    );
    let e = client.list(&ListQuery::default()).await.unwrap_err();
    assert!(matches!(e, PlivoError::Connect { .. }), "{e:?}");
    assert!(e.operator_message().contains("could not reach Plivo"));
    assert!(!format!("{e:?}").contains("secret-token"));
}

#[tokio::test]
async fn a_delete_retried_after_a_5xx_and_answered_404_is_done() {
    let (server, client) = server().await;
    let url = format!("{ACCOUNT}/VerifiedCallerId/12025551234/");
    Mock::given(method("DELETE"))
        .and(path(url.clone()))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "busy"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(url))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "not found"})))
        .mount(&server)
        .await;
    client.delete(&number()).await.unwrap();
}

#[tokio::test]
async fn a_delete_answered_404_at_once_is_not_found() {
    let (server, client) = server().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "not found"})))
        .expect(1)
        .mount(&server)
        .await;
    let e = client.delete(&number()).await.unwrap_err();
    assert!(
        matches!(e, PlivoError::Refused { status: 404, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_get_that_times_out_is_tried_again() {
    let (server, client) = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "api_id": "g1", "phone_number": "+12025551234", "alias": "Desk"
        })))
        .mount(&server)
        .await;
    let found = client.get(&number()).await.unwrap();
    assert_eq!(found.alias.as_deref(), Some("Desk"));
}
