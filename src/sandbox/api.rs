//! The sandbox's handlers: Plivo's six Verified Caller ID operations, the list of subaccounts,
//! plus the outbox. Lines marked `GUESS:` are behaviour Plivo does not document; they are listed in
//! the README so they can be checked against the real service.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{
    CODE_LIFETIME, OUTBOX_CAPACITY, OutboxEntry, Pending, Sandbox,
    answer::{ApiError, api_id, error, fail},
    lock, plivo_time as timestamp, store,
};
use crate::{
    domain::PhoneNumber,
    plivo::{Channel, is_auth_id},
};

type Answer = Result<Response, ApiError>;

fn db_error(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "sandbox database error");
    fail(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

/// Basic auth must name the account in the path, with its token.
fn authorize(sandbox: &Sandbox, path_auth_id: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let expected = format!(
        "{}:{}",
        sandbox.inner.auth_id,
        sandbox.inner.auth_token.expose()
    );
    let matches = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(expected.as_bytes())));
    if matches && path_auth_id == sandbox.inner.auth_id {
        Ok(())
    } else {
        // GUESS: the exact wording of Plivo's 401 body.
        Err(fail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials invalid",
        ))
    }
}

/// The JSON body of a POST, as an object (absent body: empty object).
fn json_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        // GUESS: the wording for a body that is not a JSON object.
        _ => Err(fail(StatusCode::BAD_REQUEST, "invalid json body")),
    }
}

/// An optional text field: absent, `null` and `""` are alike; other types are an error.
fn text_field(
    map: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(fail(StatusCode::BAD_REQUEST, &format!("invalid {name}"))),
    }
}

/// A subaccount must look like one (`SA` + 18 capitals or digits).
fn subaccount_field(
    sandbox: &Sandbox,
    map: &serde_json::Map<String, Value>,
) -> Result<Option<String>, ApiError> {
    // GUESS: an empty subaccount is taken as not given (Plivo's SDKs can't send one).
    let Some(sub) = text_field(map, "subaccount")? else {
        return Ok(None);
    };
    // GUESS: Plivo checks that the subaccount exists; the sandbox only checks its shape, and
    // refuses it with sub-account credentials (a sub-account's caller IDs are its own).
    if sandbox.inner.auth_id.starts_with("SA") {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "subaccount cannot be set with subaccount credentials",
        ));
    }
    if is_auth_id(&sub) && sub.starts_with("SA") {
        Ok(Some(sub))
    } else {
        Err(fail(StatusCode::BAD_REQUEST, "invalid subaccount"))
    }
}

fn caller_id_json(row: &store::Row) -> Value {
    json!({
        "alias": row.alias,
        "api_id": api_id(),
        "country": row.country,
        "created_at": row.created_at,
        "modified_at": row.modified_at,
        "phone_number": row.phone_number,
        "subaccount": row.subaccount,
        "verification_uuid": row.verification_uuid,
    })
}

fn resource_uri(sandbox: &Sandbox, number: &str) -> String {
    format!(
        "/v1/Account/{}/VerifiedCallerId/{}",
        sandbox.inner.auth_id,
        number.trim_start_matches('+')
    )
}

fn path_number(raw: &str) -> Result<PhoneNumber, ApiError> {
    // GUESS: Plivo answers 404 rather than 400 for a malformed number in a path.
    PhoneNumber::from_path(raw).map_err(|_| fail(StatusCode::NOT_FOUND, "caller id not found"))
}

