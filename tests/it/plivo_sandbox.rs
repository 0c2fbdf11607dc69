//! The Plivo client against the sandbox over real HTTP, and the sandbox's own contract.

use callerdesk::{
    clock::Clock,
    db::Db,
    domain::PhoneNumber,
    plivo::{
        AuthToken, Channel, ListQuery, PlivoClient, PlivoConfig, PlivoError, RetryPolicy,
        StartVerification, Update,
    },
    sandbox::{DEFAULT_AUTH_ID, Fault, Faults, Rule, Sandbox},
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const TOKEN: &str = "sandbox-test-token";

/// A sandbox on its own port and database, and a client pointed at it.
pub struct Harness {
    pub sandbox: Sandbox,
    pub client: PlivoClient,
    pub base: String,
    pub clock: Clock,
    _dir: TempDir,
}

pub fn client_for(base: &str, auth_id: &str, token: &str, timeout: Duration) -> PlivoClient {
    let mut config = PlivoConfig::new(
        url::Url::parse(&format!("{base}/v1/")).unwrap(),
        auth_id.to_owned(),
        AuthToken::new(token.to_owned()),
    );
    config.timeout = timeout;
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
    };
    PlivoClient::new(config).unwrap()
}

impl Harness {
    pub async fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let db = Db::open(&dir.path().join("sandbox.db")).await.unwrap();
        let clock = Clock::adjustable();
        let sandbox = Sandbox::new(
            db,
            clock.clone(),
            DEFAULT_AUTH_ID.into(),
            AuthToken::new(TOKEN.into()),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        sandbox.spawn(listener);
        let client = client_for(&base, DEFAULT_AUTH_ID, TOKEN, Duration::from_secs(2));
        Self {
            sandbox,
            client,
            base,
            clock,
            _dir: dir,
        }
    }

    fn account(&self) -> String {
        format!("{}/v1/Account/{DEFAULT_AUTH_ID}", self.base)
    }
}

fn number(s: &str) -> PhoneNumber {
    PhoneNumber::from_e164(s).unwrap()
}

fn start_request(n: &str) -> StartVerification {
    StartVerification {
        phone_number: number(n),
        alias: Some("Front desk".into()),
        channel: Channel::Sms,
        subaccount: None,
    }
}

