//! `/caller-ids/{number}`: one caller ID, editing its name and subaccount, deleting it, and its
//! history. Edits and deletes change Plivo first, fail-closed: a `requested` event is committed,
//! then Plivo is called (no transaction held), then the outcome event and the cache change are
//! committed together. If Plivo says no, the cache stays as it was.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::CallerIdView;
use crate::{
    audit::{self, Action, NewEvent, Outcome, RequestMeta, describe},
    db::{caller_ids, timestamp},
    domain::{Alias, Permission, PhoneNumber},
    plivo::{PlivoError, Update, parse_subaccount},
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        layout::{Chrome, Nav, notify},
        state::AppState,
    },
};

#[derive(Template, WebTemplate)]
#[template(path = "caller_ids/show.html")]
pub struct ShowPage {
    chrome: Chrome,
    caller: CallerIdView,
    history: crate::web::audit::EventList,
    can_edit: bool,
    can_delete: bool,
    alias_value: String,
    subaccount_value: String,
    alias_error: Option<String>,
    subaccount_error: Option<String>,
    /// What Plivo said when an edit failed, in plain words.
    plivo_error: Option<String>,
}

/// The cached caller ID for `number`, if it is current (not removed); otherwise 404.
async fn current(
    state: &AppState,
    number: &PhoneNumber,
) -> Result<caller_ids::CachedCallerId, AppError> {
    caller_ids::by_number(&state.db.reader, number.as_str())
        .await?
        .filter(|r| r.removed_at.is_none())
        .ok_or(AppError::NotFound)
}

/// The number in the path: digits, `+digits` or `%2Bdigits`.
fn number_from_path(raw: &str) -> Result<PhoneNumber, AppError> {
    PhoneNumber::from_path(raw).map_err(|_| AppError::NotFound)
}

async fn page(
    state: &AppState,
    me: &CurrentUser,
    number: &PhoneNumber,
) -> Result<ShowPage, AppError> {
    let row = caller_ids::by_number(&state.db.reader, number.as_str())
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let history = audit::for_number(&state.db.reader, number.as_str(), 200).await?;
    let removed = row.removed_at.is_some();
    Ok(ShowPage {
        chrome: Chrome::for_user(state, me, Nav::CallerIds).await?,
        alias_value: row.alias.clone(),
        subaccount_value: row.subaccount.clone(),
        caller: CallerIdView::new(now, &row),
        history: crate::web::audit::EventList {
            events: crate::web::audit::views(state, &state.db.reader, &history).await?,
            older: None,
            newest: None,
            empty_text: "Nothing has been recorded for this number yet.",
        },
        can_edit: !removed && me.role().can(Permission::EditCallerId),
        can_delete: !removed && me.role().can(Permission::DeleteCallerId),
        alias_error: None,
        subaccount_error: None,
        plivo_error: None,
    })
}

/// `GET /caller-ids/{number}`
pub async fn show(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(raw): Path<String>,
) -> Result<ShowPage, AppError> {
    me.require(Permission::ViewCallerIds)?;
    page(&state, &me, &number_from_path(&raw)?).await
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    alias: String,
    #[serde(default)]
    subaccount: String,
}

/// A change sent to Plivo: what, to which number, and the `requested` event it answers.
struct Attempt<'a> {
    action: Action,
    number: &'a PhoneNumber,
    request: i64,
    details: serde_json::Value,
}

