//! The audit page (`/audit`, admins and auditors): the log newest first with filters kept in the
//! URL, keyset pages of 50, each event as a sentence with its details, the chain's status, and
//! exports of the current filter. The same event list shows a number's history.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    body::Body,
    extract::{Query, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::Value;
use sqlx::SqliteConnection;
use std::collections::HashMap;
use time::{Date, OffsetDateTime, macros::format_description};

use crate::{
    audit::{
        Action, ChainStatus, FullCheck, StoredEvent, Who,
        checkpoints::{self, Agreement},
        describe::{self, ShownOutcome},
        export::{self, Format},
        forward,
        query::{self, ActorFilter, Filter},
    },
    db::{subaccounts::SubaccountNames, users},
    domain::{Permission, PhoneNumber},
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        format::{self, When, thousands},
        htmx::{Htmx, PageOr},
        layout::{Chrome, Nav},
        session::notify,
        state::AppState,
    },
};

/// The actors that are not people, as recorded and as the person filter names them.
const NOT_PEOPLE: [(&str, &str); 3] = [
    ("system", "callerdesk itself (scheduled work)"),
    ("anonymous", "someone not signed in"),
    ("command line", "the command line"),
];

/// One line as the page shows it: an action with its outcome (a request and the outcome that
/// answers it are one line), with the events it stands for kept whole behind "Details".
#[derive(Debug, Clone)]
pub struct EventView {
    pub id: i64,
    pub when: When,
    pub actor: String,
    /// Whether the actor is a person (an account), not callerdesk itself, someone not signed in
    /// or the command line: those read as what they are, not as names.
    pub actor_is_person: bool,
    /// The actor is written as a possessive ("dana's text message … failed").
    pub possessive: bool,
    /// The sentence after the actor, in pieces, `true` for the phone number (kept on one line).
    pub pieces: Vec<(bool, String)>,
    /// `succeeded`, `failed`, `requested` or `unknown`.
    pub outcome: &'static str,
    pub outcome_label: &'static str,
    pub number_link: Option<String>,
    /// The facts in words.
    pub details: Vec<(&'static str, String)>,
    /// How many stored events this line stands for (2: a request and its answer); they are
    /// shown by [`stored`], when "Details" is opened.
    pub stored: usize,
}

/// One stored event exactly as it is in the log.
#[derive(Debug, Clone)]
pub struct RecordedView {
    pub id: i64,
    pub fields: Vec<(&'static str, String)>,
    pub hash: String,
    pub prev_hash: String,
}

impl RecordedView {
    fn of(e: &StoredEvent) -> Self {
        let mut fields = vec![
            ("occurred_at", e.occurred_at.clone()),
            (
                "actor",
                match e.actor_id {
                    Some(id) => format!("{} (user {id})", e.actor_name),
                    None => e.actor_name.clone(),
                },
            ),
            ("action", e.action.clone()),
            ("outcome", e.outcome.clone()),
        ];
        for (name, value) in [
            ("phone_number", &e.phone_number),
            ("verification_id", &e.verification_id),
            ("client_ip", &e.client_ip),
            ("user_agent", &e.user_agent),
            ("request_id", &e.request_id),
            ("plivo_api_id", &e.plivo_api_id),
            ("details", &e.details),
        ] {
            if let Some(v) = value {
                fields.push((name, v.clone()));
            }
        }
        if let Some(status) = e.plivo_status {
            fields.push(("plivo_status", status.to_string()));
        }
        Self {
            id: e.id,
            fields,
            hash: e.hash.clone(),
            prev_hash: e.prev_hash.clone(),
        }
    }
}

/// What the lines of a page need besides their own events.
struct Known {
    verifications: HashMap<String, Vec<query::VerificationStep>>,
    names: SubaccountNames,
}

fn parsed_details(e: &StoredEvent) -> Option<Value> {
    e.details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
}

fn request_of(details: Option<&Value>) -> Option<i64> {
    details?.get("request")?.as_i64()
}

impl EventView {
    fn new(now: OffsetDateTime, e: &StoredEvent, known: &Known) -> Self {
        let number = e
            .phone_number
            .as_deref()
            .and_then(|n| PhoneNumber::from_e164(n).ok());
        let parsed = parsed_details(e);
        let answers_a_request = request_of(parsed.as_ref()).is_some();
        let text = |key: &str| {
            parsed
                .as_ref()
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let shown = ShownOutcome::of(e, now);
        let display = number.as_ref().map(PhoneNumber::international);
        let context = describe::Context {
            verification: e
                .verification_id
                .as_ref()
                .and_then(|v| known.verifications.get(v))
                .map_or(&[], Vec::as_slice),
            number: display.as_deref(),
            shown,
        };
        let names = &known.names;
        let mut details: Vec<(&'static str, String)> = Vec::new();
        let mut add = |label: &'static str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                details.push((label, v));
            }
        };
        // An outcome carries its request's address and browser (they are one person's step).
        add("From the address", e.client_ip.clone());
        add("Browser", e.user_agent.as_deref().map(describe::browser));
        if shown == ShownOutcome::Failed {
            add(
                "Plivo said",
                text("error").map(|error| match e.plivo_status {
                    Some(status) => format!("{error} (HTTP {status})"),
                    None => error,
                }),
            );
        }
        add("Plivo's reference", e.plivo_api_id.clone());
        add(
            "Changes",
            parsed
                .as_ref()
                .and_then(|d| d.get("changes"))
                .map(|c| describe::changes_text(c, names)),
        );
        add(
            "Subaccount",
            text("subaccount").map(|s| match names.name(&s) {
                Some(name) => format!("{name} ({s})"),
                None => s,
            }),
        );
        add(
            "Name tried",
            text("username").filter(|_| e.action.starts_with("sign_in") && e.actor_id.is_none()),
        );
        add("Verification reference", e.verification_id.clone());
        let sentence = describe::sentence(e, parsed.as_ref(), context, names);
        Self {
            id: e.id,
            when: When::from_stored(now, &e.occurred_at)
                .unwrap_or_else(|| When::from_time(now, now)),
            actor: match e.actor_id {
                Some(_) => e.actor_name.clone(),
                None => match e.actor_name.as_str() {
                    "system" => "callerdesk, on its own,".to_owned(),
                    "anonymous" => "Someone not signed in".to_owned(),
                    "command line" => "An administrator at the command line".to_owned(),
                    other => other.to_owned(),
                },
            },
            actor_is_person: e.actor_id.is_some(),
            pieces: pieces(&sentence.text, display.as_deref()),
            possessive: sentence.possessive,
            outcome: shown.as_str(),
            outcome_label: shown.label(),
            number_link: number.map(|n| n.digits().to_owned()),
            details,
            stored: 1 + usize::from(answers_a_request),
        }
    }
}

/// `text` split around each `number` in it, the number's pieces marked `true`.
fn pieces(text: &str, number: Option<&str>) -> Vec<(bool, String)> {
    let Some(number) = number.filter(|n| !n.is_empty()) else {
        return vec![(false, text.to_owned())];
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(number) {
        out.push((false, rest[..at].to_owned()));
        out.push((true, number.to_owned()));
        rest = &rest[at + number.len()..];
    }
    out.push((false, rest.to_owned()));
    out.retain(|(is_number, piece)| *is_number || !piece.is_empty());
    out
}

/// Lines for a list of events (answered requests already left out:
/// [`query::without_answered_requests`]): "outcome unknown" worked out, verifications worded
/// from their other steps.
pub async fn views(
    state: &AppState,
    db: &mut SqliteConnection,
    events: &[StoredEvent],
) -> Result<Vec<EventView>, AppError> {
    // The lines that need their verification's other steps: all but a first send, which
    // carries the name and the channel itself.
    let mut verification_ids: Vec<String> = events
        .iter()
        .filter(|e| {
            Action::parse(&e.action).is_some_and(|a| match a {
                Action::VerificationStarted => parsed_details(e)
                    .and_then(|d| d.get("resend").and_then(Value::as_bool))
                    .unwrap_or(false),
                Action::VerificationCompleted
                | Action::VerificationCodeRejected
                | Action::VerificationExpired
                | Action::VerificationCancelled => true,
                _ => false,
            })
        })
        .filter_map(|e| e.verification_id.clone())
        .collect();
    verification_ids.sort_unstable();
    verification_ids.dedup();
    let mut verifications: HashMap<String, Vec<query::VerificationStep>> = HashMap::new();
    for step in query::verification_steps(&mut *db, &verification_ids).await? {
        verifications
            .entry(step.verification_id.clone())
            .or_default()
            .push(step);
    }
    // On the same connection: a second one from the pool while holding this one can wait
    // forever when every request in flight does the same.
    let names = SubaccountNames::load(&mut *db).await?;
    let known = Known {
        verifications,
        names,
    };
    let now = state.clock.now();
    Ok(events
        .iter()
        .map(|e| EventView::new(now, e, &known))
        .collect())
}

/// The event list fragment (the audit page's results, a number's history).
#[derive(Template, WebTemplate)]
#[template(path = "audit/events_partial.html")]
pub struct EventList {
    /// How many events the filters match, in a sentence (the audit page only).
    pub matching: Option<String>,
    /// Whether any filter is set, for the "Clear filters" link.
    pub filtered: bool,
    pub events: Vec<EventView>,
    /// The query string of the next (older) page, if there is one.
    pub older: Option<String>,
    pub newest: Option<String>,
    pub empty_text: &'static str,
}

/// The audit page's query string, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditParams {
    #[serde(default)]
    pub person: String,
    #[serde(default)]
    pub number: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub before: String,
}

fn date(s: &str) -> Option<Date> {
    Date::parse(s.trim(), format_description!("[year]-[month]-[day]")).ok()
}

impl AuditParams {
    /// The filter, or a sentence about the number if it could not be read.
    fn filter(&self, default_country: &str) -> (Filter, Option<String>) {
        let keep = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let (number, number_error) = match keep(&self.number) {
            None => (None, None),
            Some(raw) => match PhoneNumber::parse_input(&raw, default_country) {
                Ok(n) => (Some(n.as_str().to_owned()), None),
                Err(e) => (None, Some(format!("{e} The number filter was left out."))),
            },
        };
        let action = keep(&self.action).filter(|a| Action::ALL.iter().any(|x| x.as_str() == a));
        let outcome = keep(&self.outcome)
            .filter(|o| ["requested", "succeeded", "failed"].contains(&o.as_str()));
        let actor = keep(&self.person).and_then(|p| match p.parse::<i64>() {
            Ok(id) => Some(ActorFilter::Person(id)),
            Err(_) => NOT_PEOPLE
                .iter()
                .any(|(name, _)| *name == p)
                .then_some(ActorFilter::NotAPerson(p)),
        });
        let filter = Filter {
            actor,
            number,
            action,
            outcome,
            since: date(&self.from).map(|d| d.midnight().assume_utc()),
            until: date(&self.to)
                .and_then(|d| d.next_day())
                .map(|d| d.midnight().assume_utc()),
        };
        (filter, number_error)
    }

