//! Roles and what each may do (PRODUCT.md's table, in code).

use std::{fmt, str::FromStr};

/// A staff member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Auditor,
}

/// Something a role may or may not do. Every route checks one of these on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See caller IDs and pending verifications.
    ViewCallerIds,
    /// Start a verification, submit a code, send again, cancel.
    Verify,
    /// Edit a caller ID's alias or subaccount.
    EditCallerId,
    /// Delete a caller ID.
    DeleteCallerId,
    /// Start a sync by hand.
    SyncNow,
    /// Read and export the audit log and see the chain status.
    ReadAudit,
    /// Add, change and disable users.
    ManageUsers,
}

impl Permission {
    /// What it allows, to follow "may not": "delete caller IDs".
    pub fn description(self) -> &'static str {
        match self {
            Permission::ViewCallerIds => "see caller IDs",
            Permission::Verify => "verify numbers",
            Permission::EditCallerId => "edit caller IDs",
            Permission::DeleteCallerId => "delete caller IDs",
            Permission::SyncNow => "start a sync",
            Permission::ReadAudit => "read the audit log",
            Permission::ManageUsers => "manage users",
        }
    }
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Auditor];

    /// Whether this role may do `permission`.
    pub fn can(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(permission, ViewCallerIds | Verify | EditCallerId | SyncNow),
            Role::Auditor => matches!(permission, ViewCallerIds | ReadAudit),
        }
    }

    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Operator => "Operator",
            Role::Auditor => "Auditor",
        }
    }

    /// What the role may do, to follow "can": "verify numbers and edit caller IDs".
    pub fn description(self) -> &'static str {
        match self {
            Role::Admin => "do everything, including managing users and deleting caller IDs",
            Role::Operator => "verify numbers and edit caller IDs",
            Role::Auditor => "see caller IDs, and read and export the audit log",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A role name that isn't one of ours.
#[derive(Debug, thiserror::Error)]
#[error("no such role: {0:?} (choose admin, operator or auditor)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "auditor" => Ok(Role::Auditor),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_product_table() {
        use Permission::*;
        let table = [
            (ViewCallerIds, [true, true, true]),
            (Verify, [true, true, false]),
            (EditCallerId, [true, true, false]),
            (DeleteCallerId, [true, false, false]),
            (SyncNow, [true, true, false]),
            (ReadAudit, [true, false, true]),
            (ManageUsers, [true, false, false]),
        ];
        for (permission, expected) in table {
            for (role, allowed) in Role::ALL.into_iter().zip(expected) {
                assert_eq!(role.can(permission), allowed, "{role:?} {permission:?}");
            }
        }
    }

    #[test]
    fn roles_round_trip_through_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
