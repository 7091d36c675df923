//! Accord's domain: the types and rules of consent-first authorization, with no I/O.
//!
//! Everything here is pure and unit-tested beside the code. Handlers parse input into these
//! types at the edge; the store persists them; nothing below this crate knows about HTTP or SQL.

pub mod access;
pub mod brand;
pub mod catalog;
pub mod clock;
pub mod colour;
pub mod connection;
pub mod consent;
pub mod console;
pub mod crypto;
pub mod flow;
pub mod funnel;
pub mod guardrails;
pub mod ids;
pub mod integration;
pub mod ledger;
pub mod link_mail;
pub mod locale;
pub mod nda;
pub mod netguard;
pub mod notice;
pub mod notice_change;
pub mod outbox;
pub mod receipt;
pub mod settings;
pub mod tenant;
pub mod validate;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock};
