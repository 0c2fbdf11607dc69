//! A username: what a person types to sign in.

use std::fmt;

/// 1 to 64 characters from letters, digits, `.`, `_`, `-` and `@`; stored as typed and
/// compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("Enter a username.")]
    Empty,
    #[error("A username can be at most 64 characters long.")]
    TooLong,
    #[error("A username can use letters, digits, dots, dashes, underscores and @, and no spaces.")]
    BadCharacter,
    #[error("That name is kept for the audit log's own entries. Choose another username.")]
    Reserved,
}

/// Names the audit log gives to actors that are not people; no user may take one, in any case.
pub const RESERVED: [&str; 3] = ["system", "anonymous", "command line"];

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(UsernameError::Empty);
        }
        if name.chars().count() > 64 {
            return Err(UsernameError::TooLong);
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(UsernameError::BadCharacter);
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(UsernameError::Reserved);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_checked() {
        assert_eq!(Username::parse("  alice ").unwrap().as_str(), "alice");
        assert_eq!(Username::parse("a.b-c_d@x").unwrap().as_str(), "a.b-c_d@x");
        assert_eq!(Username::parse(" "), Err(UsernameError::Empty));
        assert_eq!(Username::parse("a b"), Err(UsernameError::BadCharacter));
        assert_eq!(
            Username::parse("<script>"),
            Err(UsernameError::BadCharacter)
        );
        assert_eq!(
            Username::parse(&"x".repeat(65)),
            Err(UsernameError::TooLong)
        );
        assert_eq!(Username::parse("System"), Err(UsernameError::Reserved));
        assert_eq!(Username::parse("anonymous"), Err(UsernameError::Reserved));
    }
}
