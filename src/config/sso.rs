//! Single sign-on settings (OpenID Connect) and password sign-in's switch: the `serve` flags
//! and their validation. A bad combination is one sentence naming the variable to fix.

use clap::Args;

use super::{ConfigError, bad, boolean, non_empty};
use crate::domain::Role;

/// Single sign-on's flags (each also an environment variable).
#[derive(Debug, Clone, Default, Args)]
pub struct SsoArgs {
    /// The address people use to reach callerdesk, such as https://callerdesk.example.com
    /// (single sign-on sends them back to PUBLIC_URL/login/oidc/callback).
    #[arg(long, env = "CALLERDESK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The OpenID Connect provider's issuer URL (its discovery document is read from there).
    #[arg(long, env = "CALLERDESK_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client ID callerdesk was registered with at the provider.
    #[arg(long, env = "CALLERDESK_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret that goes with it.
    #[arg(long, env = "CALLERDESK_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// How the sign-in button names the provider: "Sign in with NAME" (default: your company
    /// account).
    #[arg(long, env = "CALLERDESK_OIDC_NAME")]
    pub oidc_name: Option<String>,
    /// The ID token claim that lists a person's groups (default: groups).
    #[arg(long, env = "CALLERDESK_OIDC_ROLES_CLAIM")]
    pub oidc_roles_claim: Option<String>,
    /// Comma-separated groups whose members are admins.
    #[arg(long, env = "CALLERDESK_OIDC_ADMIN_GROUPS")]
    pub oidc_admin_groups: Option<String>,
    /// Comma-separated groups whose members are operators.
    #[arg(long, env = "CALLERDESK_OIDC_OPERATOR_GROUPS")]
    pub oidc_operator_groups: Option<String>,
    /// Comma-separated groups whose members are auditors.
    #[arg(long, env = "CALLERDESK_OIDC_AUDITOR_GROUPS")]
    pub oidc_auditor_groups: Option<String>,
    /// Whether people may sign in with a password (false: only break-glass accounts may).
    #[arg(long, env = "CALLERDESK_PASSWORD_SIGNIN")]
    pub password_signin: Option<String>,
}

/// A secret that never prints.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Validated single sign-on settings.
#[derive(Debug, Clone)]
pub struct Oidc {
    /// The issuer as configured (its discovery document must name it exactly so).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// The button's wording.
    pub name: String,
    /// Where the provider sends people back: PUBLIC_URL/login/oidc/callback.
    pub redirect_url: url::Url,
    /// The claim holding the groups.
    pub roles_claim: String,
    /// Group → role, for every group named in the settings.
    pub groups: Vec<(String, Role)>,
}

impl Oidc {
    /// The highest role any of `groups` maps to (admin over operator over auditor).
    pub fn role_for(&self, groups: &[String]) -> Option<Role> {
        let rank = |role: Role| match role {
            Role::Admin => 3,
            Role::Operator => 2,
            Role::Auditor => 1,
        };
        self.groups
            .iter()
            .filter(|(group, _)| groups.iter().any(|g| g == group))
            .map(|(_, role)| *role)
            .max_by_key(|role| rank(*role))
    }
}

/// How people sign in.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    pub public_url: Option<url::Url>,
    pub oidc: Option<Oidc>,
    /// False: only break-glass accounts sign in with a password.
    pub password_signin: bool,
}

impl SignInSettings {
    pub fn from_args(args: &SsoArgs) -> Result<Self, ConfigError> {
        let public_url = non_empty(args.public_url.as_deref())
            .map(|value| {
                url::Url::parse(value)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| {
                        bad(
                            "CALLERDESK_PUBLIC_URL",
                            format!("must be the http or https address people use, such as https://callerdesk.example.com, not {value:?}."),
                        )
                    })
            })
            .transpose()?;
        let password_signin = match non_empty(args.password_signin.as_deref()) {
            None => true,
            Some(value) => boolean("CALLERDESK_PASSWORD_SIGNIN", value)?,
        };
        let oidc = oidc(args, public_url.as_ref())?;
        if oidc.is_none() && !password_signin {
            return Err(bad(
                "CALLERDESK_PASSWORD_SIGNIN",
                "is false but single sign-on is not set up (CALLERDESK_OIDC_ISSUER): only break-glass accounts could sign in. Set up single sign-on, or leave password sign-in on.",
            ));
        }
        Ok(Self {
            public_url,
            oidc,
            password_signin,
        })
    }
}

