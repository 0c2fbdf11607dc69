//! Configuration: the `serve` flags (clap, each also an environment variable) and their
//! validation into [`Settings`]. (The rest of the command line is `cli::args`.) A bad value becomes a [`ConfigError`] whose message is one
//! plain sentence naming the variable.

mod sso;

pub use sso::{ClientSecret, Oidc, SignInSettings, SsoArgs};

use clap::{Args, Parser};
use ipnet::IpNet;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{
    audit::{
        checkpoints::{AuditKey, Checkpointer},
        forward::Destination,
    },
    auth::sealed::SealingKey,
    plivo::{AuthToken, is_auth_id},
};

/// The database path, shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArg {
    /// Path of the SQLite file (created if missing).
    #[arg(
        long,
        env = "CALLERDESK_DATABASE",
        default_value = "callerdesk.db",
        global = true
    )]
    pub database: PathBuf,
}

/// The key that signs audit checkpoints and the file they go to (`serve`, `audit checkpoint`,
/// `backup`).
#[derive(Debug, Clone, Default, Args)]
pub struct AuditKeyArgs {
    /// Ed25519 private key (from `callerdesk audit keygen`) that signs checkpoints of the audit
    /// log; unset, no checkpoints are made.
    #[arg(long, env = "CALLERDESK_AUDIT_KEY")]
    pub audit_key: Option<PathBuf>,
    /// File the signed checkpoints are appended to, one JSON line each; best on other storage
    /// than the database (default: the database's path plus .checkpoints.jsonl).
    #[arg(long, env = "CALLERDESK_AUDIT_CHECKPOINTS")]
    pub audit_checkpoints: Option<PathBuf>,
}

impl AuditKeyArgs {
    /// The checkpointer these settings ask for, with its key read; `None` without a key.
    pub fn checkpointer(&self, database: &Path) -> Result<Option<Checkpointer>, ConfigError> {
        let Some(path) = self
            .audit_key
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        else {
            if self.audit_checkpoints.is_some() {
                return Err(bad(
                    "CALLERDESK_AUDIT_CHECKPOINTS",
                    "is set but CALLERDESK_AUDIT_KEY is not: checkpoints need the key that signs them (make one with `callerdesk audit keygen PATH`).",
                ));
            }
            return Ok(None);
        };
        let key = AuditKey::load(path)
            .map_err(|e| bad("CALLERDESK_AUDIT_KEY", format!("is unusable: {e}")))?;
        let file = self.audit_checkpoints.clone().unwrap_or_else(|| {
            let mut name = database.as_os_str().to_owned();
            name.push(".checkpoints.jsonl");
            PathBuf::from(name)
        });
        Ok(Some(Checkpointer { key, file }))
    }
}

