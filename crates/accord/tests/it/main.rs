//! Accord's HTTP integration tests: the real application on `127.0.0.1:0`, a fresh SQLite
//! database per test, the in-process sandbox platform, an injected clock.

// An end-to-end test is one story told step by step (a customer's whole flow, then what the
// tenant and the ledger see); cut into helpers it would read worse, so these may run long.
#![allow(clippy::too_many_lines)]

mod api;
mod api_keys;
mod backup;
mod build_your_own;
mod canary;
mod console;
mod console_cli;
mod console_inbox;
mod console_invite_mail;
mod console_settings;
mod crash;
mod data;
mod embed;
mod faults;
mod faults_disk;
mod faults_pg;
mod flow;
mod funnel;
mod helpers;
mod identity;
mod keys;
mod ledger;
mod ledger_read_only;
mod ledger_records;
mod link_settings;
mod manage;
mod manage_access;
mod manage_link_mail;
mod manage_links;
mod merkle;
mod nda;
mod operations;
mod postgres;
mod receipts;
mod reconsent;
mod refresh;
mod retention;
mod return_redirect;
mod scaleout;
mod security;
mod smoke;
mod smtp;
mod snapshot;
mod startup;
mod support;
mod unavailable;
mod webhooks;
