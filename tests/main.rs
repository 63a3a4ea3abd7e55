//! Integration tests: one binary (so that 2 cores link once), a module per subject.
//! Every test talks HTTP to an emulator on 127.0.0.1:0 (and the state-store tests to a moto
//! S3 server on 127.0.0.1).

// Scenario tests read top to bottom as one story each, seeds are dates, and helpers take
// JSON literals by value.
#![allow(
    clippy::too_many_lines,
    clippy::unreadable_literal,
    clippy::many_single_char_names,
    clippy::needless_pass_by_value
)]

mod harness;
mod moto;
mod python_venv;
mod scenario;

mod across_runs;
mod apply;
mod cli_extras;
mod client;
mod emulator;
mod events;
mod faults;
mod fuzz;
mod grants;
mod hostile;
mod hostile_plans;
mod idp_e2e;
mod journal;
mod journal_log;
mod layers;
mod ocsf;
mod plan;
mod platform_users;
mod resilience;
mod scim_target;
mod sdk_contract;
mod security;
mod sources;
mod state_store;
mod writes;
