//! A phone number in international (E.164) form: `+` and 7 to 15 digits, the first not zero.

use std::{
    collections::HashMap,
    fmt,
    sync::{LazyLock, Mutex},
};

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
    ///
    /// Remembered per number (up to 10,000 of them): the audit page shows 50 events at a time,
    /// mostly of the same few numbers, and parsing one with `phonenumber` is its most costly
    /// step.
    pub fn international(&self) -> String {
        static SHOWN: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);
        if let Some(shown) = SHOWN.lock().ok().and_then(|m| m.get(&self.0).cloned()) {
            return shown;
        }
        let shown = match phonenumber::parse(None, &self.0) {
            Ok(parsed) => parsed
                .format()
                .mode(phonenumber::Mode::International)
                .to_string(),
            Err(_) => self.0.clone(),
        };
        if let Ok(mut memo) = SHOWN.lock() {
            if memo.len() >= 10_000 {
                memo.clear();
            }
            memo.insert(self.0.clone(), shown.clone());
        }
        shown
    }

    /// The national significant number's digits (`2025551234`), for matching what people type
    /// without the country code.
    pub fn national_digits(&self) -> String {
        phonenumber::parse(None, &self.0)
            .map(|p| p.national().to_string())
            .unwrap_or_default()
    }

    /// Reads a number as a person types it: `(202) 555-1234` and `202.555.1234` in
    /// `default_country`, anything starting with `+` (or `00`) as international. Refusals say
    /// what is wrong in a sentence.
    pub fn parse_input(raw: &str, default_country: &str) -> Result<Self, PhoneInputError> {
        let typed = raw.trim();
        if typed.is_empty() {
            return Err(PhoneInputError::Empty);
        }
        if typed.chars().count() > 40 {
            return Err(PhoneInputError::TooLong(None));
        }
        if !typed.chars().any(|c| c.is_ascii_digit()) || typed.chars().any(|c| c.is_alphabetic()) {
            return Err(PhoneInputError::NotANumber);
        }
        // "00 44 …" is how much of the world dials abroad; read it as "+44 …".
        let rewritten = typed.strip_prefix("00").map(|rest| format!("+{rest}"));
        let typed = rewritten.as_deref().unwrap_or(typed);
        let international = typed.starts_with('+');
        let region = if international {
            None
        } else {
            default_country.parse::<phonenumber::country::Id>().ok()
        };
        let home = (!international).then(|| default_country.to_owned());
        let parsed = phonenumber::parse(region, typed).map_err(|e| match e {
            phonenumber::ParseError::InvalidCountryCode => PhoneInputError::UnknownCountryCode,
            phonenumber::ParseError::TooShortNsn | phonenumber::ParseError::TooShortAfterIdd => {
                PhoneInputError::TooShort(home.clone().or_else(|| calling_code_country(typed)))
            }
            phonenumber::ParseError::TooLong => PhoneInputError::TooLong(home.clone()),
            _ => PhoneInputError::NotANumber,
        })?;
        let country = parsed
            .country()
            .id()
            .map(|id| id.as_ref().to_owned())
            .or_else(|| {
                phonenumber::metadata::DATABASE
                    .region(&parsed.code().value())
                    .and_then(|r| r.first().map(|c| (*c).to_owned()))
            })
            .or(home);
        if !parsed.is_valid() {
            let nsn = parsed.national().to_string().len();
            let database = &phonenumber::metadata::DATABASE;
            let lengths = parsed
                .metadata(database)
                .or_else(|| {
                    let main = database.by_code(&parsed.code().value())?;
                    main.into_iter().next()
                })
                .map(|m| {
                    // The general descriptor often leaves lengths to the specific kinds.
                    let d = m.descriptors();
                    [
                        Some(d.general()),
                        d.fixed_line(),
                        d.mobile(),
                        d.toll_free(),
                        d.voip(),
                    ]
                    .into_iter()
                    .flatten()
                    .flat_map(|d| d.possible_length().to_vec())
                    .collect::<Vec<u16>>()
                })
                .unwrap_or_default();
            let shortest = lengths.iter().min().map_or(0, |l| usize::from(*l));
            let longest = lengths.iter().max().map_or(usize::MAX, |l| usize::from(*l));
            return Err(if nsn < shortest {
                PhoneInputError::TooShort(country)
            } else if nsn > longest {
                PhoneInputError::TooLong(country)
            } else {
                PhoneInputError::Invalid(country)
            });
        }
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        Self::from_e164(&e164).map_err(|_| PhoneInputError::NotANumber)
    }

    /// "+1 202-555-1234, the United States"
    pub fn preview(&self) -> String {
        match self.country() {
            Some(c) => format!("{}, {}", self.international(), country_name(&c)),
            None => self.international(),
        }
    }
}

/// The main country of the calling code at the start of `+44 …`.
fn calling_code_country(typed: &str) -> Option<String> {
    let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.strip_prefix("00").unwrap_or(&digits);
    (1..=3).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        phonenumber::metadata::DATABASE
            .region(&code)
            .and_then(|r| r.first().map(|c| (*c).to_owned()))
    })
}

