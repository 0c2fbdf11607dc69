//! Property tests for what Plivo (or anything in between) may send back: parsing never panics.

use proptest::prelude::*;

use super::{CallerId, ListPage, Started, Verified, types::parse_plivo_time};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_body_parses_or_is_refused(body in "\\PC{0,200}") {
        let _ = serde_json::from_str::<CallerId>(&body);
        let _ = serde_json::from_str::<ListPage>(&body);
        let _ = serde_json::from_str::<Started>(&body);
        let _ = serde_json::from_str::<Verified>(&body);
    }

    #[test]
    fn caller_ids_with_odd_field_values_parse(
        alias in proptest::option::of("\\PC{0,20}"),
        stamp in "\\PC{0,40}|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?Z?",
        extra in "[a-z_]{1,10}",
    ) {
        let body = serde_json::json!({
            "phone_number": "+12025551234", "alias": alias, "created_at": stamp,
            "subaccount": null, "country": "", extra: [1, {"x": null}],
        });
        let parsed: CallerId = serde_json::from_value(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.country, None);
        prop_assert_eq!(parsed.subaccount, None);
    }

    #[test]
    fn timestamps_parse_or_are_absent(stamp in "\\PC{0,40}") {
        let _ = parse_plivo_time(&stamp);
    }
}
