//! The integration tests: one binary (every file directly in tests/ would be its own, slow to
//! link). Each test starts the real application on port 0 with a fresh SQLite file and drives it
//! over HTTP with a cookie-keeping client.

// Test code may fail loudly: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod audit_log;
mod audit_review;
mod auth;
mod browser;
mod bursts;
mod cache_follows_plivo;
mod caller_ids;
mod checkpoints;
mod cli;
mod closed_off;
mod code_refusals;
mod config_errors;
mod fault_matrix;
mod forwarding;
mod fragments;
mod group_commit;
mod helpers;
mod hostile;
mod plivo_client;
mod plivo_sandbox;
mod secrets;
mod security;
mod shutdown;
pub mod sso;
mod subaccounts;
mod sync;
mod sync_while_busy;
mod two_step;
mod users;
mod verify;