    /// This query string, with `before` replaced.
    pub fn query(&self, before: Option<i64>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("person", &self.person),
            ("number", &self.number),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.trim().is_empty() {
                q.append_pair(key, value.trim());
            }
        }
        if let Some(before) = before {
            q.append_pair("before", &before.to_string());
        }
        q.finish()
    }
}

/// The chain's status line, the last full check, and the evidence outside the chain.
#[derive(Debug, Clone)]
pub struct ChainView {
    pub intact: Option<bool>,
    pub text: String,
    pub checked: Option<When>,
    /// What the last check from the first event found, and when it ran.
    pub full: Option<(String, When)>,
    /// The append-only triggers are gone: said in words, with what to do.
    pub unguarded: Option<String>,
    /// The latest signed checkpoint and whether the log agrees with it (`true`), when
    /// checkpoints are configured.
    pub checkpoint: Option<(bool, String)>,
    /// Each forwarding destination's state, and whether it is in time (`true`).
    pub forwarding: Vec<(bool, String)>,
}

/// How far each destination of forwarded events has got, in a sentence each.
async fn forwarding_view(state: &AppState) -> Result<Vec<(bool, String)>, AppError> {
    let now = state.clock.now();
    let mut lines = Vec::new();
    for destination in &state.settings.forward {
        let p = forward::progress(&state.db.reader, destination).await?;
        let taken = p.last_taken_at.as_deref().map_or_else(
            || "it has taken none yet".to_owned(),
            |at| format!("it last took one at {}", shown_time(at)),
        );
        lines.push(if p.is_late(now) {
            (
                false,
                format!(
                    "{} events have waited more than 5 minutes for {} (the oldest since {}; {taken}). Check that the receiver is running and reachable: the events are kept and are sent as soon as it is.",
                    thousands(p.waiting),
                    p.destination,
                    p.oldest_waiting.as_deref().map(shown_time).unwrap_or_default()
                ),
            )
        } else if p.waiting > 0 {
            (
                true,
                format!(
                    "Forwarding to {}: {} events on their way; {taken}.",
                    p.destination,
                    thousands(p.waiting)
                ),
            )
        } else {
            (
                true,
                format!("Forwarding to {}: every event taken; {taken}.", p.destination),
            )
        });
    }
    Ok(lines)
}

/// A stored time as the page shows times ("2 Dec 2026, 10:15:00 UTC").
fn shown_time(stored: &str) -> String {
    crate::db::parse_timestamp(stored).map_or_else(|| stored.to_owned(), format::exact_seconds)
}

fn events_text(events: u64) -> String {
    thousands(i64::try_from(events).unwrap_or(i64::MAX))
}

/// The latest checkpoint in the checkpoint file (the copy that counts), checked against the
/// log: its signature, and its event's hash.
async fn checkpoint_view(
    state: &AppState,
    db: &mut SqliteConnection,
) -> Result<Option<(bool, String)>, AppError> {
    let Some(checkpointer) = &state.settings.checkpoints else {
        return Ok(None);
    };
    let file = checkpointer.file.clone();
    let last = tokio::task::spawn_blocking(move || checkpoints::last_in_file(&file))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("reading the checkpoint file: {e}")))?;
    Ok(Some(match last {
        Err(e) => (
            false,
            format!(
                "The signed checkpoints can't be checked: {e}. Check that the checkpoint file's storage is mounted."
            ),
        ),
        Ok(None) => (
            true,
            "No signed checkpoint yet: one is made once events are added.".to_owned(),
        ),
        Ok(Some(latest)) => {
            let said = format!(
                "Latest signed checkpoint: event {}, made {}",
                thousands(latest.event_id),
                shown_time(&latest.made_at)
            );
            let placed = [(
                format!("the last line of {}", checkpointer.file.display()),
                latest,
            )];
            match checkpoints::check(&mut *db, &placed, checkpointer.key.public()).await? {
                Agreement::Agrees { .. } => (true, format!("{said}; the log agrees with it.")),
                Agreement::Contradicts(why) => (
                    false,
                    format!(
                        "{said}. {why} Compare the log with a backup and the checkpoint file before trusting it."
                    ),
                ),
            }
        }
    }))
}

