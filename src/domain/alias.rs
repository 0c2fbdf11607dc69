//! A caller ID's alias: a name people recognise the number by ("Front desk").

use std::fmt;

pub const MAX_CHARS: usize = 64;

/// Up to 64 characters, no control characters, surrounding spaces trimmed; may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alias(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("A name can be at most 64 characters long.")]
    TooLong,
    #[error("A name can't contain line breaks, tabs or other invisible control characters.")]
    ControlCharacter,
}

impl Alias {
    pub fn parse(raw: &str) -> Result<Self, AliasError> {
        let alias = raw.trim();
        if alias.chars().any(char::is_control) {
            return Err(AliasError::ControlCharacter);
        }
        if alias.chars().count() > MAX_CHARS {
            return Err(AliasError::TooLong);
        }
        Ok(Self(alias.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_trimmed_and_limited() {
        assert_eq!(
            Alias::parse("  Front desk ").unwrap().as_str(),
            "Front desk"
        );
        assert!(Alias::parse("").unwrap().is_empty());
        assert_eq!(
            Alias::parse(&"é".repeat(64))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            64
        );
        assert_eq!(Alias::parse(&"a".repeat(65)), Err(AliasError::TooLong));
        assert_eq!(Alias::parse("a\u{0}b"), Err(AliasError::ControlCharacter));
        assert_eq!(
            Alias::parse("line\nbreak"),
            Err(AliasError::ControlCharacter)
        );
        assert_eq!(Alias::parse("<b>html</b>").unwrap().as_str(), "<b>html</b>");
    }
}
