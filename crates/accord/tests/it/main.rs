//! Accord's HTTP integration tests: the real application on `127.0.0.1:0`, a fresh SQLite
//! database per test, the in-process sandbox platform, an injected clock.

mod api;
mod canary;
mod flow;
mod helpers;
mod ledger;
mod manage;
mod nda;
mod postgres;
mod receipts;
mod reconsent;
mod scaleout;
mod security;
mod smoke;
mod startup;
mod webhooks;
