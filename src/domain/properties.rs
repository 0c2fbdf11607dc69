//! Property tests: whatever a person types or Plivo sends, parsing never panics, and what it
//! accepts is valid by the type's own rules.

use proptest::prelude::*;

use super::{Alias, Password, PhoneNumber, Username};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn typed_numbers_parse_or_refuse_cleanly(raw in "\\PC{0,60}", country in "[A-Z]{2}") {
        if let Ok(number) = PhoneNumber::parse_input(&raw, &country) {
            prop_assert!(PhoneNumber::from_e164(number.as_str()).is_ok());
            prop_assert!(number.as_str().len() <= 16);
        }
    }

    #[test]
    fn number_like_input_parses_or_refuses_cleanly(raw in "[+0-9 ()\\-.]{0,45}") {
        match PhoneNumber::parse_input(&raw, "US") {
            Ok(number) => prop_assert_eq!(PhoneNumber::from_e164(number.as_str()).ok(), Some(number)),
            Err(e) => prop_assert!(e.to_string().ends_with('.')),
        }
    }

    #[test]
    fn paths_parse_or_refuse(raw in "\\PC{0,30}") {
        if let Ok(n) = PhoneNumber::from_path(&raw) {
            prop_assert!(n.as_str().starts_with('+') && n.digits().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn aliases_are_short_and_printable_when_accepted(raw in "\\PC{0,100}|[\\x00-\\x1f a-z]{0,80}") {
        if let Ok(alias) = Alias::parse(&raw) {
            prop_assert!(alias.as_str().chars().count() <= 64);
            prop_assert!(!alias.as_str().chars().any(char::is_control));
        }
    }

    #[test]
    fn names_and_passwords_never_panic(raw in "\\PC{0,300}") {
        let _ = Username::parse(&raw);
        let _ = Password::parse(&raw);
    }
}
