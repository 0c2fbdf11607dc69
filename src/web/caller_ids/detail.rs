//! `/caller-ids/{number}`: one caller ID, editing its name and subaccount, deleting it, and its
//! history. The edits themselves are `crate::caller_ids`, which changes Plivo first.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::CallerIdView;
use crate::{
    audit::{self, Who, describe},
    caller_ids::{CallerIdError, Edited, Refreshed},
    db::{
        caller_ids,
        subaccounts::{self, SubaccountNames},
    },
    domain::{Alias, Permission, PhoneNumber},
    plivo::parse_subaccount,
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        layout::{Chrome, Nav},
        session::notify,
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
    can_refresh: bool,
    alias_value: String,
    subaccount_value: String,
    /// The subaccounts to choose from; empty when none is known (an id is typed instead).
    subaccount_choices: Vec<(String, String)>,
    subaccount_hint: &'static str,
    alias_error: Option<String>,
    subaccount_error: Option<String>,
    /// Only main-account credentials may set a subaccount; otherwise the field is not shown.
    offer_subaccount: bool,
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
    let names = SubaccountNames::load(&state.db.reader).await?;
    // A subaccount can't be cleared through the API: "Main account" is offered only to a
    // number on the main account.
    let subaccount_choices = subaccounts::choices(&state.db.reader, &row.subaccount, false).await?;
    let subaccount_hint = match (subaccount_choices.is_empty(), row.subaccount.is_empty()) {
        (true, _) => {
            "Leave empty to keep the number on the main account. A number on a subaccount can be moved back to the main account only in Plivo's console."
        }
        (false, true) => "Move this number to a subaccount, or keep Main account.",
        (false, false) => {
            "Move this number to another subaccount. It can be moved back to the main account only in Plivo's console."
        }
    };
    Ok(ShowPage {
        chrome: Chrome::for_user(state, me, Nav::CallerIds).await?,
        alias_value: row.alias.clone(),
        subaccount_value: row.subaccount.clone(),
        subaccount_choices,
        subaccount_hint,
        caller: CallerIdView::new(now, &row).named(&names),
        history: crate::web::audit::EventList {
            matching: None,
            filtered: false,
            events: crate::web::audit::views(
                state,
                &mut *state.db.reader.acquire().await?,
                &history,
            )
            .await?,
            older: None,
            newest: None,
            empty_text: "Nothing has been recorded for this number yet.",
        },
        can_edit: !removed && me.role().can(Permission::EditCallerId),
        can_delete: !removed && me.role().can(Permission::DeleteCallerId),
        can_refresh: me.role().can(Permission::SyncNow),
        alias_error: None,
        subaccount_error: None,
        offer_subaccount: state.plivo.may_set_subaccounts(),
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
    current(&state, &number).await?;
    let alias = Alias::parse(&form.alias);
    // With sub-account credentials the subaccount is not ours to change: it stays as it is.
    let subaccount = if state.plivo.may_set_subaccounts() {
        parse_subaccount(&form.subaccount)
    } else {
        Ok(Some(current(&state, &number).await?.subaccount).filter(|s| !s.is_empty()))
    };
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
    let who = Who::new(me.actor(), meta);
    let edited = match state
        .caller_ids
        .update(&who, &number, &alias, &subaccount)
        .await
    {
        Err(refused @ CallerIdError::CannotClearSubaccount) => {
            let mut show = page(&state, &me, &number).await?;
            show.alias_value = alias.as_str().to_owned();
            show.subaccount_error = Some(refused.to_string());
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, show).into_response());
        }
        other => other.map_err(not_found)?,
    };
    match edited {
        Edited::Saved(changes) => {
            let said = if changes.as_object().is_some_and(serde_json::Map::is_empty) {
                "Plivo accepted the change but kept the details as they were; they are shown as Plivo has them.".to_owned()
            } else {
                let names = SubaccountNames::load(&state.db.reader).await?;
                format!("Saved. {}", describe::changes_sentences(&changes, &names))
            };
            notify(&me.session, said).await?;
            Ok(Redirect::to(&format!("/caller-ids/{}", number.digits())).into_response())
        }
        Edited::Unchanged => {
            notify(&me.session, "Nothing was changed.").await?;
            Ok(Redirect::to(&format!("/caller-ids/{}", number.digits())).into_response())
        }
        Edited::Refused(e) => {
            let mut show = page(&state, &me, &number).await?;
            show.alias_value = alias.as_str().to_owned();
            show.subaccount_value = subaccount;
            show.plivo_error = Some(format!("Nothing was changed. {}", e.full_message()));
            Ok(show.into_response())
        }
    }
}

/// `POST /caller-ids/{number}/refresh`: asks Plivo about this number now.
pub async fn refresh(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(raw): Path<String>,
) -> Result<Response, AppError> {
    me.require(Permission::SyncNow)?;
    let number = number_from_path(&raw)?;
    caller_ids::by_number(&state.db.reader, number.as_str())
        .await?
        .ok_or(AppError::NotFound)?;
    let who = Who::new(me.actor(), meta);
    let said = match state
        .caller_ids
        .refresh(&who, &number)
        .await
        .map_err(not_found)?
    {
        Refreshed::AtPlivo { changed: false } => {
            "Plivo confirms this number is a verified caller ID, as shown.".to_owned()
        }
        Refreshed::AtPlivo { changed: true } => {
            "Plivo had different details for this number; they are shown now, and the change is in the history.".to_owned()
        }
        Refreshed::Gone => {
            "Plivo no longer has this number as a caller ID, so it is marked removed.".to_owned()
        }
        Refreshed::Unknown(e) => format!("Nothing was changed. {}", e.full_message()),
    };
    notify(&me.session, said).await?;
    Ok(Redirect::to(&format!("/caller-ids/{}", number.digits())).into_response())
}

/// A caller ID that is not current is not found.
fn not_found(e: CallerIdError) -> AppError {
    match e {
        CallerIdError::NotFound => AppError::NotFound,
        CallerIdError::Database(e) => e.into(),
        refused @ CallerIdError::CannotClearSubaccount => AppError::BadRequest(refused.to_string()),
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
    let who = Who::new(me.actor(), meta);
    match state
        .caller_ids
        .delete(&who, &number)
        .await
        .map_err(not_found)?
    {
        Ok(row) => {
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
            let row = current(&state, &number).await?;
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
