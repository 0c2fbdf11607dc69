//! The command line's shape (clap): the subcommands and their flags. The `serve` flags, which
//! are also environment variables, are `config::ServeArgs`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::{
    config::{AuditKeyArgs, DatabaseArg, ServeArgs},
    domain::Role,
};

/// `callerdesk`: verify phone numbers as Plivo caller IDs, with an audit log.
#[derive(Debug, Parser)]
#[command(name = "callerdesk", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app (the default when no subcommand is given).
    Serve(Box<ServeArgs>),
    /// Manage staff accounts.
    User {
        #[command(flatten)]
        database: DatabaseArg,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Reconcile the cache of caller IDs with Plivo once, and print the summary.
    Sync(Box<ServeArgs>),
    /// Write a consistent copy of the database to PATH (safe while callerdesk runs).
    Backup {
        #[command(flatten)]
        database: DatabaseArg,
        /// Where to write the copy; an existing file is never overwritten.
        path: PathBuf,
        /// With a key set, the copy is also checked against the signed checkpoints.
        #[command(flatten)]
        audit: AuditKeyArgs,
    },
    /// Fill a database with made-up data, for benchmarks.
    #[command(hide = true)]
    Generate {
        #[command(flatten)]
        database: DatabaseArg,
        /// Audit events to append (with a valid chain).
        #[arg(long, default_value_t = 0)]
        audit_events: u64,
        /// Caller IDs to make sure the sandbox holds.
        #[arg(long, default_value_t = 0)]
        sandbox_caller_ids: u32,
        /// Then append this many events one transaction each, timing them (a benchmark).
        #[arg(long, default_value_t = 0)]
        measure_append: u64,
        /// Concurrent writers for --measure-append.
        #[arg(long, default_value_t = 8)]
        writers: u64,
    },
    /// Run the Plivo sandbox on its own (for tests and demos).
    Sandbox(SandboxArgs),
    /// Check or export the audit log.
    Audit {
        #[command(flatten)]
        database: DatabaseArg,
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. Prompts for the password unless --password-stdin is given.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// May sign in with a password even when password sign-in is off
        /// (CALLERDESK_PASSWORD_SIGNIN=false): the way in when the company's sign-in is down.
        #[arg(long)]
        break_glass: bool,
    },
    /// Set a user's password. Ends their sessions.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they can no longer sign in and their sessions end.
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Remove a user's authenticator app and recovery codes (they lost their phone).
    ResetTwoStep { name: String },
    /// List users.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain (and, with --checkpoints, that it agrees with every
    /// signed checkpoint); exit status 0 only when it does.
    Verify {
        /// A checkpoint file (CALLERDESK_AUDIT_CHECKPOINTS) to check the log against.
        #[arg(long, requires = "public_key")]
        checkpoints: Option<PathBuf>,
        /// The public key that signed the checkpoints (the .pub file `audit keygen` wrote).
        #[arg(long, requires = "checkpoints")]
        public_key: Option<PathBuf>,
    },
    /// Write a new Ed25519 key pair for signing checkpoints: the private key at PATH (readable by
    /// its owner only) and the public key at PATH.pub. Never overwrites a file.
    Keygen { path: PathBuf },
    /// Sign a checkpoint of the audit log's head now (with CALLERDESK_AUDIT_KEY).
    Checkpoint {
        #[command(flatten)]
        audit: AuditKeyArgs,
    },
    /// Write the audit log (or a date range of it) to standard output, oldest first.
    Export {
        #[arg(long, value_parser = ["csv", "jsonl"])]
        format: String,
        /// From this date (YYYY-MM-DD, UTC) or time (RFC 3339), inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Before this date (YYYY-MM-DD: to the end of that day, UTC) or time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
    },
}

/// `callerdesk sandbox`: a stand-in for Plivo's Verified Caller ID API.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// SQLite file holding the sandbox's caller IDs (created if missing).
    #[arg(long, default_value = "callerdesk-sandbox.db")]
    pub database: PathBuf,
    /// Make sure this many made-up verified caller IDs exist.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// The account id clients must use.
    #[arg(long, default_value = "MASANDBOX00000000000")]
    pub auth_id: String,
    /// The token clients must use.
    #[arg(long, default_value = "sandbox-token", hide_default_value = true)]
    pub auth_token: String,
    /// Add this many milliseconds to every API request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Answer this share (0 to 1) of API requests with an error.
    #[arg(long, default_value_t = 0.0)]
    pub fail_ratio: f64,
    /// The status those failures get.
    #[arg(long, default_value_t = 500)]
    pub fail_status: u16,
}

/// A role as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Operator,
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Operator => Role::Operator,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}