/// `POST VerifiedCallerId/`: start a verification; the code goes to the outbox.
pub async fn start(
    State(sandbox): State<Sandbox>,
    Path(auth_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    authorize(&sandbox, &auth_id, &headers)?;
    let map = json_object(&body)?;
    let raw_number = text_field(&map, "phone_number")?
        .ok_or_else(|| fail(StatusCode::BAD_REQUEST, "phone_number is required"))?;
    // GUESS: digits without `+` are accepted as Plivo's paths accept them.
    let number = PhoneNumber::from_path(&raw_number)
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid phone_number"))?;
    let channel = match text_field(&map, "channel")?.as_deref() {
        None => Channel::Sms,
        Some(c) => {
            Channel::parse(c).ok_or_else(|| fail(StatusCode::BAD_REQUEST, "invalid channel"))?
        }
    };
    let alias = text_field(&map, "alias")?.unwrap_or_default();
    let subaccount = subaccount_field(&sandbox, &map)?.unwrap_or_default();

    let now = sandbox.now();
    let uuid = uuid::Uuid::new_v4().to_string();
    {
        let mut memory = lock(&sandbox.inner.memory);
        let code = memory
            .next_code
            .take()
            .unwrap_or_else(|| format!("{:06}", rand::random_range(0..1_000_000u32)));
        memory.pending.retain(|_, p| p.expires_at > now);
        memory.pending.insert(
            uuid.clone(),
            Pending {
                phone_number: number.as_str().to_owned(),
                alias,
                channel,
                subaccount,
                code: code.clone(),
                expires_at: now + CODE_LIFETIME,
            },
        );
        if memory.outbox.len() >= OUTBOX_CAPACITY {
            memory.outbox.pop_front();
        }
        memory.outbox.push_back(OutboxEntry {
            phone_number: number.as_str().to_owned(),
            channel,
            code,
            verification_uuid: uuid.clone(),
            sent_at: now,
        });
    }
    // GUESS: 200 (the SDKs' mocks use 200, 201 and 202 alike).
    Ok(Json(json!({
        "api_id": api_id(),
        "message": format!("Verification code is sent to number {number} which is valid for 15 minutes"),
        "verification_uuid": uuid,
    }))
    .into_response())
}

/// `POST VerifiedCallerId/Verification/{uuid}/`: the right code verifies the number.
pub async fn submit_code(
    State(sandbox): State<Sandbox>,
    Path((auth_id, uuid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    authorize(&sandbox, &auth_id, &headers)?;
    let map = json_object(&body)?;
    let otp = match map.get("otp") {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(fail(StatusCode::BAD_REQUEST, "otp is required")),
    };
    let now = sandbox.now();
    let pending = {
        let mut memory = lock(&sandbox.inner.memory);
        let Some(pending) = memory.pending.get(&uuid).cloned() else {
            // GUESS: wording of the 404 for an unknown verification.
            return Err(fail(StatusCode::NOT_FOUND, "verification not found"));
        };
        if pending.expires_at <= now {
            memory.pending.remove(&uuid);
            // GUESS: an expired code is a 400, like a wrong one, with its own wording.
            return Err(fail(StatusCode::BAD_REQUEST, "otp has expired"));
        }
        if !bool::from(pending.code.as_bytes().ct_eq(otp.as_bytes())) {
            // GUESS: Plivo's wording for a wrong code; the sandbox does not limit attempts
            // (callerdesk enforces its own limit of 5).
            return Err(fail(StatusCode::BAD_REQUEST, "invalid otp"));
        }
        memory.pending.remove(&uuid);
        pending
    };
    let number = PhoneNumber::from_e164(&pending.phone_number)
        .map_err(|_| fail(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"))?;
    let stamp = timestamp(now);
    let existing = store::get(&sandbox.inner.db.reader, number.as_str())
        .await
        .map_err(db_error)?;
    let row = store::Row {
        alias: pending.alias,
        country: number.country().unwrap_or_default(),
        created_at: existing.map_or_else(|| stamp.clone(), |r| r.created_at),
        modified_at: stamp,
        phone_number: number.as_str().to_owned(),
        subaccount: pending.subaccount,
        verification_uuid: uuid,
    };
    store::upsert(&sandbox.inner.db, &row)
        .await
        .map_err(db_error)?;
    // As in the SDKs' fixtures: no `subaccount` and no `modified_at` in this answer.
    Ok(Json(json!({
        "alias": row.alias,
        "api_id": api_id(),
        "channel": pending.channel.as_str(),
        "country": row.country,
        "created_at": row.created_at,
        "phone_number": row.phone_number,
        "verification_uuid": row.verification_uuid,
    }))
    .into_response())
}

/// `GET VerifiedCallerId/{number}/`
pub async fn get_one(
    State(sandbox): State<Sandbox>,
    Path((auth_id, number)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    authorize(&sandbox, &auth_id, &headers)?;
    let number = path_number(&number)?;
    match store::get(&sandbox.inner.db.reader, number.as_str())
        .await
        .map_err(db_error)?
    {
        Some(row) => Ok(Json(caller_id_json(&row)).into_response()),
        None => Err(fail(StatusCode::NOT_FOUND, "caller id not found")),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    offset: Option<String>,
    country: Option<String>,
    subaccount: Option<String>,
    alias: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// `limit` (1 to 20, default 20) and `offset` (0 or more), as Plivo reads them; text that is
/// not a number is refused.
fn paging(limit: Option<&str>, offset: Option<&str>) -> Result<(i64, i64), ApiError> {
    // GUESS: the wording of these 400s.
    let limit = match limit {
        None | Some("") => 20,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid limit"))?,
    };
    if !(1..=20).contains(&limit) {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "limit must be between 1 and 20",
        ));
    }
    let offset = match offset {
        None | Some("") => 0,
        Some(o) => o
            .parse::<i64>()
            .map_err(|_| fail(StatusCode::BAD_REQUEST, "invalid offset"))?,
    };
    if offset < 0 {
        return Err(fail(StatusCode::BAD_REQUEST, "offset must be 0 or more"));
    }
    Ok((limit, offset))
}

/// `GET VerifiedCallerId/`: a page (limit 1 to 20, default 20), newest first.
pub async fn list(
    State(sandbox): State<Sandbox>,
    Path(auth_id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Answer {
    authorize(&sandbox, &auth_id, &headers)?;
    let (limit, offset) = paging(params.limit.as_deref(), params.offset.as_deref())?;
    let filters = store::Filters {
        country: non_empty(params.country),
        subaccount: non_empty(params.subaccount),
        alias: non_empty(params.alias),
    };
    // GUESS: Plivo's order (the sandbox lists newest first) and that filters match exactly.
    let (rows, total) = store::list(&sandbox.inner.db.reader, &filters, limit, offset)
        .await
        .map_err(db_error)?;
    let page_uri = |offset: i64| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &limit.to_string());
        query.append_pair("offset", &offset.to_string());
        // GUESS: Plivo carries the filters into `next` and `previous`.
        for (key, value) in [
            ("country", &filters.country),
            ("subaccount", &filters.subaccount),
            ("alias", &filters.alias),
        ] {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
        format!(
            "/v1/Account/{}/VerifiedCallerId/?{}",
            sandbox.inner.auth_id,
            query.finish()
        )
    };
    let objects: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "alias": row.alias,
                "country": row.country,
                "created_at": row.created_at,
                "modified_at": row.modified_at,
                "phone_number": row.phone_number,
                "resource_uri": resource_uri(&sandbox, &row.phone_number),
                "subaccount": row.subaccount,
                "verification_uuid": row.verification_uuid,
            })
        })
        .collect();
    Ok(page_answer(limit, offset, total, page_uri, objects))
}

/// A page of a Plivo list: its `meta` (with links to the next and previous pages) and objects.
fn page_answer(
    limit: i64,
    offset: i64,
    total: i64,
    page_uri: impl Fn(i64) -> String,
    objects: Vec<Value>,
) -> Response {
    Json(json!({
        "api_id": api_id(),
        "meta": {
            "limit": limit,
            "next": (offset + limit < total).then(|| page_uri(offset + limit)),
            "offset": offset,
            "previous": (offset > 0).then(|| page_uri((offset - limit).max(0))),
            "total_count": total,
        },
        "objects": objects,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct PageParams {
    limit: Option<String>,
    offset: Option<String>,
}

/// `GET Account/{auth_id}/Subaccount/`: the account's subaccounts, a page at a time, each with
/// its auth token as Plivo's answer has it.
pub async fn subaccounts(
    State(sandbox): State<Sandbox>,
    Path(auth_id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Answer {
    authorize(&sandbox, &auth_id, &headers)?;
    if sandbox.inner.auth_id.starts_with("SA") {
        // GUESS: the status and wording when sub-account credentials list subaccounts.
        return Err(fail(
            StatusCode::FORBIDDEN,
            "subaccounts can only be listed with main account credentials",
        ));
    }
    let (limit, offset) = paging(params.limit.as_deref(), params.offset.as_deref())?;
    let all = &sandbox.inner.subaccounts;
    let account = format!("/v1/Account/{}/", sandbox.inner.auth_id);
    let objects: Vec<Value> = all
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(20))
        .map(|s| {
            json!({
                "account": account,
                "auth_id": s.auth_id,
                "auth_token": s.auth_token,
                "created": s.created,
                "enabled": s.enabled,
                "modified": null,
                "name": s.name,
                "resource_uri": format!("{account}Subaccount/{}/", s.auth_id),
            })
        })
        .collect();
    let total = all.len() as i64;
    let page_uri = |offset: i64| format!("{account}Subaccount/?limit={limit}&offset={offset}");
    Ok(page_answer(limit, offset, total, page_uri, objects))
}

/// `POST VerifiedCallerId/{number}/`: change alias and/or subaccount.
pub async fn update(
    State(sandbox): State<Sandbox>,
    Path((auth_id, number)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    authorize(&sandbox, &auth_id, &headers)?;
    let number = path_number(&number)?;
    let map = json_object(&body)?;
    // An alias may be cleared with "", so it is read as given.
    let alias = match map.get("alias") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(fail(StatusCode::BAD_REQUEST, "invalid alias")),
    };
    let subaccount = subaccount_field(&sandbox, &map)?;
    let now = timestamp(sandbox.now());
    let found = store::update(
        &sandbox.inner.db,
        number.as_str(),
        alias.as_deref(),
        subaccount.as_deref(),
        &now,
    )
    .await
    .map_err(db_error)?;
    if !found {
        return Err(fail(StatusCode::NOT_FOUND, "caller id not found"));
    }
    let row = store::get(&sandbox.inner.db.reader, number.as_str())
        .await
        .map_err(db_error)?
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "caller id not found"))?;
    Ok(Json(caller_id_json(&row)).into_response())
}

/// `DELETE VerifiedCallerId/{number}/`: 204 with no body.
pub async fn delete(
    State(sandbox): State<Sandbox>,
    Path((auth_id, number)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    authorize(&sandbox, &auth_id, &headers)?;
    let number = path_number(&number)?;
    if store::delete(&sandbox.inner.db, number.as_str())
        .await
        .map_err(db_error)?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(fail(StatusCode::NOT_FOUND, "caller id not found"))
    }
}

/// Anything else under `/v1/`.
pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

/// `GET /__sandbox/outbox`: every code "sent", newest first.
pub async fn outbox(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.outbox()).into_response()
}