/// Records a Plivo failure as the outcome event.
async fn record_failure(
    state: &AppState,
    me: &CurrentUser,
    meta: &RequestMeta,
    attempt: Attempt<'_>,
    e: &PlivoError,
) -> Result<(), AppError> {
    let Attempt {
        action,
        number,
        request,
        mut details,
    } = attempt;
    if let Some(map) = details.as_object_mut() {
        map.insert(
            "error".into(),
            json!(e.plivo_error().map_or_else(|| e.to_string(), str::to_owned)),
        );
    }
    let mut tx = state.db.writer.begin().await?;
    audit::append(
        &mut tx,
        state.clock.now(),
        NewEvent::new(me.actor(), meta, action, Outcome::Failed)
            .with_number(number.as_str())
            .with_plivo(e.api_id(), e.status())
            .with_details(details)
            .with_request(request),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Commits the `requested` event before anything is sent to Plivo.
async fn record_request(
    state: &AppState,
    me: &CurrentUser,
    meta: &RequestMeta,
    action: Action,
    number: &PhoneNumber,
    details: &serde_json::Value,
) -> Result<i64, AppError> {
    let mut tx = state.db.writer.begin().await?;
    let event = audit::append(
        &mut tx,
        state.clock.now(),
        NewEvent::new(me.actor(), meta, action, Outcome::Requested)
            .with_number(number.as_str())
            .with_details(details.clone()),
    )
    .await?;
    tx.commit().await?;
    Ok(event.id)
}

/// `POST /caller-ids/{number}`: change the name and/or subaccount.
pub async fn update(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(raw): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, AppError> {
    me.require(Permission::EditCallerId)?;
    let number = number_from_path(&raw)?;
    let row = current(&state, &number).await?;
    let alias = Alias::parse(&form.alias);
    let subaccount = parse_subaccount(&form.subaccount);
    let (alias, subaccount) = match (alias, subaccount) {
        (Ok(a), Ok(s)) => (a, s.unwrap_or_default()),
        (a, s) => {
            let mut show = page(&state, &me, &number).await?;
            show.alias_value = form.alias.chars().take(200).collect();
            show.subaccount_value = form.subaccount.chars().take(40).collect();
            show.alias_error = a.err().map(|e| e.to_string());
            show.subaccount_error = s.err().map(str::to_owned);
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, show).into_response());
        }
    };
    let mut changes = serde_json::Map::new();
    if alias.as_str() != row.alias {
        changes.insert("alias".into(), json!([row.alias, alias.as_str()]));
    }
    if subaccount != row.subaccount {
        changes.insert("subaccount".into(), json!([row.subaccount, subaccount]));
    }
    if changes.is_empty() {
        notify(&me.session, "Nothing was changed.").await?;
        return Ok(Redirect::to(&format!("/caller-ids/{}", number.digits())).into_response());
    }
    let details = json!({ "changes": changes });
    let request = record_request(
        &state,
        &me,
        &meta,
        Action::CallerIdUpdated,
        &number,
        &details,
    )
    .await?;

    let update = Update {
        alias: changes
            .contains_key("alias")
            .then(|| alias.as_str().to_owned()),
        subaccount: changes
            .contains_key("subaccount")
            .then(|| subaccount.clone()),
    };
    match state.plivo.update(&number, &update).await {
        Ok(updated) => {
            let mut tx = state.db.writer.begin().await?;
            caller_ids::update_fields(
                &mut tx,
                number.as_str(),
                alias.as_str(),
                &subaccount,
                &timestamp(state.clock.now()),
            )
            .await?;
            audit::append(
                &mut tx,
                state.clock.now(),
                NewEvent::new(
                    me.actor(),
                    &meta,
                    Action::CallerIdUpdated,
                    Outcome::Succeeded,
                )
                .with_number(number.as_str())
                .with_plivo(updated.api_id.as_deref(), None)
                .with_details(details)
                .with_request(request),
            )
            .await?;
            tx.commit().await?;
            notify(
                &me.session,
                format!("Saved. {}", describe::changes_text(&json!(changes))),
            )
            .await?;
            Ok(Redirect::to(&format!("/caller-ids/{}", number.digits())).into_response())
        }
        Err(e) => {
            tracing::warn!(error = %e, number = %number, "Plivo refused a caller ID update");
            record_failure(
                &state,
                &me,
                &meta,
                Attempt {
                    action: Action::CallerIdUpdated,
                    number: &number,
                    request,
                    details,
                },
                &e,
            )
            .await?;
            let mut show = page(&state, &me, &number).await?;
            show.alias_value = alias.as_str().to_owned();
            show.subaccount_value = subaccount;
            show.plivo_error = Some(format!("Nothing was changed. {}", e.full_message()));
            Ok(show.into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "caller_ids/confirm_delete.html")]
pub struct ConfirmDeletePage {
    chrome: Chrome,
    caller: CallerIdView,
    plivo_error: Option<String>,
}

/// `GET /caller-ids/{number}/delete`: asks first, naming the number.
pub async fn confirm_delete(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(raw): Path<String>,
) -> Result<ConfirmDeletePage, AppError> {
    me.require(Permission::DeleteCallerId)?;
    let number = number_from_path(&raw)?;
    let row = current(&state, &number).await?;
    Ok(ConfirmDeletePage {
        chrome: Chrome::for_user(&state, &me, Nav::CallerIds).await?,
        caller: CallerIdView::new(state.clock.now(), &row),
        plivo_error: None,
    })
}

/// `POST /caller-ids/{number}/delete`
pub async fn delete(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    me.require(Permission::DeleteCallerId)?;
    let number = number_from_path(&raw)?;
    let row = current(&state, &number).await?;
    let details = json!({ "alias": row.alias });
    let request = record_request(
        &state,
        &me,
        &meta,
        Action::CallerIdDeleted,
        &number,
        &details,
    )
    .await?;
    match state.plivo.delete(&number).await {
        Ok(()) => {
            let now = state.clock.now();
            let mut tx = state.db.writer.begin().await?;
            caller_ids::mark_removed(&mut tx, number.as_str(), &timestamp(now)).await?;
            audit::append(
                &mut tx,
                now,
                NewEvent::new(
                    me.actor(),
                    &meta,
                    Action::CallerIdDeleted,
                    Outcome::Succeeded,
                )
                .with_number(number.as_str())
                .with_details(details)
                .with_request(request),
            )
            .await?;
            tx.commit().await?;
            let name = if row.alias.is_empty() {
                String::new()
            } else {
                format!(" ({})", row.alias)
            };
            notify(
                &me.session,
                format!(
                    "Deleted {}{name}. It is no longer a caller ID at Plivo.",
                    number.international()
                ),
            )
            .await?;
            Ok(Redirect::to("/").into_response())
        }
        Err(e) => {
            tracing::warn!(error = %e, number = %number, "Plivo refused a caller ID delete");
            record_failure(
                &state,
                &me,
                &meta,
                Attempt {
                    action: Action::CallerIdDeleted,
                    number: &number,
                    request,
                    details,
                },
                &e,
            )
            .await?;
            Ok(ConfirmDeletePage {
                chrome: Chrome::for_user(&state, &me, Nav::CallerIds).await?,
                caller: CallerIdView::new(state.clock.now(), &row),
                plivo_error: Some(format!(
                    "The caller ID was not deleted. {}",
                    e.full_message()
                )),
            }
            .into_response())
        }
    }
}