#[tokio::test]
async fn every_operation_works_end_to_end() {
    let h = Harness::start().await;
    let started = h
        .client
        .start_verification(&start_request("+12025550143"))
        .await
        .unwrap();
    assert_eq!(
        started.message.as_deref(),
        Some("Verification code is sent to number +12025550143 which is valid for 15 minutes")
    );
    let outbox = h.sandbox.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].phone_number, "+12025550143");
    assert_eq!(outbox[0].channel, Channel::Sms);
    let code = h.sandbox.code_for(&started.verification_uuid).unwrap();
    assert_eq!(code.len(), 6);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let e = h
        .client
        .submit_code(&started.verification_uuid, wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PlivoError::Refused { status: 400, error, api_id: Some(_) } if error == "invalid otp"),
        "{e:?}"
    );

    let verified = h
        .client
        .submit_code(&started.verification_uuid, &code)
        .await
        .unwrap();
    assert_eq!(verified.phone_number, "+12025550143");
    assert_eq!(verified.country.as_deref(), Some("US"));
    assert_eq!(verified.alias.as_deref(), Some("Front desk"));
    assert_eq!(verified.channel.as_deref(), Some("sms"));
    assert_eq!(verified.subaccount, None);
    assert_eq!(
        verified.verification_uuid.as_deref(),
        Some(started.verification_uuid.as_str())
    );
    assert!(verified.created_at.is_some());

    let got = h.client.get(&number("+12025550143")).await.unwrap();
    assert_eq!(got.alias.as_deref(), Some("Front desk"));
    assert_eq!(
        got.verification_uuid.as_deref(),
        Some(started.verification_uuid.as_str())
    );

    let page = h.client.list(&ListQuery::default()).await.unwrap();
    assert_eq!(page.meta.total_count, 1);
    assert_eq!(page.objects[0].phone_number, "+12025550143");
    assert_eq!(
        page.objects[0].resource_uri.as_deref(),
        Some(format!("/v1/Account/{DEFAULT_AUTH_ID}/VerifiedCallerId/12025550143").as_str())
    );

    let updated = h
        .client
        .update(
            &number("+12025550143"),
            &Update {
                alias: Some("Reception".into()),
                subaccount: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.alias.as_deref(), Some("Reception"));
    assert!(updated.modified_at >= got.modified_at);

    h.client.delete(&number("+12025550143")).await.unwrap();
    let gone = h.client.get(&number("+12025550143")).await.unwrap_err();
    assert_eq!(gone.status(), Some(404));
    assert_eq!(
        h.client
            .delete(&number("+12025550143"))
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
}

#[tokio::test]
async fn a_code_is_refused_after_fifteen_minutes() {
    let h = Harness::start().await;
    let started = h
        .client
        .start_verification(&start_request("+12025550144"))
        .await
        .unwrap();
    let code = h.sandbox.code_for(&started.verification_uuid).unwrap();
    h.clock.advance(time::Duration::minutes(15));
    let e = h
        .client
        .submit_code(&started.verification_uuid, &code)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.plivo_error(), Some("otp has expired"));
    assert_eq!(
        h.client
            .get(&number("+12025550144"))
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
}

#[tokio::test]
async fn wrong_credentials_get_401_and_a_sentence_about_credentials() {
    let h = Harness::start().await;
    let client = client_for(
        &h.base,
        DEFAULT_AUTH_ID,
        "not-the-token",
        Duration::from_secs(2),
    );
    let e = client.list(&ListQuery::default()).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(e.operator_message().contains("credentials"));
    assert!(
        !format!("{e:?}{e}{client:?}").contains("not-the-token"),
        "the token leaked"
    );
}

#[tokio::test]
async fn unknown_verifications_and_numbers_get_404() {
    let h = Harness::start().await;
    let e = h
        .client
        .submit_code("3fa85f64-5717-4562-b3fc-2c963f66afa6", "123456")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    let e = h
        .client
        .update(
            &number("+442079460000"),
            &Update {
                alias: Some("x".into()),
                subaccount: None,
            },
        )
        .await;
    assert_eq!(e.unwrap_err().status(), Some(404));
}

#[tokio::test]
async fn the_list_pages_and_filters_like_plivo() {
    let h = Harness::start().await;
    h.sandbox.seed(45).await.unwrap();
    let first = h
        .client
        .list(&ListQuery {
            limit: Some(20),
            offset: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.objects.len(), 20);
    assert_eq!(first.meta.total_count, 45);
    assert_eq!(first.meta.previous, None);
    assert_eq!(
        first.meta.next.as_deref(),
        Some(
            format!("/v1/Account/{DEFAULT_AUTH_ID}/VerifiedCallerId/?limit=20&offset=20").as_str()
        )
    );
    let last = h
        .client
        .list(&ListQuery {
            limit: Some(20),
            offset: Some(40),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(last.objects.len(), 5);
    assert_eq!(last.meta.next, None);
    assert!(
        last.meta
            .previous
            .as_deref()
            .unwrap()
            .ends_with("limit=20&offset=20")
    );

    let gb = h
        .client
        .list(&ListQuery {
            country: Some("GB".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        gb.meta.total_count > 0
            && gb
                .objects
                .iter()
                .all(|o| o.country.as_deref() == Some("GB"))
    );
    // Seeding the same count again adds nothing; the seeded countries match their numbers,
    // except that, as at Plivo, some numbers have none.
    h.sandbox.seed(45).await.unwrap();
    let all = h.client.list(&ListQuery::default()).await.unwrap();
    assert_eq!(all.meta.total_count, 45);
    let mut without = 0;
    for object in &all.objects {
        let derived = number(&object.phone_number).country();
        match object.country.as_deref() {
            None => without += 1,
            country => assert_eq!(derived.as_deref(), country, "{}", object.phone_number),
        }
    }
    assert!(without > 0 && without < all.objects.len(), "{without}");
}

#[tokio::test]
async fn state_survives_a_restart_of_the_sandbox() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("sandbox.db");
    {
        let db = Db::open(&path).await.unwrap();
        let sandbox = Sandbox::new(
            db.clone(),
            Clock::system(),
            DEFAULT_AUTH_ID.into(),
            AuthToken::new(TOKEN.into()),
        );
        sandbox.seed(3).await.unwrap();
        db.close().await;
    }
    let db = Db::open(&path).await.unwrap();
    let sandbox = Sandbox::new(
        db,
        Clock::system(),
        DEFAULT_AUTH_ID.into(),
        AuthToken::new(TOKEN.into()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    sandbox.spawn(listener);
    let page = client_for(&base, DEFAULT_AUTH_ID, TOKEN, Duration::from_secs(2))
        .list(&ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.meta.total_count, 3);
}

fn rule(count: u32, method: &str, fault: Fault) -> Rule {
    Rule {
        count,
        method: Some(method.into()),
        path: Some("/VerifiedCallerId/".into()),
        fault,
    }
}

#[tokio::test]
async fn injected_faults_reach_the_client_as_the_right_errors() {
    let h = Harness::start().await;
    h.sandbox.seed(3).await.unwrap();

    // A 500 on start is surfaced, never retried: the next request would have succeeded.
    h.sandbox.set_faults(Faults {
        rules: vec![rule(
            1,
            "POST",
            Fault::Status {
                status: 500,
                error: None,
            },
        )],
        ..Default::default()
    });
    let e = h
        .client
        .start_verification(&start_request("+12025550150"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert!(h.sandbox.outbox().is_empty(), "no code was sent");

    // Two 5xx on list are retried away; three are not.
    h.sandbox.set_faults(Faults {
        rules: vec![rule(2, "GET", Fault::Html502)],
        ..Default::default()
    });
    assert_eq!(
        h.client
            .list(&ListQuery::default())
            .await
            .unwrap()
            .meta
            .total_count,
        3
    );
    h.sandbox.set_faults(Faults {
        rules: vec![rule(
            3,
            "GET",
            Fault::Status {
                status: 503,
                error: Some("busy".into()),
            },
        )],
        ..Default::default()
    });
    let e = h.client.list(&ListQuery::default()).await.unwrap_err();
    assert_eq!((e.status(), e.plivo_error()), (Some(503), Some("busy")));

    h.sandbox.set_faults(Faults {
        rules: vec![rule(1, "GET", Fault::MalformedJson)],
        ..Default::default()
    });
    assert!(matches!(
        h.client.list(&ListQuery::default()).await.unwrap_err(),
        PlivoError::Unreadable { status: 200, .. }
    ));

    h.sandbox.set_faults(Faults {
        rules: vec![rule(
            1,
            "GET",
            Fault::RateLimited {
                retry_after_secs: 1,
            },
        )],
        ..Default::default()
    });
    let began = Instant::now();
    assert!(h.client.list(&ListQuery::default()).await.is_ok());
    assert!(
        began.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );

    h.sandbox.set_faults(Faults {
        rules: vec![rule(1, "POST", Fault::Hang)],
        ..Default::default()
    });
    let client = client_for(&h.base, DEFAULT_AUTH_ID, TOKEN, Duration::from_millis(500));
    let e = client
        .start_verification(&start_request("+12025550151"))
        .await
        .unwrap_err();
    assert!(matches!(e, PlivoError::Timeout { .. }), "{e:?}");

    h.sandbox.set_faults(Faults {
        latency_ms: 300,
        ..Default::default()
    });
    let began = Instant::now();
    h.client.get(&number("+12025550000")).await.unwrap();
    assert!(began.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn faults_are_set_and_cleared_over_http() {
    let h = Harness::start().await;
    let http = reqwest::Client::new();
    let set = http
        .post(format!("{}/__sandbox/faults", h.base))
        .json(&json!({"latency_ms": 5, "rules": [{"count": 1, "path": "VerifiedCallerId", "fault": {"kind": "status", "status": 500}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(h.sandbox.faults().latency_ms, 5);
    let bad = http
        .post(format!("{}/__sandbox/faults", h.base))
        .body("{\"rules\": 3}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let cleared = http
        .delete(format!("{}/__sandbox/faults", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(h.sandbox.faults(), Faults::default());

    h.client
        .start_verification(&start_request("+12025550152"))
        .await
        .unwrap();
    let outbox: Value = http
        .get(format!("{}/__sandbox/outbox", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(outbox[0]["phone_number"], "+12025550152");
    assert_eq!(outbox[0]["channel"], "sms");
    assert_eq!(outbox[0]["code"].as_str().unwrap().len(), 6);
}

/// One row of the contract: a request and what must come back.
struct Case {
    method: &'static str,
    path: String,
    auth: bool,
    body: Option<Value>,
    status: u16,
    keys: &'static [&'static str],
}

#[tokio::test]
async fn the_sandbox_answers_each_request_as_its_contract_says() {
    let h = Harness::start().await;
    h.sandbox.seed(8).await.unwrap();
    let a = h.account();
    let seeded = "12025550000";
    let error_keys: &[&str] = &["api_id", "error"];
    let caller_keys: &[&str] = &[
        "alias",
        "api_id",
        "country",
        "created_at",
        "modified_at",
        "phone_number",
        "subaccount",
        "verification_uuid",
    ];
    let c = |method, path: String, auth, body, status, keys| Case {
        method,
        path,
        auth,
        body,
        status,
        keys,
    };
    let cases = vec![
        c(
            "GET",
            format!("{a}/VerifiedCallerId/"),
            false,
            None,
            401,
            error_keys,
        ),
        c(
            "GET",
            format!(
                "{}/v1/Account/MAOTHER0000000000000/VerifiedCallerId/",
                h.base
            ),
            true,
            None,
            401,
            error_keys,
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/"),
            true,
            Some(json!({"phone_number": "555-1234"})),
            400,
            error_keys,
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/"),
            true,
            Some(json!({"phone_number": "+12025550199", "channel": "fax"})),
            400,
            error_keys,
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/"),
            true,
            Some(json!({"alias": "x"})),
            400,
            error_keys,
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/"),
            true,
            Some(json!({"phone_number": "+12025550199", "subaccount": "bogus"})),
            400,
            error_keys,
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/"),
            true,
            Some(json!({"phone_number": "+12025550199", "channel": "call"})),
            200,
            &["api_id", "message", "verification_uuid"],
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId"),
            true,
            Some(json!({"phone_number": "+12025550199"})),
            200,
            &["api_id", "message", "verification_uuid"],
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/"),
            true,
            Some(json!({"phone_number": "+12025550199", "alias": "", "subaccount": null})),
            200,
            &["api_id", "message", "verification_uuid"],
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/?limit=21"),
            true,
            None,
            400,
            error_keys,
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/?limit=0"),
            true,
            None,
            400,
            error_keys,
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/?offset=-1"),
            true,
            None,
            400,
            error_keys,
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/?limit=ten"),
            true,
            None,
            400,
            error_keys,
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/?limit=5&offset=2&country=US"),
            true,
            None,
            200,
            &["api_id", "meta", "objects"],
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId"),
            true,
            None,
            200,
            &["api_id", "meta", "objects"],
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/+{seeded}/"),
            true,
            None,
            200,
            caller_keys,
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/%2B{seeded}/"),
            true,
            None,
            200,
            caller_keys,
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/{seeded}"),
            true,
            None,
            200,
            caller_keys,
        ),
        c(
            "GET",
            format!("{a}/VerifiedCallerId/19995550000/"),
            true,
            None,
            404,
            error_keys,
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/{seeded}/"),
            true,
            Some(json!({"alias": "Renamed"})),
            200,
            caller_keys,
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/{seeded}/"),
            true,
            Some(json!({"subaccount": "bogus"})),
            400,
            error_keys,
        ),
        c(
            "POST",
            format!("{a}/VerifiedCallerId/Verification/3fa85f64-5717-4562-b3fc-2c963f66afa6/"),
            true,
            Some(json!({"otp": "123456"})),
            404,
            error_keys,
        ),
        c(
            "DELETE",
            format!("{a}/VerifiedCallerId/19995550000/"),
            true,
            None,
            404,
            error_keys,
        ),
        c(
            "DELETE",
            format!("{a}/VerifiedCallerId/{seeded}/"),
            true,
            None,
            204,
            &[],
        ),
        c("GET", format!("{a}/Nothing/"), true, None, 404, error_keys),
    ];
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    for case in cases {
        let mut request = http.request(case.method.parse().unwrap(), &case.path);
        if case.auth {
            request = request.basic_auth(DEFAULT_AUTH_ID, Some(TOKEN));
        }
        if let Some(body) = &case.body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let label = format!("{} {}", case.method, case.path);
        if status != case.status {
            failures.push(format!(
                "{label}: status {status}, expected {}: {text}",
                case.status
            ));
            continue;
        }
        if case.keys.is_empty() {
            if !text.is_empty() {
                failures.push(format!("{label}: expected no body, got {text}"));
            }
            continue;
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut keys: Vec<&str> = body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        if keys != case.keys {
            failures.push(format!("{label}: keys {keys:?}, expected {:?}", case.keys));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
