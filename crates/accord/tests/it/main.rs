//! Accord's HTTP integration tests: the real application on `127.0.0.1:0`, a fresh SQLite
//! database per test, the in-process sandbox platform, an injected clock.

mod api;
mod build_your_own;
mod canary;
mod embed;
mod flow;
mod funnel;
mod helpers;
mod ledger;
mod link_settings;
mod manage;
mod nda;
mod postgres;
mod receipts;
mod reconsent;
mod refresh;
mod return_redirect;
mod scaleout;
mod security;
mod smoke;
mod startup;
mod support;
mod webhooks;
