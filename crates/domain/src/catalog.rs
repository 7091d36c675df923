//! The platform catalog: which platforms a company can connect, their OAuth 2.0 endpoints and
//! the scopes each data type needs in each direction. Shipped as data (`catalog/platforms.toml`);
//! operators add or override entries in their own configuration.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;
use url::Url;

mod data_map;
pub use data_map::{DataEndpoint, DataEndpoints, DataMap, Identity, Pagination, UPSTREAM_ID};

/// The integration category a platform belongs to, shown to the customer so it knows what kind
/// of system it is connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Accounting,
    Banking,
    Commerce,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Accounting, Category::Banking, Category::Commerce];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Accounting => "accounting",
            Category::Banking => "banking",
            Category::Commerce => "commerce",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                CatalogError::Invalid(format!(
                    "unknown category `{s}` (allowed: accounting, banking, commerce)"
                ))
            })
    }
}

/// Which way data travels: `read` from the platform into the tenant, or `write` to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Read,
    Write,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Read => "read",
            Direction::Write => "write",
        }
    }
}

macro_rules! data_types {
    ($($variant:ident => $key:literal),+ $(,)?) => {
        /// A kind of business data a tenant may use. The key is the word used in API, catalog
        /// and Fluent message ids (`data-type-<key>`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum DataType {
            $(#[serde(rename = $key)] $variant,)+
        }

        impl DataType {
            pub const ALL: &'static [DataType] = &[$(DataType::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $(DataType::$variant => $key,)+ }
            }
        }

        impl FromStr for DataType {
            type Err = CatalogError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($key => Ok(DataType::$variant),)+
                    other => Err(CatalogError::Invalid(format!("unknown data type `{other}`"))),
                }
            }
        }
    };
}

