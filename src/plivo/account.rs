//! What identifies a Plivo account: the auth id (`MA…`, or `SA…` for a subaccount), the auth
//! token that goes with it, and subaccount ids as typed in forms.

use std::fmt;

/// The Plivo auth token. Its `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }
    /// The token itself, for the Authorization header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

impl fmt::Display for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `MA` or `SA` followed by 18 upper-case letters or digits.
pub fn is_auth_id(id: &str) -> bool {
    id.len() == 20
        && (id.starts_with("MA") || id.starts_with("SA"))
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A Plivo subaccount id: `SA` and 18 capitals or digits; empty means none.
pub fn parse_subaccount(raw: &str) -> Result<Option<String>, &'static str> {
    let s = raw.trim().to_ascii_uppercase();
    if s.is_empty() {
        return Ok(None);
    }
    if is_auth_id(&s) && s.starts_with("SA") {
        Ok(Some(s))
    } else {
        Err(
            "A subaccount id starts with SA followed by 18 letters or digits, as shown in Plivo's console.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_ids_must_be_ma_or_sa_and_eighteen_characters() {
        assert!(is_auth_id("MAABCDEFGHIJ12345678"));
        assert!(is_auth_id("SA0123456789ABCDEFGH"));
        assert!(!is_auth_id("XA0123456789ABCDEFGH"));
        assert!(!is_auth_id("MA0123456789abcdefgh"));
        assert!(!is_auth_id("MA0123"));
        assert!(!is_auth_id("MAÄBCDEFGHIJ1234567"));
    }

    #[test]
    fn subaccounts_look_like_plivos() {
        assert_eq!(parse_subaccount(" "), Ok(None));
        assert_eq!(
            parse_subaccount("sa2b3c4d5e6f7g8h9j0k"),
            Ok(Some("SA2B3C4D5E6F7G8H9J0K".into()))
        );
        assert!(parse_subaccount("MA2B3C4D5E6F7G8H9J0K").is_err());
        assert!(parse_subaccount("SA123").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_typed_subaccount_is_read_or_refused_in_words(raw in "\\PC{0,300}") {
            if let Err(why) = parse_subaccount(&raw) {
                proptest::prop_assert!(why.ends_with('.'));
            }
        }
    }
}
