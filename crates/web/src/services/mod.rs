//! Operations shared by the hosted pages and the tenant API, so both surfaces do exactly the
//! same thing: tenants, notices and their rendering, OAuth with platforms, consent and disconnect,
//! signed mutual NDAs.

pub mod access;
pub mod byo;
pub mod connect;
pub mod console;
pub mod funnel;
pub mod integrity;
pub mod link_mail;
pub mod manage_links;
pub mod nda;
pub mod notice;
pub mod organisation;
pub mod receipts;
pub mod reconsent;
pub mod returns;
pub mod snapshot;
pub mod tenants;