data_types! {
    CompanyInfo => "company-info",
    Accounts => "accounts",
    Invoices => "invoices",
    Bills => "bills",
    Customers => "customers",
    Suppliers => "suppliers",
    Payments => "payments",
    BankAccounts => "bank-accounts",
    BankTransactions => "bank-transactions",
    BalanceSheet => "balance-sheet",
    ProfitAndLoss => "profit-and-loss",
    Orders => "orders",
    Products => "products",
    Payouts => "payouts",
    Disputes => "disputes",
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One data type used in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DataUse {
    pub data_type: DataType,
    pub direction: Direction,
}

/// A platform key: `[a-z0-9-]`, 1 to 40 characters, e.g. `xero`, `quickbooks-online`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlatformKey(String);

impl PlatformKey {
    pub fn parse(s: &str) -> Result<Self, CatalogError> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(CatalogError::Invalid(format!(
                "platform key `{}` must be 1 to 40 characters of a-z, 0-9 and inner hyphens",
                s.chars().take(60).collect::<String>()
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PlatformKey {
    type Error = CatalogError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PlatformKey> for String {
    fn from(k: PlatformKey) -> Self {
        k.0
    }
}

impl fmt::Display for PlatformKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TokenAuth {
    /// HTTP Basic with client id and secret (`client_secret_basic`), the RFC's recommended method.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// The platform's visual mark: a monogram on a colour, or a small inline SVG shipped in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// One to three characters drawn on `background`.
    pub monogram: String,
    pub background: String,
    #[serde(default = "default_foreground")]
    pub foreground: String,
}

fn default_foreground() -> String {
    "#FFFFFF".to_owned()
}

/// Scopes requested for one data type, per direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSet {
    #[serde(default)]
    pub read: Option<Vec<String>>,
    #[serde(default)]
    pub write: Option<Vec<String>>,
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    pub key: PlatformKey,
    pub name: String,
    pub category: Category,
    pub website: Option<String>,
    /// Public documentation the endpoints were taken from.
    pub docs: Option<String>,
    pub mark: Mark,
    /// May contain `{sandbox_url}` (the sandbox's base URL) or `{shop}` (per-store platforms).
    pub authorize_url: String,
    pub token_url: String,
    /// RFC 7009 revocation endpoint, when the platform has one.
    pub revoke_url: Option<String>,
    #[serde(default)]
    pub token_auth: TokenAuth,
    /// Whether the platform verifies PKCE. Accord sends S256 to every platform regardless.
    #[serde(default)]
    pub pkce: bool,
    #[serde(default = "default_separator")]
    pub scope_separator: String,
    /// Scopes always requested (e.g. `offline_access` for a refresh token).
    #[serde(default)]
    pub base_scopes: Vec<String>,
    /// Extra query parameters on the authorization request (e.g. `access_type=offline`).
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// Data type key → scopes per direction.
    #[serde(default)]
    pub scopes: BTreeMap<DataType, ScopeSet>,
    /// Where the platform's data API lives (a template like `authorize_url`). Without it the
    /// platform offers no data access through Accord.
    #[serde(default)]
    pub api_base: Option<String>,
    /// How to read who was connected at the platform.
    #[serde(default)]
    pub identity: Option<Identity>,
    /// Headers sent on every data call, e.g. `{ "xero-tenant-id" = "{upstream_id}" }`, so the
    /// call targets the connected organisation.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Data type key → the endpoint per direction (a direction needs its scopes).
    #[serde(default)]
    pub data: DataMap,
}

fn default_separator() -> String {
    " ".to_owned()
}

impl Platform {
    /// Whether this platform can serve `data_use`.
    pub fn supports(&self, data_use: DataUse) -> bool {
        self.scopes_for(data_use).is_some()
    }

    fn scopes_for(&self, data_use: DataUse) -> Option<&Vec<String>> {
        let set = self.scopes.get(&data_use.data_type)?;
        match data_use.direction {
            Direction::Read => set.read.as_ref(),
            Direction::Write => set.write.as_ref(),
        }
    }

    /// The scope string to request for these data uses: base scopes then each use's scopes,
    /// deduplicated in first-seen order, joined by the platform's separator.
    pub fn scope_for(&self, uses: &[DataUse]) -> String {
        let mut scopes: Vec<&str> = Vec::new();
        let all = self
            .base_scopes
            .iter()
            .chain(uses.iter().filter_map(|u| self.scopes_for(*u)).flatten());
        for s in all {
            if !scopes.contains(&s.as_str()) {
                scopes.push(s);
            }
        }
        scopes.join(&self.scope_separator)
    }

    /// The data uses of `wanted` that this platform supports, in the given order.
    pub fn supported_uses(&self, wanted: &[DataUse]) -> Vec<DataUse> {
        wanted
            .iter()
            .copied()
            .filter(|u| self.supports(*u))
            .collect()
    }

    /// Whether the authorization URL needs the customer's store name (`{shop}`).
    pub fn needs_shop(&self) -> bool {
        self.authorize_url.contains("{shop}")
            || self.token_url.contains("{shop}")
            || self
                .api_base
                .as_deref()
                .is_some_and(|b| b.contains("{shop}"))
    }

    pub fn is_sandbox(&self) -> bool {
        self.authorize_url.contains("{sandbox_url}")
    }

    fn validate(&self, allow_http_localhost: bool) -> Result<(), CatalogError> {
        let ctx = |what: &str| format!("platform `{}`: {what}", self.key);
        if self.name.trim().is_empty() || self.name.len() > 80 {
            return Err(CatalogError::Invalid(ctx(
                "name must be 1 to 80 characters",
            )));
        }
        let m = self.mark.monogram.chars().count();
        if m == 0 || m > 3 {
            return Err(CatalogError::Invalid(ctx(
                "mark.monogram must be 1 to 3 characters",
            )));
        }
        for colour in [&self.mark.background, &self.mark.foreground] {
            if !is_hex_colour(colour) {
                return Err(CatalogError::Invalid(ctx(&format!(
                    "mark colour `{colour}` must be #RRGGBB"
                ))));
            }
        }
        let mut urls = vec![
            ("authorize_url", &self.authorize_url),
            ("token_url", &self.token_url),
        ];
        if let Some(r) = &self.revoke_url {
            urls.push(("revoke_url", r));
        }
        for (field, raw) in urls {
            self.check_url(field, raw, allow_http_localhost)?;
        }
        if self.scopes.is_empty() {
            return Err(CatalogError::Invalid(ctx(
                "needs at least one data type in `scopes`",
            )));
        }
        self.validate_data_map(allow_http_localhost)
    }

    /// An endpoint template is a URL once its placeholders are filled in, and https (http only
    /// for localhost in development).
    fn check_url(
        &self,
        field: &str,
        raw: &str,
        allow_http_localhost: bool,
    ) -> Result<(), CatalogError> {
        let ctx = |what: &str| CatalogError::Invalid(format!("platform `{}`: {what}", self.key));
        let concrete = raw
            .replace("{sandbox_url}", "https://sandbox.invalid")
            .replace("{shop}", "shop");
        let url = Url::parse(&concrete).map_err(|e| ctx(&format!("{field} is not a URL: {e}")))?;
        crate::validate::check_url_scheme(&url, allow_http_localhost)
            .map_err(|e| ctx(&format!("{field}: {e}")))
    }
}

fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    platforms: Vec<Platform>,
}

/// The platforms known to this Accord instance, in display order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    platforms: Vec<Platform>,
}

/// The catalog shipped with Accord.
pub const SHIPPED_CATALOG: &str = include_str!("../../../catalog/platforms.toml");

impl Catalog {
    /// Parses a catalog document (the shipped file or an operator's additions).
    pub fn parse(toml_text: &str, allow_http_localhost: bool) -> Result<Self, CatalogError> {
        let file: CatalogFile =
            toml::from_str(toml_text).map_err(|e| CatalogError::Invalid(e.to_string()))?;
        let mut catalog = Catalog::default();
        for p in file.platforms {
            if catalog.get(&p.key).is_some() {
                return Err(CatalogError::Invalid(format!(
                    "platform `{}` is listed twice",
                    p.key
                )));
            }
            p.validate(allow_http_localhost)?;
            catalog.platforms.push(p);
        }
        Ok(catalog)
    }

    /// The shipped catalog with the operator's entries added; an entry with a shipped key replaces it.
    pub fn with_overrides(
        mut self,
        extra: Vec<Platform>,
        allow_http_localhost: bool,
    ) -> Result<Self, CatalogError> {
        for p in extra {
            p.validate(allow_http_localhost)?;
            match self.platforms.iter_mut().find(|q| q.key == p.key) {
                Some(slot) => *slot = p,
                None => self.platforms.push(p),
            }
        }
        Ok(self)
    }

    pub fn get(&self, key: &PlatformKey) -> Option<&Platform> {
        self.platforms.iter().find(|p| &p.key == key)
    }

    pub fn find(&self, key: &str) -> Option<&Platform> {
        self.platforms.iter().find(|p| p.key.as_str() == key)
    }

    pub fn all(&self) -> &[Platform] {
        &self.platforms
    }

    pub fn in_category(&self, category: Category) -> impl Iterator<Item = &Platform> {
        self.platforms
            .iter()
            .filter(move |p| p.category == category)
    }
}

/// Platform entries as written in an operator's configuration (`[[platforms]]`).
pub fn parse_platform_list(toml_text: &str) -> Result<Vec<Platform>, CatalogError> {
    let file: CatalogFile =
        toml::from_str(toml_text).map_err(|e| CatalogError::Invalid(e.to_string()))?;
    Ok(file.platforms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r##"
[[platforms]]
key = "acme-books"
name = "Acme Books"
category = "accounting"
authorize_url = "https://login.acme.example/authorize"
token_url = "https://login.acme.example/token"
base_scopes = ["offline_access"]
[platforms.mark]
monogram = "A"
background = "#123456"
[platforms.scopes.invoices]
read = ["invoices.read", "contacts.read"]
write = ["invoices.write"]
[platforms.scopes.customers]
read = ["contacts.read"]
"##;

    #[test]
    fn shipped_catalog_parses_and_has_the_sandbox() {
        let c = Catalog::parse(SHIPPED_CATALOG, false).expect("shipped catalog is valid");
        assert!(c.find("sandbox").is_some());
        for cat in Category::ALL {
            assert!(
                c.in_category(cat).count() > 0,
                "catalog has a {cat} platform"
            );
        }
    }

    #[test]
    fn scopes_are_deduplicated_in_order() {
        let c = Catalog::parse(ONE, false).unwrap();
        let p = c.find("acme-books").unwrap();
        let uses = [
            DataUse {
                data_type: DataType::Invoices,
                direction: Direction::Read,
            },
            DataUse {
                data_type: DataType::Customers,
                direction: Direction::Read,
            },
            DataUse {
                data_type: DataType::Bills,
                direction: Direction::Read,
            },
        ];
        assert_eq!(
            p.scope_for(&uses),
            "offline_access invoices.read contacts.read"
        );
        assert_eq!(p.supported_uses(&uses).len(), 2);
    }

    #[test]
    fn plain_http_endpoints_are_refused() {
        let bad = ONE.replace(
            "https://login.acme.example/token",
            "http://login.acme.example/token",
        );
        let err = Catalog::parse(&bad, false).unwrap_err();
        assert!(err.to_string().contains("token_url"), "{err}");
    }

    #[test]
    fn operator_override_replaces_by_key() {
        let c = Catalog::parse(ONE, false).unwrap();
        let mut extra = parse_platform_list(ONE).unwrap();
        extra[0].name = "Acme Books (EU)".into();
        let c = c.with_overrides(extra, false).unwrap();
        assert_eq!(c.all().len(), 1);
        assert_eq!(c.find("acme-books").unwrap().name, "Acme Books (EU)");
    }

    #[test]
    fn platform_keys_are_checked() {
        assert!(PlatformKey::parse("quickbooks-online").is_ok());
        for bad in ["", "Xero", "x/y", "-a", "a-", &"a".repeat(41)] {
            assert!(PlatformKey::parse(bad).is_err(), "{bad}");
        }
    }
}
