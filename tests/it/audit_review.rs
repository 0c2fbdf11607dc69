//! The audit page, exports, backups and the indexes behind the filters.

use crate::helpers::{TestApp, location};
use callerdesk::{
    audit::{self, Action, Actor, NewEvent, Outcome, RequestMeta, query},
    domain::Role,
};
use reqwest::StatusCode;
use std::process::Command;

/// An event by `actor` (olive is user 7, anyone else user 8).
async fn event(app: &TestApp, actor: &str, action: Action, outcome: Outcome, number: Option<&str>) {
    let id = if actor == "olive" { 7 } else { 8 };
    let mut e = NewEvent::new(
        Actor::user(id, actor),
        &RequestMeta::default(),
        action,
        outcome,
    );
    e.phone_number = number.map(str::to_owned);
    let mut tx = app.state.db.writer.begin().await.unwrap();
    audit::append(&mut tx, app.state.clock.now(), e)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn count(body: &str) -> usize {
    body.matches(r#"class="event event--"#).count()
}

#[tokio::test]
async fn filters_work_alone_and_combined_and_numbers_in_any_format() {
    let app = TestApp::spawn().await;
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;
    for i in 0..6 {
        let number = if i % 2 == 0 {
            "+12025551234"
        } else {
            "+442079460958"
        };
        let outcome = if i % 3 == 0 {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        };
        event(
            &app,
            if i < 3 { "olive" } else { "otis" },
            Action::VerificationStarted,
            outcome,
            Some(number),
        )
        .await;
    }
    event(
        &app,
        "olive",
        Action::CallerIdUpdated,
        Outcome::Succeeded,
        Some("+12025551234"),
    )
    .await;

    let (_, all) = ivy.page("/audit").await;
    assert!(count(&all) >= 8, "{all}");
    let head = app.audit_actions().await.len();
    assert!(
        all.contains(&format!("All {head} recorded events, newest first"))
            && !all.contains("Clear filters"),
        "{all}"
    );
    let (_, olive) = ivy.page("/audit?person=7").await;
    assert_eq!(count(&olive), 4);
    assert!(
        olive.contains(r#"4 recorded events match these filters (a request to Plivo and its answer share a line). <a href="/audit">Clear filters</a>"#),
        "{olive}"
    );
    let (_, sent) = ivy.page("/audit?action=verification_started").await;
    assert_eq!(count(&sent), 6);
    let (_, failed) = ivy
        .page("/audit?action=verification_started&outcome=failed")
        .await;
    assert_eq!(count(&failed), 2);
    for typed in [
        "%28202%29%20555-1234",
        "202.555.1234",
        "%2B1%20202%20555%201234",
    ] {
        let (_, by_number) = ivy.page(&format!("/audit?number={typed}")).await;
        assert_eq!(count(&by_number), 4, "{typed}");
    }
    let (_, combined) = ivy
        .page("/audit?person=8&number=202-555-1234&outcome=succeeded")
        .await;
    assert_eq!(count(&combined), 1);
    let today = app.state.clock.now().date();
    let (_, dated) = ivy
        .page(&format!(
            "/audit?from={today}&to={today}&action=caller_id_updated"
        ))
        .await;
    assert_eq!(count(&dated), 1);
    let tomorrow = today.next_day().unwrap();
    let (_, none) = ivy.page(&format!("/audit?from={tomorrow}")).await;
    assert_eq!(count(&none), 0);
    assert!(
        none.contains("No events match these filters.") && none.contains("Clear filters"),
        "{none}"
    );
    assert_eq!(none.matches("No events match these filters.").count(), 1);
    let (_, bad) = ivy.page("/audit?number=hello").await;
    assert!(bad.contains("The number filter was left out."));

    // htmx gets the list alone.
    let r = ivy
        .client
        .get(ivy.url("/audit?person=7"))
        .header("hx-request", "true")
        .header("hx-target", "events")
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.trim_start().starts_with(r#"<div id="events">"#) && !body.contains("<html"));
}

#[tokio::test]
async fn pages_stay_stable_while_new_events_arrive() {
    let app = TestApp::spawn().await;
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;
    audit::sample::generate(
        &app.state.db.writer,
        250,
        app.state.clock.now(),
        time::Duration::seconds(1),
    )
    .await
    .unwrap();
    let ids = |body: &str| -> Vec<i64> {
        body.match_indices(r#"<div class="stored" id="stored-"#)
            .map(|(at, m)| {
                body[at + m.len()..]
                    .split('"')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let (_, first) = ivy.page("/audit").await;
    let mut seen = ids(&first);
    assert_eq!(seen.len(), 50);
    // The "Older events" link's address.
    let older = |page: &str| -> Option<String> {
        let before_link = page
            .split(r#"rel="next""#)
            .next()
            .filter(|_| page.contains(r#"rel="next""#))?;
        let href = before_link.rsplit("href=\"").next()?;
        Some(
            href.split('"')
                .next()?
                .replace("&amp;", "&")
                .replace("&#38;", "&"),
        )
    };
    let mut next = older(&first).unwrap();
    for _ in 0..10 {
        for _ in 0..10 {
            event(&app, "olive", Action::SignIn, Outcome::Succeeded, None).await;
        }
        let (_, page) = ivy.page(&next).await;
        seen.extend(ids(&page));
        match older(&page) {
            Some(link) => next = link,
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "no duplicates");
    let newest = *seen.first().unwrap();
    assert_eq!(
        seen.len() as i64,
        newest,
        "no gaps: every event from {newest} down to 1"
    );
}

#[tokio::test]
async fn every_filter_is_answered_from_an_index() {
    let app = TestApp::spawn().await;
    audit::sample::generate(
        &app.state.db.writer,
        2000,
        app.state.clock.now(),
        time::Duration::seconds(1),
    )
    .await
    .unwrap();
    sqlx::query("ANALYZE")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let now = app.state.clock.now();
    let filters = [
        query::Filter {
            actor: Some(query::ActorFilter::Person(1)),
            ..Default::default()
        },
        query::Filter {
            actor: Some(query::ActorFilter::NotAPerson("system".into())),
            ..Default::default()
        },
        query::Filter {
            number: Some("+12025550001".into()),
            ..Default::default()
        },
        query::Filter {
            action: Some("sign_in".into()),
            ..Default::default()
        },
        query::Filter {
            outcome: Some("requested".into()),
            ..Default::default()
        },
        query::Filter {
            since: Some(now - time::Duration::minutes(5)),
            until: Some(now),
            ..Default::default()
        },
        query::Filter {
            actor: Some(query::ActorFilter::Person(3)),
            action: Some("sign_in".into()),
            outcome: Some("succeeded".into()),
            ..Default::default()
        },
        query::Filter {
            number: Some("+12025550001".into()),
            since: Some(now - time::Duration::hours(1)),
            ..Default::default()
        },
    ];
    for filter in &filters {
        let mut conn = app.state.db.reader.acquire().await.unwrap();
        let range = query::id_range(&mut conn, filter).await.unwrap();
        drop(conn);
        for before in [None, Some(1500)] {
            let sql = query::page_sql(filter, range, before, 50).into_sql();
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&app.state.db.reader)
                    .await
                    .unwrap();
            let plan: Vec<String> = plan.into_iter().map(|row| row.3).collect();
            assert!(
                plan.iter()
                    .all(|step| !step.starts_with("SCAN audit_events") || step.contains("INDEX")),
                "{filter:?}: {plan:?}"
            );
            assert!(
                plan.iter()
                    .any(|s| s.contains("USING INDEX") || s.contains("INTEGER PRIMARY KEY")),
                "{filter:?}: {plan:?}"
            );
            assert!(
                !plan.iter().any(|s| s.contains("TEMP B-TREE")),
                "no sorting: {filter:?}: {plan:?}"
            );
        }
    }
}

fn run_python(script: &str, file: &std::path::Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn export_script() -> &'static str {
    let doc = include_str!("../../docs/audit-log.md");
    let block = doc
        .split("```python\n")
        .nth(2)
        .expect("docs/audit-log.md has the export script");
    block.split("```").next().unwrap()
}

/// Exports through the command line, returning the peak memory (KiB) of the export process.
fn export_with_peak(db: &std::path::Path, out: &std::path::Path, format: &str) -> u64 {
    let measure = r#"
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out:
    done = subprocess.run(sys.argv[2:], stdout=out)
if done.returncode != 0:
    sys.exit(done.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"#;
    let result = Command::new("python3")
        .args(["-c", measure])
        .arg(out)
        .arg(env!("CARGO_BIN_EXE_callerdesk"))
        .args(["audit", "export", "--format", format, "--database"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    String::from_utf8_lossy(&result.stdout)
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_long_export_streams_in_flat_memory_and_checks_out_independently() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Admin).await;
    let db = app.db_path();
    let dir = app.stop().await;
    let writer = callerdesk::db::Db::open(&db).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    audit::sample::generate(
        &writer.writer,
        20_000,
        now,
        time::Duration::milliseconds(10),
    )
    .await
    .unwrap();
    let small = export_with_peak(&db, &dir.path().join("small.jsonl"), "jsonl");
    audit::sample::generate(
        &writer.writer,
        180_000,
        now,
        time::Duration::milliseconds(10),
    )
    .await
    .unwrap();
    writer.close().await;
    let path = dir.path().join("big.jsonl");
    let big = export_with_peak(&db, &path, "jsonl");
    assert!(big < 64 * 1024, "peak {big} KiB for 200,000 events");
    assert!(
        big < small + 16 * 1024,
        "memory grew with the export: {small} KiB for 20,000, {big} KiB for 200,000"
    );

    let (ok, said) = run_python(export_script(), &path);
    assert!(ok, "{said}");
    assert!(said.starts_with("intact, 200002 events"), "{said}");

    // One changed character anywhere fails the independent check.
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replacen("\"actor_name\":\"otis\"", "\"actor_name\":\"olaf\"", 1);
    assert_ne!(tampered, text);
    let bad = dir.path().join("tampered.jsonl");
    std::fs::write(&bad, tampered).unwrap();
    let (ok, said) = run_python(export_script(), &bad);
    assert!(!ok && said.contains("broken at event"), "{said}");

    let csv = dir.path().join("all.csv");
    export_with_peak(&db, &csv, "csv");
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.starts_with("id,occurred_at,actor_id,actor_name"));
    assert_eq!(
        csv.lines().count(),
        1 + 200_003,
        "header, the events, and the first export's own event"
    );
}

#[tokio::test]
async fn the_web_export_is_the_filter_and_is_recorded() {
    let app = TestApp::spawn().await;
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;
    event(
        &app,
        "olive",
        Action::CallerIdUpdated,
        Outcome::Succeeded,
        Some("+12025551234"),
    )
    .await;
    let r = ivy
        .get("/audit/export?format=jsonl&number=202-555-1234")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .contains(".jsonl")
    );
    let body = r.text().await.unwrap();
    assert_eq!(body.lines().count(), 1, "{body}");
    let line: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(line["phone_number"], "+12025551234");
    assert!(line["hash"].as_str().unwrap().len() == 64 && line["prev_hash"].is_string());
    // The export event is written once the download finishes.
    for _ in 0..50 {
        if app.count_events("audit_exported").await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (actor, details): (String, String) = sqlx::query_as(
        "SELECT actor_name, details FROM audit_events WHERE action = 'audit_exported'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(actor, "ivy");
    assert!(
        details.contains("\"rows\":1") && details.contains("+12025551234"),
        "{details}"
    );

    let whole = ivy
        .get("/audit/export?format=jsonl")
        .await
        .text()
        .await
        .unwrap();
    let file = app.dir.path().join("web.jsonl");
    std::fs::write(&file, whole).unwrap();
    let (ok, said) = run_python(export_script(), &file);
    assert!(ok && said.starts_with("intact"), "{said}");
}

#[tokio::test]
async fn the_chain_status_shows_intact_then_the_broken_event() {
    let app = TestApp::spawn().await;
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;
    ivy.page("/audit").await;
    let r = ivy.post("/audit/verify", &[]).await;
    assert_eq!(location(&r), "/audit");
    let (_, page) = ivy.page("/audit").await;
    assert!(
        page.contains("the chain is intact") && page.contains("Intact: "),
        "{page}"
    );

    sqlx::query("DROP TRIGGER audit_events_are_never_updated")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET actor_name = 'mallory' WHERE id = 2")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    ivy.post("/audit/verify", &[]).await;
    let (_, page) = ivy.page("/audit").await;
    assert!(page.contains("Broken at event 2"), "{page}");
}

#[tokio::test]
async fn a_request_without_an_outcome_shows_as_unknown_until_the_sync_settles_it() {
    let app = TestApp::spawn().await;
    app.sandbox().seed(3).await.unwrap();
    app.sync().await.unwrap();
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;
    // As if callerdesk stopped while Plivo deleted the number.
    let mut request = NewEvent::new(
        Actor::user(1, "olive"),
        &RequestMeta::default(),
        Action::CallerIdDeleted,
        Outcome::Requested,
    );
    request.phone_number = Some("+12025550000".into());
    let mut tx = app.state.db.writer.begin().await.unwrap();
    audit::append(&mut tx, app.state.clock.now(), request)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.state
        .plivo
        .delete(&callerdesk::domain::PhoneNumber::from_e164("+12025550000").unwrap())
        .await
        .unwrap();

    app.state.clock.advance(time::Duration::minutes(3));
    let (_, page) = ivy.page("/audit?action=caller_id_deleted").await;
    assert!(page.contains("Outcome unknown"), "{page}");
    app.sync().await.unwrap();
    let (_, page) = ivy.page("/audit?action=caller_id_deleted").await;
    assert!(!page.contains("Outcome unknown"), "{page}");
    let (actor, outcome, details): (String, String, String) = sqlx::query_as(
        "SELECT actor_name, outcome, details FROM audit_events WHERE action = 'caller_id_deleted' AND outcome != 'requested'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), outcome.as_str()), ("system", "succeeded"));
    assert!(
        details.contains("settled_by_sync") && details.contains("no longer at Plivo"),
        "{details}"
    );
}

#[tokio::test]
async fn a_backup_taken_during_writes_is_consistent_and_never_overwrites() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Admin).await;
    let writer = app.state.db.writer.clone();
    let clock = app.state.clock.clone();
    let busy = tokio::spawn(async move {
        for _ in 0..400 {
            let mut tx = writer.begin().await.unwrap();
            audit::append(
                &mut tx,
                clock.now(),
                NewEvent::new(
                    Actor::system(),
                    &RequestMeta::default(),
                    Action::SyncFinished,
                    Outcome::Succeeded,
                ),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
    });
    let copy = app.dir.path().join("backup.db");
    let db = app.db_path();
    let out = tokio::task::spawn_blocking({
        let copy = copy.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_callerdesk"))
                .args(["backup", "--database"])
                .arg(&db)
                .arg(&copy)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    busy.await.unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("integrity ok, audit chain intact"), "{said}");
    let verified = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .args(["audit", "verify", "--database"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(verified.status.success());

    let again = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .args(["backup", "--database"])
        .arg(app.db_path())
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
}

/// Sixteen people opening the audit page at once (more than the four readers) all get it: a
/// page must not hold one reader connection while waiting for another.
#[tokio::test]
async fn the_audit_page_serves_more_people_at_once_than_there_are_readers() {
    let app = crate::helpers::TestApp::spawn().await;
    let ivy = app
        .signed_in("ivy", callerdesk::domain::Role::Auditor)
        .await;
    let pages = (0..16).map(|_| {
        let client = ivy.client.clone();
        let url = ivy.url("/audit");
        tokio::spawn(async move {
            tokio::time::timeout(std::time::Duration::from_secs(10), async {
                client.get(url).send().await.unwrap().status()
            })
            .await
        })
    });
    for page in futures_util::future::join_all(pages).await {
        assert_eq!(
            page.unwrap().expect("answered within 10 s"),
            reqwest::StatusCode::OK
        );
    }
}

#[tokio::test]
async fn callerdesk_itself_and_the_command_line_read_as_such_not_as_people() {
    let app = TestApp::spawn().await;
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;
    let now = app.state.clock.now();
    for who in [
        callerdesk::audit::Who::system(),
        callerdesk::audit::Who::command_line(),
    ] {
        app.state
            .db
            .append(now, who.event(Action::CallerIdUpdated, Outcome::Succeeded))
            .await
            .unwrap();
    }
    let (_, page) = ivy.page("/audit").await;
    assert!(
        page.contains(r#"<em class="event__not-a-person">callerdesk, on its own,</em>"#)
            && page.contains(
                r#"<em class="event__not-a-person">An administrator at the command line</em>"#
            ),
        "{page}"
    );
    assert!(
        !page.contains("<strong>system</strong>")
            && !page.contains("<strong>command line</strong>"),
        "{page}"
    );
    assert!(
        page.contains("<strong>ivy</strong>"),
        "people stay names: {page}"
    );
    // Times to the second, in UTC, the zone of the date filters ("From (UTC date)").
    let shown = callerdesk::web::format::exact_seconds(now);
    assert!(shown.ends_with(" UTC") && shown.matches(':').count() == 2);
    assert!(page.contains(&format!("{shown}</time>")), "{page}");
}

/// The text of each line on an audit page (tags stripped, spaces joined), newest first.
fn lines(page: &str) -> Vec<String> {
    page.split(r#"<span class="event__text">"#)
        .skip(1)
        .map(|rest| {
            let text = &rest[..rest.find(r#"<span class="badge"#).unwrap_or(rest.len())];
            let mut plain = String::new();
            let mut in_tag = false;
            for c in text.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => plain.push(c),
                    _ => {}
                }
            }
            plain
                .replace("&#39;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[tokio::test]
async fn every_action_at_plivo_is_one_line_with_its_outcome() {
    use callerdesk::sandbox::{Fault, Faults, Rule};
    let app = TestApp::spawn().await;
    let mut dana = app.signed_in("dana", Role::Admin).await;
    let mut ivy = app.signed_in("ivy", Role::Auditor).await;

    // A verification with one wrong code first.
    dana.page("/verify").await;
    let r = dana
        .post(
            "/verify",
            &[
                ("number", "202-555-0143"),
                ("alias", "Front desk"),
                ("channel", "sms"),
                ("subaccount", ""),
            ],
        )
        .await;
    let path = location(&r);
    let (_, code_page) = dana.page(&path).await;
    let marker = "the code sent is <code>";
    let at = code_page.find(marker).expect("the sandbox shows the code") + marker.len();
    let code: String = code_page[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    dana.post(&format!("{path}/code"), &[("code", wrong)]).await;
    dana.post(&format!("{path}/code"), &[("code", &code)]).await;

    // A code Plivo could not send.
    app.sandbox().set_faults(Faults {
        rules: vec![Rule {
            count: 1,
            method: Some("POST".into()),
            path: None,
            fault: Fault::Status {
                status: 503,
                error: None,
            },
        }],
        ..Default::default()
    });
    dana.page("/verify").await;
    dana.post(
        "/verify",
        &[
            ("number", "+44 20 7946 0958"),
            ("alias", ""),
            ("channel", "call"),
            ("subaccount", ""),
        ],
    )
    .await;
    app.sandbox().set_faults(Faults::default());

    // A rename and a deletion, then a request that never had an answer.
    app.sync().await.unwrap();
    dana.page("/caller-ids/12025550143").await;
    dana.post(
        "/caller-ids/12025550143",
        &[("alias", "Reception"), ("subaccount", "")],
    )
    .await;
    dana.page("/caller-ids/12025550143").await;
    dana.post("/caller-ids/12025550143/delete", &[]).await;
    let mut request = NewEvent::new(
        Actor::user(1, "dana"),
        &RequestMeta::default(),
        Action::CallerIdDeleted,
        Outcome::Requested,
    );
    request.phone_number = Some("+12025550199".into());
    let mut tx = app.state.db.writer.begin().await.unwrap();
    audit::append(&mut tx, app.state.clock.now(), request)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.state.clock.advance(time::Duration::minutes(3));

    let (_, page) = ivy.page("/audit").await;
    let lines = lines(&page);
    let expected = [
        "dana sent a code by text message to +1 202-555-0143 “Front desk”",
        "dana entered a wrong code for +1 202-555-0143 “Front desk” (4 tries left)",
        "dana verified +1 202-555-0143 “Front desk” by text message (1 wrong code first)",
        "dana's phone call to +44 20 7946 0958 failed: Plivo had a fault of its own (HTTP 503)",
        "dana changed +1 202-555-0143: name “Front desk” → “Reception”",
        "dana deleted +1 202-555-0143 “Reception” at Plivo",
        "dana asked Plivo to delete +1 202-555-0199; no answer from Plivo was recorded",
    ];
    for sentence in expected {
        let found = lines.iter().filter(|l| l.starts_with(sentence)).count();
        assert_eq!(found, 1, "{sentence:?} in {lines:#?}");
    }
    // Requests with an answer have no line of their own; the one without says so.
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("waiting for Plivo") || l.contains("entered a code for")),
        "{lines:#?}"
    );
    assert_eq!(page.matches("Outcome unknown</span>").count(), 1, "{page}");
    // The events behind a line stay one click away, whole: the verified line's Details load its
    // request and outcome exactly as stored, with their hashes.
    let verified = page
        .split(r#"<li class="event"#)
        .find(|li| li.contains(r#"verified <span class="number">+1 202-555-0143</span>"#))
        .unwrap();
    assert!(
        verified.contains("The 2 events stored for this line, with their hashes"),
        "{verified}"
    );
    let marker = r#"hx-get="/audit/events/"#;
    let at = verified.find(marker).unwrap() + marker.len();
    let id: String = verified[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let (status, stored) = ivy.page(&format!("/audit/events/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        stored.contains("The 2 events stored for this line, exactly as stored")
            && stored.matches(r#"<code class="hash">"#).count() == 4
            && stored.contains("<code>verification_completed</code>")
            && stored.contains("<code>requested</code>")
            && stored.contains("Audit log"),
        "{stored}"
    );
    // Only people who may read the log see them.
    let mut olive = app.signed_in("olive", Role::Operator).await;
    let (status, _) = olive.page(&format!("/audit/events/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Details speak plainly: no raw browser string outside the stored events.
    assert!(
        !page.contains("Answers request") && !page.contains("<dt>Browser</dt><dd>Mozilla"),
        "{page}"
    );
}