fn oidc(args: &SsoArgs, public_url: Option<&url::Url>) -> Result<Option<Oidc>, ConfigError> {
    let issuer = non_empty(args.oidc_issuer.as_deref());
    let client_id = non_empty(args.oidc_client_id.as_deref());
    let secret = non_empty(args.oidc_client_secret.as_deref());
    let group_lists = [
        (
            "CALLERDESK_OIDC_ADMIN_GROUPS",
            &args.oidc_admin_groups,
            Role::Admin,
        ),
        (
            "CALLERDESK_OIDC_OPERATOR_GROUPS",
            &args.oidc_operator_groups,
            Role::Operator,
        ),
        (
            "CALLERDESK_OIDC_AUDITOR_GROUPS",
            &args.oidc_auditor_groups,
            Role::Auditor,
        ),
    ];
    let Some(issuer) = issuer else {
        let stray = [
            ("CALLERDESK_OIDC_CLIENT_ID", client_id.is_some()),
            ("CALLERDESK_OIDC_CLIENT_SECRET", secret.is_some()),
        ]
        .into_iter()
        .chain(
            group_lists
                .iter()
                .map(|(name, value, _)| (*name, non_empty(value.as_deref()).is_some())),
        )
        .find(|(_, set)| *set);
        if let Some((variable, _)) = stray {
            return Err(bad(
                variable,
                "is set but CALLERDESK_OIDC_ISSUER is not: set the issuer (your provider's address) to turn on single sign-on.",
            ));
        }
        return Ok(None);
    };
    // Kept as typed: the discovery document's `issuer` must match it to the letter (Google's
    // has no trailing slash, Auth0's has one).
    let issuer = url::Url::parse(issuer)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .map(|_| issuer.to_owned())
        .ok_or_else(|| {
            bad(
                "CALLERDESK_OIDC_ISSUER",
                format!("must be the provider's https address, such as https://accounts.google.com, not {issuer:?}."),
            )
        })?;
    let needed = |variable: &'static str, value: Option<&str>| {
        value.map(str::to_owned).ok_or_else(|| {
            bad(
                variable,
                "is not set but CALLERDESK_OIDC_ISSUER is: single sign-on needs the issuer, the client ID and the client secret your provider gave callerdesk.",
            )
        })
    };
    let client_id = needed("CALLERDESK_OIDC_CLIENT_ID", client_id)?;
    let client_secret = ClientSecret(needed("CALLERDESK_OIDC_CLIENT_SECRET", secret)?);
    let Some(public_url) = public_url else {
        return Err(bad(
            "CALLERDESK_PUBLIC_URL",
            "is not set but single sign-on is: set it to the address people use to reach callerdesk, so the provider can send them back to it.",
        ));
    };
    let redirect_url = public_url
        .join("login/oidc/callback")
        .map_err(|e| bad("CALLERDESK_PUBLIC_URL", format!("can't be used: {e}.")))?;
    let mut groups: Vec<(String, Role)> = Vec::new();
    for (variable, value, role) in group_lists {
        for group in value.as_deref().unwrap_or("").split(',').map(str::trim) {
            if group.is_empty() {
                continue;
            }
            if let Some((_, other)) = groups.iter().find(|(g, _)| g == group) {
                return Err(bad(
                    variable,
                    format!(
                        "names the group {group:?}, which is already given the role {}: a group gives one role.",
                        other.as_str()
                    ),
                ));
            }
            groups.push((group.to_owned(), role));
        }
    }
    Ok(Some(Oidc {
        issuer,
        client_id,
        client_secret,
        name: non_empty(args.oidc_name.as_deref())
            .unwrap_or("your company account")
            .to_owned(),
        redirect_url,
        roles_claim: non_empty(args.oidc_roles_claim.as_deref())
            .unwrap_or("groups")
            .to_owned(),
        groups,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> SsoArgs {
        SsoArgs {
            public_url: Some("https://callerdesk.example.com/".into()),
            oidc_issuer: Some("https://id.example.com/realms/staff".into()),
            oidc_client_id: Some("callerdesk".into()),
            oidc_client_secret: Some("s3cret-value".into()),
            oidc_admin_groups: Some("it-admins".into()),
            oidc_operator_groups: Some("front-desk, sales".into()),
            oidc_auditor_groups: Some("audit".into()),
            ..SsoArgs::default()
        }
    }

    #[test]
    fn a_full_setup_derives_the_callback_and_maps_groups() {
        let s = SignInSettings::from_args(&full()).unwrap();
        let oidc = s.oidc.unwrap();
        assert_eq!(
            oidc.redirect_url.as_str(),
            "https://callerdesk.example.com/login/oidc/callback"
        );
        assert_eq!(oidc.name, "your company account");
        assert_eq!(oidc.roles_claim, "groups");
        let role = |groups: &[&str]| {
            oidc.role_for(&groups.iter().map(|g| g.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(role(&["sales"]), Some(Role::Operator));
        assert_eq!(role(&["audit", "it-admins"]), Some(Role::Admin));
        assert_eq!(role(&["everyone"]), None);
        assert!(!format!("{oidc:?}").contains("s3cret"));
    }

    #[test]
    fn bad_combinations_name_the_variable_to_fix() {
        type Change = fn(&mut SsoArgs);
        let cases: [(&str, Change); 7] = [
            ("CALLERDESK_OIDC_CLIENT_SECRET", |a| {
                a.oidc_client_secret = None
            }),
            ("CALLERDESK_OIDC_CLIENT_ID", |a| {
                a.oidc_client_id = Some(" ".into())
            }),
            ("CALLERDESK_PUBLIC_URL", |a| a.public_url = None),
            ("CALLERDESK_PUBLIC_URL", |a| {
                a.public_url = Some("callerdesk.example.com".into())
            }),
            ("CALLERDESK_OIDC_ISSUER", |a| {
                a.oidc_issuer = Some("not a url".into())
            }),
            ("CALLERDESK_OIDC_AUDITOR_GROUPS", |a| {
                a.oidc_auditor_groups = Some("sales".into())
            }),
            ("CALLERDESK_OIDC_CLIENT_ID", |a| {
                a.oidc_issuer = None;
            }),
        ];
        for (variable, change) in cases {
            let mut args = full();
            change(&mut args);
            let e = SignInSettings::from_args(&args).unwrap_err();
            assert_eq!(e.variable, variable, "{e}");
            assert!(e.problem.ends_with('.'), "{e}");
        }
        let e = SignInSettings::from_args(&SsoArgs {
            password_signin: Some("false".into()),
            ..SsoArgs::default()
        })
        .unwrap_err();
        assert_eq!(e.variable, "CALLERDESK_PASSWORD_SIGNIN");
        let plain = SignInSettings::from_args(&SsoArgs::default()).unwrap();
        assert!(plain.oidc.is_none() && plain.password_signin);
    }
}
