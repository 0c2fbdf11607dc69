//! The "Verify a number" form, its live preview of the number, and starting.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::{
    db::{caller_ids, subaccounts},
    domain::{Alias, Permission, PhoneNumber, countries, known_country},
    plivo::{Channel, parse_subaccount},
    verify::{Request, VerifyError},
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        htmx::{self},
        layout::{Chrome, Nav},
        state::AppState,
    },
};

use super::person;

/// What the number field says about what was typed.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    /// "+1 202-555-1234, the United States"
    pub shown: Option<String>,
    pub error: Option<String>,
    /// Already a caller ID: its page.
    pub existing: Option<(String, String)>,
}

/// The country a number typed without `+` is read in: the one chosen, if it is one.
fn country_of<'a>(state: &'a AppState, chosen: &'a str) -> &'a str {
    known_country(chosen, &state.settings.default_country)
}

async fn preview_of(
    state: &AppState,
    raw: &str,
    country: &str,
) -> Result<(Preview, Option<PhoneNumber>), AppError> {
    if raw.trim().is_empty() {
        return Ok((Preview::default(), None));
    }
    match PhoneNumber::parse_input(raw, country_of(state, country)) {
        Ok(number) => {
            let existing = caller_ids::by_number(&state.db.reader, number.as_str())
                .await?
                .filter(|c| c.removed_at.is_none())
                .map(|c| (number.digits().to_owned(), c.alias));
            Ok((
                Preview {
                    shown: Some(number.preview()),
                    error: None,
                    existing,
                },
                Some(number),
            ))
        }
        Err(e) => Ok((
            Preview {
                shown: None,
                error: Some(e.to_string()),
                existing: None,
            },
            None,
        )),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "verify/preview_partial.html")]
pub struct PreviewPartial {
    preview: Preview,
}

#[derive(Template, WebTemplate)]
#[template(path = "verify/start.html")]
pub struct StartPage {
    chrome: Chrome,
    number: String,
    /// The country chosen for a number typed without `+`, and the choices.
    country: String,
    countries: &'static [(String, String)],
    alias: String,
    channel: String,
    subaccount_value: String,
    /// The subaccounts to choose from; empty when none is known (an id is typed instead).
    subaccount_choices: Vec<(String, String)>,
    subaccount_hint: &'static str,
    preview: PreviewPartial,
    alias_error: Option<String>,
    subaccount_error: Option<String>,
    /// Only main-account credentials may set a subaccount; otherwise the field is not shown.
    offer_subaccount: bool,
    /// A refusal that concerns the whole form (a limit).
    form_error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    subaccount: String,
}

/// `GET /verify` (fields may be prefilled from the query, as "Start again" does).
pub async fn form(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(prefill): Query<StartForm>,
) -> Result<StartPage, AppError> {
    me.require(Permission::Verify)?;
    let (preview, _) = preview_of(&state, &prefill.number, &prefill.country).await?;
    let choices = subaccounts::choices(&state.db.reader, "", true).await?;
    Ok(StartPage {
        chrome: Chrome::for_user(&state, &me, Nav::Verify).await?,
        number: prefill.number.chars().take(40).collect(),
        country: country_of(&state, &prefill.country).to_owned(),
        countries: countries(),
        alias: prefill.alias.chars().take(64).collect(),
        channel: if prefill.channel == "call" {
            "call".into()
        } else {
            "sms".into()
        },
        subaccount_value: prefill.subaccount.chars().take(20).collect(),
        subaccount_choices: choices.clone(),
        subaccount_hint: hint(&choices),
        preview: PreviewPartial { preview },
        alias_error: None,
        subaccount_error: None,
        offer_subaccount: state.plivo.may_set_subaccounts(),
        form_error: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    #[serde(default)]
    number: String,
    #[serde(default)]
    country: String,
}

/// `GET /verify/preview?number=…`: the number as it will be verified, or what is wrong with it.
pub async fn preview(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, AppError> {
    me.require(Permission::Verify)?;
    let (preview, _) = preview_of(&state, &q.number, &q.country).await?;
    Ok(htmx::varies(PreviewPartial { preview }.into_response()))
}

/// `POST /verify`: checks everything, then starts; lands on the code page.
pub async fn start(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Form(form): Form<StartForm>,
) -> Result<Response, AppError> {
    me.require(Permission::Verify)?;
    let (preview, number) = preview_of(&state, &form.number, &form.country).await?;
    let preview = if form.number.trim().is_empty() {
        Preview {
            error: Some("Enter the phone number to verify.".into()),
            ..preview
        }
    } else {
        preview
    };
    let alias = Alias::parse(&form.alias);
    let subaccount = if state.plivo.may_set_subaccounts() {
        parse_subaccount(&form.subaccount)
    } else {
        Ok(None)
    };
    let channel = Channel::parse(&form.channel).unwrap_or(Channel::Sms);
    let ready = match (&number, &alias, &subaccount, &preview.existing) {
        (Some(n), Ok(a), Ok(s), None) => Some(Request {
            number: n.clone(),
            alias: a.clone(),
            channel,
            subaccount: s.clone(),
        }),
        _ => None,
    };
    let page = |preview: Preview, form_error: Option<String>| async {
        let choices = subaccounts::choices(&state.db.reader, "", true).await?;
        Ok::<_, AppError>(StartPage {
            chrome: Chrome::for_user(&state, &me, Nav::Verify).await?,
            number: form.number.chars().take(40).collect(),
            country: country_of(&state, &form.country).to_owned(),
            countries: countries(),
            alias: form.alias.chars().take(200).collect(),
            channel: channel.as_str().to_owned(),
            subaccount_value: form.subaccount.chars().take(40).collect(),
            subaccount_hint: hint(&choices),
            subaccount_choices: choices,
            preview: PreviewPartial { preview },
            alias_error: alias.as_ref().err().map(|e| e.to_string()),
            subaccount_error: subaccount.as_ref().err().map(|e| (*e).to_owned()),
            offer_subaccount: state.plivo.may_set_subaccounts(),
            form_error,
        })
    };
    let Some(request) = ready else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page(preview, None).await?).into_response());
    };
    match state.verifier.start(&person(&me, meta), &request).await {
        Ok(v) => Ok(Redirect::to(&format!("/verify/{}", v.id)).into_response()),
        Err(VerifyError::Limited(limited)) => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            page(preview, Some(limited.message())).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// The words under the subaccount field.
fn hint(choices: &[(String, String)]) -> &'static str {
    if choices.is_empty() {
        "Only if this number belongs to a Plivo subaccount: its id, which starts with SA. Leave empty for the main account."
    } else {
        "Choose a subaccount only if this number belongs to one; otherwise keep Main account."
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any body decodes into the form or is refused with a 4xx, never a panic or a 500.
        #[test]
        fn any_form_body_decodes_or_is_refused(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            use axum::extract::FromRequest;
            let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| {
                proptest::test_runner::TestCaseError::fail(e.to_string())
            })?;
            for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
                let request = axum::http::Request::builder()
                    .method("POST")
                    .header("content-type", content_type)
                    .body(axum::body::Body::from(body.clone()))
                    .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                let decoded = runtime.block_on(axum::Form::<StartForm>::from_request(request, &()));
                if let Err(rejection) = decoded {
                    let status = axum::response::IntoResponse::into_response(rejection).status();
                    proptest::prop_assert!(status.is_client_error(), "{status}");
                }
            }
        }
    }
}
