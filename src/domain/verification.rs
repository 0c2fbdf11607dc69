//! What a verification is about: how the code reaches the phone, and how far it got.

use serde::{Deserialize, Serialize};

/// How the code reaches the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Call,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Call];

    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Call => "call",
        }
    }

    pub fn is_call(self) -> bool {
        self == Channel::Call
    }

    /// As people say it.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Sms => "text message",
            Channel::Call => "phone call",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Channel::Sms),
            "call" => Some(Channel::Call),
            _ => None,
        }
    }
}

/// Where a verification stands. It leaves `Pending` once, for one of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerificationStatus {
    /// A code was (or is being) sent; waiting for it.
    Pending,
    /// Plivo accepted a code: the number is a verified caller ID.
    Verified,
    /// No right code came in time.
    Expired,
    /// Someone ended it.
    Cancelled,
    /// Plivo could not send a code, or too many wrong codes were entered.
    Failed,
}

impl VerificationStatus {
    pub const ALL: [VerificationStatus; 5] = [
        VerificationStatus::Pending,
        VerificationStatus::Verified,
        VerificationStatus::Expired,
        VerificationStatus::Cancelled,
        VerificationStatus::Failed,
    ];

    /// The stored form (the database's `CHECK` lists the same words).
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Pending => "pending",
            VerificationStatus::Verified => "verified",
            VerificationStatus::Expired => "expired",
            VerificationStatus::Cancelled => "cancelled",
            VerificationStatus::Failed => "failed",
        }
    }

    pub fn is_pending(self) -> bool {
        self == VerificationStatus::Pending
    }

    pub fn is_verified(self) -> bool {
        self == VerificationStatus::Verified
    }

    pub fn is_expired(self) -> bool {
        self == VerificationStatus::Expired
    }

    pub fn is_cancelled(self) -> bool {
        self == VerificationStatus::Cancelled
    }
}

impl std::fmt::Display for VerificationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
