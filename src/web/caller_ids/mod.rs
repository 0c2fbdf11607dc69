//! The caller ID screens: the list (home page) with search, filters and export, and one
//! number's page with editing, deleting and its history.

pub mod detail;
pub mod list;

use crate::{
    db::{Timestamp, caller_ids::CachedCallerId, subaccounts::SubaccountNames},
    web::format::When,
};

/// A caller ID as the pages show it.
#[derive(Debug, Clone)]
pub struct CallerIdView {
    /// `+1 202-555-1234`
    pub display: String,
    /// `12025551234`, for links.
    pub digits: String,
    pub e164: String,
    pub alias: String,
    pub country: String,
    pub subaccount: String,
    /// The subaccount's name at Plivo, when known.
    pub subaccount_name: Option<String>,
    /// Who verified it here, or `None` for "verified outside callerdesk".
    pub verified_by: Option<String>,
    pub verified: Option<When>,
    pub added_at_plivo: Option<When>,
    pub last_seen: Option<When>,
    pub removed: Option<When>,
}

impl CallerIdView {
    pub fn new(now: time::OffsetDateTime, row: &CachedCallerId) -> Self {
        let when = |t: &Option<Timestamp>| t.map(|t| When::of(now, t));
        let display = if row.display.is_empty() {
            row.phone_number.international()
        } else {
            row.display.clone()
        };
        Self {
            display,
            digits: row.phone_number.digits().to_owned(),
            e164: row.phone_number.as_str().to_owned(),
            alias: row.alias.clone(),
            country: row.country.clone(),
            subaccount: row.subaccount.clone(),
            subaccount_name: None,
            verified_by: row.verified_by_name.clone(),
            verified: when(&row.verified_at),
            added_at_plivo: when(&row.plivo_created_at).or_else(|| when(&row.first_seen_at)),
            last_seen: when(&row.last_seen_at),
            removed: when(&row.removed_at),
        }
    }

    /// With its subaccount's name.
    pub fn named(mut self, names: &SubaccountNames) -> Self {
        self.subaccount_name = names.name(&self.subaccount).map(str::to_owned);
        self
    }
}
