//! callerdesk: verify phone numbers as Plivo caller IDs from a browser, with every step in a
//! tamper-evident audit log.
//!
//! Modules, in reading order:

/// Staff accounts as use cases (sign-in, setup, adding people, roles, passwords, access).
pub mod accounts;
/// The append-only, hash-chained audit log.
pub mod audit;
/// Password hashing, sign-in throttling and the session's contents.
pub mod auth;
/// Editing and deleting caller IDs as use cases (Plivo first, fail-closed).
pub mod caller_ids;
/// The command-line subcommands other than `serve`.
pub mod cli;
/// Time as a parameter, so expiry logic is testable.
pub mod clock;
/// Command line and environment: parsed by clap, validated into typed [`config::Settings`].
pub mod config;
/// SQLite: the writer/reader pools, migrations, and one module of SQL per table group.
pub mod db;
/// Types that are valid by construction (usernames, passwords, roles); no I/O.
pub mod domain;
/// The Plivo client and the Plivo sandbox.
pub mod plivo;
/// The Plivo sandbox: a stand-in for Plivo's API, served over HTTP, with its own tables.
pub mod sandbox;
/// Text for CSV cells that no spreadsheet runs as a formula, reversibly.
pub mod spreadsheet;
/// Building the application (state, router, background jobs) and serving it.
pub mod startup;
/// Reconciling the cache of caller IDs with Plivo.
pub mod sync;
/// Verifying a number: start, code, send again, cancel, expiry.
pub mod verify;
/// The web layer: router, middleware, one module per screen.
pub mod web;