/// The `serve` flags. Every value is taken as text and validated by [`Settings::from_args`], so
/// that a bad value is reported in our words, naming the environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Address to serve on.
    #[arg(long, env = "CALLERDESK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Plivo auth id (with PLIVO_AUTH_TOKEN: live mode; both unset: sandbox mode).
    #[arg(long, env = "PLIVO_AUTH_ID")]
    pub plivo_auth_id: Option<String>,
    /// Plivo auth token.
    #[arg(long, env = "PLIVO_AUTH_TOKEN", hide_env_values = true)]
    pub plivo_auth_token: Option<String>,
    /// Plivo's base URL.
    #[arg(
        long,
        env = "PLIVO_API_BASE",
        default_value = "https://api.plivo.com/v1/"
    )]
    pub plivo_api_base: String,
    /// How often the cache is reconciled with Plivo (`0` turns the schedule off).
    #[arg(long, env = "CALLERDESK_SYNC_INTERVAL", default_value = "15m")]
    pub sync_interval: String,
    /// Country assumed for numbers typed without `+` (two letters).
    #[arg(long, env = "CALLERDESK_DEFAULT_COUNTRY", default_value = "US")]
    pub default_country: String,
    /// Mark cookies Secure (set when served over HTTPS).
    #[arg(long, env = "CALLERDESK_SECURE_COOKIES", default_value = "false")]
    pub secure_cookies: String,
    /// Comma-separated CIDRs whose X-Forwarded-For is believed for the client IP.
    #[arg(long, env = "CALLERDESK_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// A session ends after this long without a request.
    #[arg(long, env = "CALLERDESK_SESSION_IDLE", default_value = "30m")]
    pub session_idle: String,
    /// A session ends this long after sign-in, however active.
    #[arg(long, env = "CALLERDESK_SESSION_MAX", default_value = "12h")]
    pub session_max: String,
    /// How long one call to Plivo may take, from sending to the last byte of the answer.
    #[arg(long, env = "CALLERDESK_PLIVO_TIMEOUT", default_value = "10s")]
    pub plivo_timeout: String,
    /// At most this many codes sent to one number in 24 hours.
    #[arg(
        long,
        env = "CALLERDESK_CODES_PER_NUMBER_PER_DAY",
        default_value = "10"
    )]
    pub codes_per_number_per_day: String,
    /// At most this many codes sent by one person in an hour.
    #[arg(
        long,
        env = "CALLERDESK_CODES_PER_PERSON_PER_HOUR",
        default_value = "30"
    )]
    pub codes_per_person_per_hour: String,
    /// How long after a code is sent before another can be sent for the same verification.
    #[arg(long, env = "CALLERDESK_RESEND_COOLDOWN", default_value = "60s")]
    pub resend_cooldown: String,
    /// Pages of the caller ID list a sync asks Plivo for at once (benchmarks compare with 1).
    #[arg(
        long,
        env = "CALLERDESK_SYNC_PAGES_IN_FLIGHT",
        default_value = "20",
        hide = true
    )]
    pub sync_pages_in_flight: String,
    /// How often the whole audit chain is checked again from the first event (`0`: only at
    /// start-up and on demand).
    #[arg(long, env = "CALLERDESK_AUDIT_CHECK_INTERVAL", default_value = "1h")]
    pub audit_check_interval: String,
    /// Forward every audit event to this syslog receiver: tcp://HOST:PORT (RFC 5424 over TCP).
    #[arg(long, env = "CALLERDESK_AUDIT_SYSLOG")]
    pub audit_syslog: Option<String>,
    /// Append every audit event to this JSON Lines file, for a log shipper.
    #[arg(long, env = "CALLERDESK_AUDIT_FILE")]
    pub audit_file: Option<PathBuf>,
    #[command(flatten)]
    pub audit: AuditKeyArgs,
    /// Every password account must use an authenticator app as a second step (set it up at
    /// the next sign-in).
    #[arg(long, env = "CALLERDESK_REQUIRE_TWO_STEP", default_value = "false")]
    pub require_two_step: String,
    #[command(flatten)]
    pub sso: SsoArgs,
    /// File holding the key that seals stored secrets (authenticator seeds); created when
    /// missing. Default: the database's path plus .secret-key.
    #[arg(long, env = "CALLERDESK_SECRET_KEY")]
    pub secret_key: Option<PathBuf>,
}

impl ServeArgs {
    /// The `serve` settings from the environment alone (for `callerdesk` with no subcommand).
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServeArgs,
        }
        Wrapper::try_parse_from(["callerdesk"]).map(|w| w.args)
    }
}

/// A configuration value that can't be used, with the variable it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Who we talk to for caller IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlivoMode {
    /// No credentials: the built-in sandbox; no real messages are sent.
    Sandbox,
    /// Real Plivo with these credentials.
    Live {
        auth_id: String,
        auth_token: AuthToken,
    },
}

/// Validated settings for `serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: PathBuf,
    pub listen: SocketAddr,
    pub plivo: PlivoMode,
    pub plivo_api_base: url::Url,
    /// `None` when the schedule is off.
    pub sync_interval: Option<Duration>,
    pub default_country: String,
    pub secure_cookies: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub session_idle: Duration,
    pub session_max: Duration,
    pub plivo_timeout: Duration,
    pub codes_per_number_per_day: u32,
    pub codes_per_person_per_hour: u32,
    pub resend_cooldown: Duration,
    pub sync_pages_in_flight: usize,
    /// `None`: the chain is checked in full only at start-up and on demand.
    pub audit_check_interval: Option<Duration>,
    /// Where every audit event is forwarded as it is committed.
    pub forward: Vec<Destination>,
    /// Signs checkpoints of the audit log, when a key is set.
    pub checkpoints: Option<Checkpointer>,
    /// Every password account signs in with a second step.
    pub require_two_step: bool,
    /// The file of the key that seals authenticator seeds.
    pub secret_key: PathBuf,
    /// Single sign-on and password sign-in.
    pub sign_in: SignInSettings,
}

