//! A phone number in international (E.164) form: `+` and 7 to 15 digits, the first not zero.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a phone number in international format (+ and 7 to 15 digits)")]
pub struct NotE164(pub String);

impl PhoneNumber {
    /// Reads `+12025551234`. With `lenient_plus`, also `12025551234` and ` 12025551234` (a `+`
    /// decoded as a space by some HTTP stacks), as Plivo's paths accept.
    pub fn from_e164(raw: &str) -> Result<Self, NotE164> {
        Self::parse_inner(raw, false)
    }

    /// As [`PhoneNumber::from_e164`], but the `+` may be missing or have become a space.
    pub fn from_path(raw: &str) -> Result<Self, NotE164> {
        Self::parse_inner(raw, true)
    }

    fn parse_inner(raw: &str, lenient_plus: bool) -> Result<Self, NotE164> {
        let trimmed = raw.trim();
        let digits = match trimmed.strip_prefix('+') {
            Some(d) => d,
            None if lenient_plus => trimmed,
            None => return Err(NotE164(raw.to_owned())),
        };
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(format!("+{digits}")))
        } else {
            Err(NotE164(raw.chars().take(40).collect()))
        }
    }

    /// `+12025551234`
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `12025551234`: the form Plivo uses in paths.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// The two-letter country the number belongs to: the one whose numbering plan it fits, or
    /// else the main country of its calling code (`+1`: US, `+44`: GB).
    pub fn country(&self) -> Option<String> {
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        if let Some(id) = parsed.country().id() {
            return Some(id.as_ref().to_owned());
        }
        let regions = phonenumber::metadata::DATABASE.region(&parsed.code().value())?;
        regions.first().map(|r| (*r).to_owned())
    }
}

impl PhoneNumber {
    /// As people read it: `+1 202-555-1234`, `+44 7700 900123` (the digits alone if the
    /// numbering plan doesn't say how to group them).
    pub fn international(&self) -> String {
        match phonenumber::parse(None, &self.0) {
            Ok(parsed) => parsed
                .format()
                .mode(phonenumber::Mode::International)
                .to_string(),
            Err(_) => self.0.clone(),
        }
    }

    /// The national significant number's digits (`2025551234`), for matching what people type
    /// without the country code.
    pub fn national_digits(&self) -> String {
        phonenumber::parse(None, &self.0)
            .map(|p| p.national().value().to_string())
            .unwrap_or_default()
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_numbers_are_read_strictly_and_paths_leniently() {
        assert_eq!(
            PhoneNumber::from_e164("+12025551234").unwrap().digits(),
            "12025551234"
        );
        assert!(PhoneNumber::from_e164("12025551234").is_err());
        assert_eq!(
            PhoneNumber::from_path("12025551234").unwrap().as_str(),
            "+12025551234"
        );
        assert_eq!(
            PhoneNumber::from_path(" 12025551234").unwrap().as_str(),
            "+12025551234"
        );
        assert!(PhoneNumber::from_e164("+0123456789").is_err());
        assert!(PhoneNumber::from_e164("+123").is_err());
        assert!(PhoneNumber::from_e164("+1234567890123456").is_err());
        assert!(PhoneNumber::from_e164("+1202555123a").is_err());
    }

    #[test]
    fn numbers_are_shown_grouped() {
        let n = PhoneNumber::from_e164("+12025551234").unwrap();
        assert_eq!(n.international(), "+1 202-555-1234");
        assert_eq!(n.national_digits(), "2025551234");
        assert_eq!(
            PhoneNumber::from_e164("+442079460000")
                .unwrap()
                .international(),
            "+44 20 7946 0000"
        );
    }

    #[test]
    fn the_country_comes_from_the_numbering_plan() {
        assert_eq!(
            PhoneNumber::from_e164("+12025550143")
                .unwrap()
                .country()
                .as_deref(),
            Some("US")
        );
        assert_eq!(
            PhoneNumber::from_e164("+442079460000")
                .unwrap()
                .country()
                .as_deref(),
            Some("GB")
        );
        assert_eq!(
            PhoneNumber::from_e164("+4930123456")
                .unwrap()
                .country()
                .as_deref(),
            Some("DE")
        );
        // Fictional ranges that no plan lists still get their calling code's main country.
        assert_eq!(
            PhoneNumber::from_e164("+447700900005")
                .unwrap()
                .country()
                .as_deref(),
            Some("GB")
        );
    }
}
