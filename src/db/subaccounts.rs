//! The account's subaccounts by name, as the last sync found them at Plivo. Nothing here holds
//! a subaccount's auth token.

use std::collections::HashMap;

use sqlx::{FromRow, QueryBuilder, SqliteConnection, SqliteExecutor};

use super::Timestamp;
use crate::plivo::Subaccount;

/// A subaccount Plivo listed.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct KnownSubaccount {
    pub auth_id: String,
    pub name: String,
    pub enabled: bool,
}

/// Replaces the stored list with a complete one from Plivo.
pub async fn replace(
    conn: &mut SqliteConnection,
    listed: &[Subaccount],
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM subaccounts")
        .execute(&mut *conn)
        .await?;
    for chunk in listed.chunks(200) {
        let mut q = QueryBuilder::new(
            "INSERT OR REPLACE INTO subaccounts (auth_id, name, enabled, listed_at) ",
        );
        q.push_values(chunk, |mut row, s| {
            row.push_bind(&s.auth_id)
                .push_bind(s.name.as_deref().unwrap_or_default())
                .push_bind(s.enabled.unwrap_or(true))
                .push_bind(now);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every known subaccount, by name.
pub async fn all(db: impl SqliteExecutor<'_>) -> sqlx::Result<Vec<KnownSubaccount>> {
    sqlx::query_as(
        "SELECT auth_id, name, enabled FROM subaccounts ORDER BY name COLLATE NOCASE, auth_id",
    )
    .fetch_all(db)
    .await
}

/// What a subaccount picker offers, as `(id, what to show)`: "Main account" first when
/// `allow_none`, then every enabled subaccount by name, and `current` even if it is disabled or
/// unknown. Empty when no subaccount is known (the form then asks for an id).
pub async fn choices(
    db: impl SqliteExecutor<'_>,
    current: &str,
    allow_none: bool,
) -> sqlx::Result<Vec<(String, String)>> {
    let known = all(db).await?;
    if known.is_empty() {
        return Ok(Vec::new());
    }
    let names = SubaccountNames::from(known.as_slice());
    let mut offered: Vec<(String, String)> = Vec::new();
    if allow_none || current.is_empty() {
        offered.push((String::new(), names.label("")));
    }
    for s in known.iter().filter(|s| s.enabled || s.auth_id == current) {
        offered.push((s.auth_id.clone(), names.label(&s.auth_id)));
    }
    if !current.is_empty() && !offered.iter().any(|(id, _)| id == current) {
        offered.push((current.to_owned(), current.to_owned()));
    }
    Ok(offered)
}

/// Names for subaccount ids, for pages and audit sentences.
#[derive(Debug, Clone, Default)]
pub struct SubaccountNames(HashMap<String, String>);

impl SubaccountNames {
    pub async fn load(db: impl SqliteExecutor<'_>) -> sqlx::Result<Self> {
        Ok(Self::from(all(db).await?.as_slice()))
    }

    /// The subaccount's name, when Plivo gave it one.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }

    /// What a person reads for a caller ID's subaccount: its name, its id when the name is
    /// not known, or "Main account" for none.
    pub fn label(&self, id: &str) -> String {
        match (id, self.name(id)) {
            ("", _) => "Main account".to_owned(),
            (_, Some(name)) => name.to_owned(),
            (id, None) => id.to_owned(),
        }
    }
}

impl From<&[KnownSubaccount]> for SubaccountNames {
    fn from(known: &[KnownSubaccount]) -> Self {
        Self(
            known
                .iter()
                .filter(|s| !s.name.is_empty())
                .map(|s| (s.auth_id.clone(), s.name.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subaccount_reads_as_its_name_its_id_or_the_main_account() {
        let names = SubaccountNames::from(
            &[KnownSubaccount {
                auth_id: "SA2B3C4D5E6F7G8H9J0K".into(),
                name: "Sales".into(),
                enabled: true,
            }][..],
        );
        assert_eq!(names.label("SA2B3C4D5E6F7G8H9J0K"), "Sales");
        assert_eq!(names.label("SAKXQ7M2P9R4T6V8W1Y3"), "SAKXQ7M2P9R4T6V8W1Y3");
        assert_eq!(names.label(""), "Main account");
    }
}