impl Settings {
    /// Validates the flags, naming the variable of the first bad value.
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let listen = args.listen.trim().parse::<SocketAddr>().map_err(|_| {
            bad(
                "CALLERDESK_LISTEN",
                format!(
                    "must be an address and port such as 127.0.0.1:8080, not {:?}.",
                    args.listen
                ),
            )
        })?;
        let plivo = plivo_mode(
            args.plivo_auth_id.as_deref(),
            args.plivo_auth_token.as_deref(),
        )?;
        let plivo_api_base = api_base(&args.plivo_api_base)?;
        let sync_interval = duration("CALLERDESK_SYNC_INTERVAL", &args.sync_interval, true)?;
        let default_country = country(&args.default_country)?;
        let secure_cookies = boolean("CALLERDESK_SECURE_COOKIES", &args.secure_cookies)?;
        let trusted_proxies = cidrs(&args.trusted_proxies)?;
        let session_idle = duration("CALLERDESK_SESSION_IDLE", &args.session_idle, false)?
            .unwrap_or(Duration::from_secs(1800));
        let session_max = duration("CALLERDESK_SESSION_MAX", &args.session_max, false)?
            .unwrap_or(Duration::from_secs(12 * 3600));
        let plivo_timeout = duration("CALLERDESK_PLIVO_TIMEOUT", &args.plivo_timeout, false)?
            .unwrap_or(Duration::from_secs(10));
        let codes_per_number_per_day = count(
            "CALLERDESK_CODES_PER_NUMBER_PER_DAY",
            &args.codes_per_number_per_day,
        )?;
        let codes_per_person_per_hour = count(
            "CALLERDESK_CODES_PER_PERSON_PER_HOUR",
            &args.codes_per_person_per_hour,
        )?;
        let resend_cooldown = duration("CALLERDESK_RESEND_COOLDOWN", &args.resend_cooldown, false)?
            .unwrap_or(Duration::from_secs(60));
        let sync_pages_in_flight = count(
            "CALLERDESK_SYNC_PAGES_IN_FLIGHT",
            &args.sync_pages_in_flight,
        )? as usize;
        let checkpoints = args.audit.checkpointer(&args.database.database)?;
        let mut forward = Vec::new();
        if let Some(syslog) = non_empty(args.audit_syslog.as_deref()) {
            forward
                .push(Destination::syslog(syslog).map_err(|e| bad("CALLERDESK_AUDIT_SYSLOG", e))?);
        }
        if let Some(file) = args
            .audit_file
            .as_ref()
            .filter(|f| !f.as_os_str().is_empty())
        {
            forward.push(Destination::File(file.clone()));
        }
        let audit_check_interval = duration(
            "CALLERDESK_AUDIT_CHECK_INTERVAL",
            &args.audit_check_interval,
            true,
        )?;
        let require_two_step = boolean("CALLERDESK_REQUIRE_TWO_STEP", &args.require_two_step)?;
        let secret_key = args
            .secret_key
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| SealingKey::default_path(&args.database.database));
        let sign_in = SignInSettings::from_args(&args.sso)?;
        Ok(Self {
            database: args.database.database.clone(),
            listen,
            plivo,
            plivo_api_base,
            sync_interval,
            default_country,
            secure_cookies,
            trusted_proxies,
            session_idle,
            session_max,
            plivo_timeout,
            codes_per_number_per_day,
            codes_per_person_per_hour,
            resend_cooldown,
            sync_pages_in_flight,
            audit_check_interval,
            forward,
            checkpoints,
            require_two_step,
            secret_key,
            sign_in,
        })
    }

    pub fn is_sandbox(&self) -> bool {
        self.plivo == PlivoMode::Sandbox
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn plivo_mode(auth_id: Option<&str>, token: Option<&str>) -> Result<PlivoMode, ConfigError> {
    match (non_empty(auth_id), non_empty(token)) {
        (None, None) => Ok(PlivoMode::Sandbox),
        (Some(_), None) => Err(bad(
            "PLIVO_AUTH_TOKEN",
            "is not set but PLIVO_AUTH_ID is: set both for live mode, or neither for sandbox mode.",
        )),
        (None, Some(_)) => Err(bad(
            "PLIVO_AUTH_ID",
            "is not set but PLIVO_AUTH_TOKEN is: set both for live mode, or neither for sandbox mode.",
        )),
        (Some(id), Some(token)) => {
            if !is_auth_id(id) {
                return Err(bad(
                    "PLIVO_AUTH_ID",
                    "must be MA or SA followed by 18 capital letters or digits, as shown in Plivo's console.",
                ));
            }
            Ok(PlivoMode::Live {
                auth_id: id.to_owned(),
                auth_token: AuthToken::new(token.to_owned()),
            })
        }
    }
}

fn api_base(value: &str) -> Result<url::Url, ConfigError> {
    let parsed = url::Url::parse(value.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    let Some(mut url) = parsed else {
        return Err(bad(
            "PLIVO_API_BASE",
            format!(
                "must be an http or https URL such as https://api.plivo.com/v1/, not {value:?}."
            ),
        ));
    };
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn duration(
    variable: &'static str,
    value: &str,
    zero_means_off: bool,
) -> Result<Option<Duration>, ConfigError> {
    let value = value.trim();
    if value == "0" && zero_means_off {
        return Ok(None);
    }
    match humantime::parse_duration(value) {
        Ok(d) if !d.is_zero() => Ok(Some(d)),
        _ => Err(bad(
            variable,
            format!(
                "must be a duration such as 30s, 15m or 12h{}, not {value:?}.",
                if zero_means_off {
                    " (or 0 for off)"
                } else {
                    ""
                }
            ),
        )),
    }
}

fn count(variable: &'static str, value: &str) -> Result<u32, ConfigError> {
    match value.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad(
            variable,
            format!("must be a whole number of 1 or more, not {value:?}."),
        )),
    }
}

fn country(value: &str) -> Result<String, ConfigError> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(bad(
            "CALLERDESK_DEFAULT_COUNTRY",
            format!("must be a two-letter country code such as US or GB, not {value:?}."),
        ))
    }
}

