//! What goes to Plivo and what comes back, parsed as it really comes: unknown fields ignored;
//! `""`, `null` and absent alike for optional text; timestamps with 0 to 9 fractional digits or
//! in the `YYYY-MM-DD HH:MM:SS` form.

use serde::{Deserialize, Deserializer, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339};

pub use crate::domain::Channel;
use crate::domain::PhoneNumber;

/// Start verifying a number: Plivo sends it a code.
#[derive(Debug, Clone)]
pub struct StartVerification {
    pub phone_number: PhoneNumber,
    pub alias: Option<String>,
    pub channel: Channel,
    pub subaccount: Option<String>,
}

/// The JSON body of a start request; unset fields are omitted.
#[derive(Debug, Serialize)]
pub(crate) struct StartBody<'a> {
    pub phone_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<&'a str>,
    pub channel: Channel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subaccount: Option<&'a str>,
}

/// Plivo's answer to a start request.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Started {
    #[serde(default, deserialize_with = "text")]
    pub api_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub message: Option<String>,
    pub verification_uuid: String,
}

/// Plivo's answer to a right code: the number is now a verified caller ID.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Verified {
    #[serde(default, deserialize_with = "text")]
    pub api_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub alias: Option<String>,
    /// `sms` or `call`; sometimes `""`.
    #[serde(default, deserialize_with = "text")]
    pub channel: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub created_at: Option<OffsetDateTime>,
    pub phone_number: String,
    #[serde(default, deserialize_with = "text")]
    pub verification_uuid: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub subaccount: Option<String>,
}

/// A verified caller ID, as get, update and list return it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CallerId {
    /// Present on get and update, absent in list objects.
    #[serde(default, deserialize_with = "text")]
    pub api_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub alias: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "timestamp")]
    pub modified_at: Option<OffsetDateTime>,
    pub phone_number: String,
    #[serde(default, deserialize_with = "text")]
    pub subaccount: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub verification_uuid: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub resource_uri: Option<String>,
}

/// One page of the list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ListPage {
    #[serde(default, deserialize_with = "text")]
    pub api_id: Option<String>,
    pub meta: Meta,
    #[serde(default)]
    pub objects: Vec<CallerId>,
}

/// The list's paging facts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Meta {
    pub limit: u32,
    pub offset: u64,
    pub total_count: u64,
    #[serde(default, deserialize_with = "text")]
    pub next: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub previous: Option<String>,
}

/// What to list: a page (`limit` 1 to 20) and optional filters.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ListQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subaccount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// A subaccount, as `GET Account/{auth_id}/Subaccount/` lists it. Plivo's answer also carries
/// each subaccount's auth token: there is deliberately no field for it, so it is never read
/// into anything that could be stored, logged or shown.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Subaccount {
    pub auth_id: String,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// Absent or `null` is taken as enabled.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// One page of subaccounts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SubaccountPage {
    pub meta: Meta,
    #[serde(default)]
    pub objects: Vec<Subaccount>,
}

/// Change a caller ID's alias or subaccount; unset fields are left alone (and omitted).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Update {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subaccount: Option<String>,
}

/// Optional text: `""`, `null` and absent all become `None`. Numbers are taken as their text.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// A timestamp as Plivo sends it; an unreadable one is treated as absent rather than failing
/// the whole answer.
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    Ok(text(d)?.and_then(|s| parse_plivo_time(&s)))
}

/// RFC 3339 with 0 to 9 fractional digits, or `YYYY-MM-DD HH:MM:SS[.fraction]` taken as UTC.
pub fn parse_plivo_time(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let spaced = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(s, spaced)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_with_any_number_of_fractional_digits_parse() {
        assert_eq!(
            parse_plivo_time("2023-08-30T07:47:43Z"),
            Some(datetime!(2023-08-30 07:47:43 UTC))
        );
        assert_eq!(
            parse_plivo_time("2023-08-30T07:47:43.68729Z"),
            Some(datetime!(2023-08-30 07:47:43.68729 UTC))
        );
        assert_eq!(
            parse_plivo_time("2023-08-30T07:47:43.968133341Z"),
            Some(datetime!(2023-08-30 07:47:43.968133341 UTC))
        );
        assert_eq!(
            parse_plivo_time("2023-08-30T07:47:43.5+02:00"),
            Some(datetime!(2023-08-30 05:47:43.5 UTC))
        );
        assert_eq!(
            parse_plivo_time("2023-08-30 07:47:43"),
            Some(datetime!(2023-08-30 07:47:43 UTC))
        );
        assert_eq!(
            parse_plivo_time("2023-08-30 07:47:43.123"),
            Some(datetime!(2023-08-30 07:47:43.123 UTC))
        );
        assert_eq!(parse_plivo_time("yesterday"), None);
    }

    #[test]
    fn a_subaccount_is_read_without_its_token() {
        let page: SubaccountPage = serde_json::from_str(
            r#"{"api_id":"x","meta":{"limit":20,"offset":0,"total_count":1,"next":null,"previous":null},
               "objects":[{"account":"/v1/Account/MA/","auth_id":"SA2B3C4D5E6F7G8H9J0K",
               "auth_token":"c2VjcmV0LXRva2VuLXZhbHVl","created":"2022-09-05","enabled":true,
               "modified":null,"name":"Sales","resource_uri":"/v1/Account/MA/Subaccount/SA2B3C4D5E6F7G8H9J0K/"}]}"#,
        )
        .unwrap();
        assert_eq!(page.objects[0].name.as_deref(), Some("Sales"));
        assert!(!format!("{page:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn empty_null_and_absent_text_are_alike() {
        for body in [
            r#"{"phone_number":"+1","subaccount":""}"#,
            r#"{"phone_number":"+1","subaccount":null}"#,
            r#"{"phone_number":"+1"}"#,
        ] {
            let c: CallerId = serde_json::from_str(body).unwrap();
            assert_eq!(c.subaccount, None, "{body}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_unset_fields_omitted() {
        let c: CallerId =
            serde_json::from_str(r#"{"phone_number":"+1","brand_new_field":{"x":1},"alias":"A"}"#)
                .unwrap();
        assert_eq!(c.alias.as_deref(), Some("A"));
        let body = serde_json::to_string(&Update {
            alias: Some("B".into()),
            subaccount: None,
        })
        .unwrap();
        assert_eq!(body, r#"{"alias":"B"}"#);
        let q = ListQuery {
            limit: Some(20),
            offset: Some(0),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"limit":20,"offset":0}"#
        );
    }
}