/// Why typed text is not a phone number we can verify. `None` as the country: unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneInputError {
    #[error("Enter the phone number to verify.")]
    Empty,
    #[error(
        "That doesn't look like a phone number. Type its digits, like (202) 555-1234, or an international number starting with +."
    )]
    NotANumber,
    #[error("No country uses that code. Check the digits right after the +.")]
    UnknownCountryCode,
    #[error("That number is too short{}.", in_country(.0))]
    TooShort(Option<String>),
    #[error("That number is too long{}.", in_country(.0))]
    TooLong(Option<String>),
    #[error("That isn't a valid phone number{}. Check the digits.", in_country(.0))]
    Invalid(Option<String>),
}

fn in_country(country: &Option<String>) -> String {
    country
        .as_deref()
        .map(|c| format!(" for {}", country_name(c)))
        .unwrap_or_default()
}

/// A country's name as used in a sentence: "the United States", "Germany".
pub fn country_name(alpha2: &str) -> String {
    let special = match alpha2 {
        "US" => Some("the United States"),
        "GB" => Some("the United Kingdom"),
        "AE" => Some("the United Arab Emirates"),
        "NL" => Some("the Netherlands"),
        "PH" => Some("the Philippines"),
        "DO" => Some("the Dominican Republic"),
        "CD" => Some("the Democratic Republic of the Congo"),
        "CZ" => Some("Czechia"),
        "KR" => Some("South Korea"),
        "KP" => Some("North Korea"),
        "RU" => Some("Russia"),
        "IR" => Some("Iran"),
        "BO" => Some("Bolivia"),
        "VE" => Some("Venezuela"),
        "TW" => Some("Taiwan"),
        "VN" => Some("Vietnam"),
        "MD" => Some("Moldova"),
        "TZ" => Some("Tanzania"),
        "SY" => Some("Syria"),
        "LA" => Some("Laos"),
        _ => None,
    };
    if let Some(name) = special {
        return name.to_owned();
    }
    match rust_iso3166::from_alpha2(alpha2) {
        Some(c) => c.name.split(" (").next().unwrap_or(c.name).to_owned(),
        None => alpha2.to_owned(),
    }
}

/// Every country with a numbering plan, for a chooser: its two-letter code and
/// "United Kingdom (+44)", sorted by name.
pub fn countries() -> &'static [(String, String)] {
    static LIST: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
        let mut list: Vec<(String, String)> = phonenumber::metadata::DATABASE
            .iter()
            .filter(|m| rust_iso3166::from_alpha2(m.id()).is_some())
            .map(|m| {
                let name = country_name(m.id());
                let name = name.strip_prefix("the ").unwrap_or(&name);
                (m.id().to_owned(), format!("{name} (+{})", m.country_code()))
            })
            .collect();
        list.sort_by(|a, b| a.1.cmp(&b.1));
        list.dedup_by(|a, b| a.0 == b.0);
        list
    });
    &LIST
}

/// `code` if it is a country of [`countries`], else `fallback`.
pub fn known_country<'a>(code: &'a str, fallback: &'a str) -> &'a str {
    let code = code.trim();
    if countries().iter().any(|(c, _)| c == code) {
        code
    } else {
        fallback
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
    fn the_country_list_names_each_country_once_with_its_calling_code() {
        let list = countries();
        assert!(list.len() > 200, "{}", list.len());
        assert!(list.contains(&("GB".to_owned(), "United Kingdom (+44)".to_owned())));
        assert!(list.contains(&("US".to_owned(), "United States (+1)".to_owned())));
        let mut codes: Vec<&str> = list.iter().map(|(c, _)| c.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), list.len());
        let uk = PhoneNumber::parse_input("020 7946 0958", known_country("GB", "US")).unwrap();
        assert_eq!(uk.international(), "+44 20 7946 0958");
        assert_eq!(known_country("XX", "US"), "US");
    }

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
    fn typed_numbers_become_international_or_get_a_sentence() {
        let ok = |raw: &str| PhoneNumber::parse_input(raw, "US").map(|n| n.as_str().to_owned());
        assert_eq!(ok("(202) 555-1234").as_deref(), Ok("+12025551234"));
        assert_eq!(ok("202.555.1234").as_deref(), Ok("+12025551234"));
        assert_eq!(ok("202-555-1234").as_deref(), Ok("+12025551234"));
        assert_eq!(ok("+1 202 555 1234").as_deref(), Ok("+12025551234"));
        assert_eq!(ok("+44 20 7946 0958").as_deref(), Ok("+442079460958"));
        assert_eq!(ok("0044 20 7946 0958").as_deref(), Ok("+442079460958"));
        let err = |raw: &str| PhoneNumber::parse_input(raw, "US").unwrap_err().to_string();
        assert_eq!(
            err("+1 202 555 12"),
            "That number is too short for the United States."
        );
        assert_eq!(
            err("555 12"),
            "That number is too short for the United States."
        );
        assert_eq!(err(""), "Enter the phone number to verify.");
        assert!(err("hello").starts_with("That doesn't look like a phone number."));
        assert!(err(&"1".repeat(40)).starts_with("That number is too long"));
        assert!(err(&"1".repeat(41)).starts_with("That number is too long"));
        assert_eq!(
            PhoneNumber::parse_input("030 1", "DE")
                .unwrap_err()
                .to_string(),
            "That number is too short for Germany."
        );
        assert_eq!(
            PhoneNumber::parse_input("(202) 555-1234", "US")
                .unwrap()
                .preview(),
            "+1 202-555-1234, the United States"
        );
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