fn boolean(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(bad(
            variable,
            format!("must be true or false, not {value:?}."),
        )),
    }
}

fn cidrs(value: &str) -> Result<Vec<IpNet>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    bad(
                        "CALLERDESK_TRUSTED_PROXIES",
                        format!("must be a comma-separated list of addresses or ranges such as 10.0.0.0/8, and {s:?} is neither."),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut ServeArgs)) -> Result<Settings, ConfigError> {
        let mut args = ServeArgs::from_env().unwrap();
        f(&mut args);
        Settings::from_args(&args)
    }

    #[test]
    fn defaults_give_sandbox_mode_on_localhost() {
        let s = with(|_| {}).unwrap();
        assert_eq!(s.plivo, PlivoMode::Sandbox);
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.sync_interval, Some(Duration::from_secs(900)));
        assert_eq!(s.default_country, "US");
        assert!(!s.secure_cookies);
        assert_eq!(s.session_idle, Duration::from_secs(1800));
    }

    #[test]
    fn one_plivo_variable_alone_names_the_missing_one() {
        let e = with(|a| a.plivo_auth_id = Some("MAXXXXXXXXXXXXXXXXXX".into())).unwrap_err();
        assert_eq!(e.variable, "PLIVO_AUTH_TOKEN");
        let e = with(|a| a.plivo_auth_token = Some("secret".into())).unwrap_err();
        assert_eq!(e.variable, "PLIVO_AUTH_ID");
    }

    #[test]
    fn the_token_is_never_printed() {
        let s = with(|a| {
            a.plivo_auth_id = Some("MAABCDEFGHIJ12345678".into());
            a.plivo_auth_token = Some("hunter2-super-secret".into());
        })
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let PlivoMode::Live { auth_token, .. } = &s.plivo else {
            panic!("expected live mode")
        };
        assert_eq!(auth_token.to_string(), "<redacted>");
        assert_eq!(auth_token.expose(), "hunter2-super-secret");
    }

    #[test]
    fn bad_values_name_their_variable() {
        type Change = fn(&mut ServeArgs);
        let cases: [(&str, Change); 6] = [
            ("CALLERDESK_LISTEN", |a| a.listen = "nope".into()),
            ("CALLERDESK_SYNC_INTERVAL", |a| {
                a.sync_interval = "soon".into()
            }),
            ("CALLERDESK_DEFAULT_COUNTRY", |a| {
                a.default_country = "USA".into()
            }),
            ("CALLERDESK_SECURE_COOKIES", |a| {
                a.secure_cookies = "maybe".into()
            }),
            ("CALLERDESK_TRUSTED_PROXIES", |a| {
                a.trusted_proxies = "10.0.0.0/99".into()
            }),
            ("PLIVO_API_BASE", |a| a.plivo_api_base = "ftp:/x".into()),
        ];
        for (variable, change) in cases {
            let e = with(change).unwrap_err();
            assert_eq!(e.variable, variable);
            assert!(e.to_string().starts_with(variable));
        }
    }

    #[test]
    fn sync_interval_zero_turns_the_schedule_off() {
        assert_eq!(
            with(|a| a.sync_interval = "0".into())
                .unwrap()
                .sync_interval,
            None
        );
    }

    #[test]
    fn trusted_proxies_accept_ranges_and_single_addresses() {
        let s = with(|a| a.trusted_proxies = "10.0.0.0/8, 192.168.1.5".into()).unwrap();
        assert_eq!(s.trusted_proxies.len(), 2);
    }
}
