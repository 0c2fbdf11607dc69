//! Domain types that are valid by construction. Nothing here does I/O.

mod alias;
mod password;
mod phone;
mod role;
mod username;
mod verification;

pub use alias::{Alias, AliasError};
pub use password::{Password, PasswordError};
pub use phone::{NotE164, PhoneInputError, PhoneNumber, countries, country_name, known_country};
pub use role::{Permission, Role, UnknownRole};
pub use username::{Username, UsernameError};
pub use verification::{Channel, VerificationStatus};

#[cfg(test)]
mod properties;