async fn chain_view(state: &AppState, db: &mut SqliteConnection) -> Result<ChainView, AppError> {
    let now = state.clock.now();
    let (full, unguarded) = match state.chain.last_full().await {
        None => (None, None),
        Some(FullCheck { checked, missing }) => {
            let found = match checked.status {
                ChainStatus::Intact { events } => {
                    format!("when it held {} events: intact", events_text(events))
                }
                ChainStatus::Broken { event_id, .. } => format!("broken at event {event_id}"),
            };
            let unguarded = (!missing.is_empty()).then(|| {
                format!(
                    "The database no longer refuses changes to the audit log: its guard{} {} {} removed, which only someone with write access to the database file can do. Restore the database from a backup that checks out, and compare it with the signed checkpoints.",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(" and "),
                    if missing.len() > 1 { "were" } else { "was" }
                )
            });
            (Some((found, When::from_time(now, checked.at))), unguarded)
        }
    };
    let checkpoint = checkpoint_view(state, &mut *db).await?;
    let mut view = match state.chain.refresh(&mut *db, now).await? {
        None => ChainView {
            intact: None,
            text: "The chain is being checked; reload in a moment.".into(),
            checked: None,
            full: None,
            unguarded: None,
            checkpoint: None,
            forwarding: Vec::new(),
        },
        Some(checked) => match checked.status {
            ChainStatus::Intact { events } => ChainView {
                intact: Some(true),
                text: format!("Intact: {} events", events_text(events)),
                checked: Some(When::from_time(now, checked.at)),
                full: None,
                unguarded: None,
                checkpoint: None,
                forwarding: Vec::new(),
            },
            ChainStatus::Broken { event_id, reason } => ChainView {
                intact: Some(false),
                text: format!(
                    "Broken at event {event_id}: {reason}. Events from there on cannot be trusted."
                ),
                checked: Some(When::from_time(now, checked.at)),
                full: None,
                unguarded: None,
                checkpoint: None,
                forwarding: Vec::new(),
            },
        },
    };
    view.full = full;
    view.unguarded = unguarded;
    view.checkpoint = checkpoint;
    view.forwarding = forwarding_view(state).await?;
    Ok(view)
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/page.html")]
pub struct AuditPage {
    chrome: Chrome,
    params: AuditParams,
    /// The person filter's choices: (value, label).
    people: Vec<(String, String)>,
    actions: Vec<(&'static str, &'static str)>,
    number_error: Option<String>,
    chain: ChainView,
    list: EventList,
    export_query: String,
}

async fn event_list(
    state: &AppState,
    db: &mut SqliteConnection,
    params: &AuditParams,
    filter: &Filter,
) -> Result<EventList, AppError> {
    let before = params.before.trim().parse::<i64>().ok();
    let (events, older) = query::page(db, filter, before).await?;
    let older = older.map(|id| params.query(Some(id)));
    let filtered = *filter != Filter::default();
    let matching = Some(match query::count(db, filter).await? {
        Some(n) if !filtered => format!(
            "All {} recorded events, newest first (a request to Plivo and its answer share a line).",
            thousands(n)
        ),
        Some(0) => "No events match these filters.".to_owned(),
        Some(1) => "1 recorded event matches these filters.".to_owned(),
        Some(n) => format!(
            "{} recorded events match these filters (a request to Plivo and its answer share a line).",
            thousands(n)
        ),
        None => format!(
            "More than {} recorded events match these filters; narrow them to count.",
            thousands(query::COUNT_CAP)
        ),
    });
    Ok(EventList {
        matching,
        filtered,
        events: views(state, db, &events).await?,
        older,
        newest: before.map(|_| params.query(None)),
        empty_text: "No events match these filters.",
    })
}

/// `GET /audit`
pub async fn show(
    State(state): State<AppState>,
    me: CurrentUser,
    htmx: Htmx,
    Query(params): Query<AuditParams>,
) -> Result<Response, AppError> {
    me.require(Permission::ReadAudit)?;
    let (filter, number_error) = params.filter(&state.settings.default_country);
    // One connection for the page's queries, as on the list page.
    let mut db = state.db.reader.acquire().await?;
    let list = event_list(&state, &mut db, &params, &filter).await?;
    if htmx.wants("events") {
        // The connection goes back to the pool before the page is rendered.
        drop(db);
        return Ok(PageOr::<AuditPage, _>::Fragment(list).into_response());
    }
    {
        let mut people: Vec<(String, String)> = users::list(&mut *db)
            .await?
            .into_iter()
            .map(|u| (u.id.to_string(), u.username))
            .collect();
        people.extend(
            NOT_PEOPLE
                .iter()
                .map(|(value, label)| ((*value).to_owned(), (*label).to_owned())),
        );
        let chain = chain_view(&state, &mut db).await?;
        drop(db);
        Ok(PageOr::<_, EventList>::Page(AuditPage {
            chrome: Chrome::for_user(&state, &me, Nav::Audit).await?,
            export_query: params.query(None),
            people,
            actions: Action::ALL
                .iter()
                .map(|a| (a.as_str(), a.label()))
                .collect(),
            number_error,
            chain,
            list,
            params,
        })
        .into_response())
    }
}

/// The stored events behind one line, field by field with their hashes.
#[derive(Template, WebTemplate)]
#[template(path = "audit/stored_partial.html")]
pub struct StoredList {
    events: Vec<RecordedView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/stored.html")]
pub struct StoredPage {
    chrome: Chrome,
    id: i64,
    list: StoredList,
}

/// `GET /audit/events/{id}`: the stored events behind the line of event `id` (the event, and
/// the request it answers if it is an outcome), exactly as stored. htmx asks for it when a
/// line's "Details" opens; without JavaScript it is a page of its own.
pub async fn stored(
    State(state): State<AppState>,
    me: CurrentUser,
    htmx: Htmx,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, AppError> {
    me.require(Permission::ReadAudit)?;
    let mut db = state.db.reader.acquire().await?;
    let Some(event) = query::by_ids(&mut db, &[id]).await?.pop() else {
        return Err(AppError::NotFound);
    };
    let mut events = match request_of(parsed_details(&event).as_ref()) {
        Some(request) => query::by_ids(&mut db, &[request]).await?,
        None => Vec::new(),
    };
    drop(db);
    events.push(event);
    let list = StoredList {
        events: events.iter().map(RecordedView::of).collect(),
    };
    if htmx.request && !htmx.history_restore {
        return Ok(PageOr::<StoredPage, _>::Fragment(list).into_response());
    }
    Ok(PageOr::<_, StoredList>::Page(StoredPage {
        chrome: Chrome::for_user(&state, &me, Nav::Audit).await?,
        id,
        list,
    })
    .into_response())
}

/// `POST /audit/verify`: checks the whole chain now.
pub async fn verify(State(state): State<AppState>, me: CurrentUser) -> Result<Response, AppError> {
    me.require(Permission::ReadAudit)?;
    let checked = state
        .chain
        .full(&state.db.reader, state.clock.now())
        .await?;
    let message = match checked.status {
        ChainStatus::Intact { events } => format!(
            "Checked every event from the first: the chain is intact ({} events).",
            thousands(i64::try_from(events).unwrap_or(i64::MAX))
        ),
        ChainStatus::Broken { event_id, .. } => {
            format!("Checked every event: the chain is broken at event {event_id}.")
        }
    };
    notify(&me.session, message).await?;
    Ok(Redirect::to("/audit").into_response())
}

#[derive(Debug, Deserialize)]
pub struct ExportParams {
    #[serde(flatten)]
    params: AuditParams,
    #[serde(default)]
    format: String,
}

/// `GET /audit/export?format=csv|jsonl&…filters`: streamed; the export is itself an event.
pub async fn export(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Query(query): Query<ExportParams>,
) -> Result<Response, AppError> {
    me.require(Permission::ReadAudit)?;
    let format = Format::parse(&query.format).unwrap_or(Format::Csv);
    let (filter, _) = query.params.filter(&state.settings.default_country);
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let who = Who::new(me.actor(), meta);
    let (db, clock) = (state.db.clone(), state.clock.clone());
    state.tasks.spawn(async move {
        let sent = export::export_recorded(&db, &who, &clock, &filter, format, |chunk| {
            let tx = tx.clone();
            async move { tx.send(chunk).await.is_ok() }
        })
        .await;
        if let Err(e) = sent {
            tracing::error!(error = %e, "audit export failed");
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    }));
    let stamp = state
        .clock
        .now()
        .format(format_description!("[year][month][day]-[hour][minute]"))
        .unwrap_or_default();
    let disposition = format!(
        "attachment; filename=\"callerdesk-audit-{stamp}.{}\"",
        format.extension()
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response())
}
