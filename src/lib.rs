//! callerdesk: verify phone numbers as Plivo caller IDs from a browser, with every step in a
//! tamper-evident audit log.
//!
//! Modules, in the order a newcomer should read them: the edges first (how it starts), then
//! the vocabulary and storage at the bottom, then the use cases, then the web layer on top.
//! Dependencies point down this list, never up.

// How it starts.
/// The command line: `serve` (the default) and the other subcommands, one module each.
pub mod cli;
/// The `serve` flags and environment, validated into typed [`config::Settings`].
pub mod config;
/// Building the application (state, router, background jobs) and serving it.
pub mod startup;

// The vocabulary, and where things are kept.
/// The append-only, hash-chained audit log, and the fail-closed record of Plivo calls.
pub mod audit;
/// Password hashing, sign-in throttling, where sessions are kept, random tokens.
pub mod auth;
/// Time as a parameter, so expiry logic is testable.
pub mod clock;
/// SQLite: the writer/reader pools, migrations, the types' mapping, and the SQL per table.
pub mod db;
/// Types that are valid by construction (numbers, names, passwords, roles, states); no I/O.
pub mod domain;
/// The typed Plivo client.
pub mod plivo;
/// The Plivo sandbox: a stand-in for Plivo's API, served over HTTP, with its own tables.
pub mod sandbox;
/// Text for CSV cells that no spreadsheet runs as a formula, reversibly.
pub mod spreadsheet;

// The use cases: what the pages and the command line call.
/// Staff accounts (sign-in, setup, adding people, roles, passwords, access).
pub mod accounts;
/// Editing and deleting caller IDs (Plivo first, fail-closed).
pub mod caller_ids;
/// Reconciling the cache of caller IDs with Plivo.
pub mod sync;
/// Verifying a number: start, code, send again, cancel, expiry, and their limits.
pub mod verify;

// On top.
/// The web layer: router, middleware, htmx and session helpers, one module per screen.
pub mod web;

/// The result of anything that can fail with `E` (by default a database error).
pub type Result<T, E = sqlx::Error> = std::result::Result<T, E>;
