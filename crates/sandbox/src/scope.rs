//! The scopes the sandbox understands, parsed from and written back to the space-delimited
//! `scope` parameter (RFC 6749 §3.3), with the words shown on the sign-in page.

use std::fmt;

/// A data resource served under `/api/{resource}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    CompanyInfo,
    Invoices,
    Bills,
    Customers,
    Suppliers,
    BankAccounts,
    BankTransactions,
    BalanceSheet,
    ProfitAndLoss,
    Orders,
    Products,
    Payouts,
}

impl Resource {
    pub const ALL: [Resource; 12] = [
        Resource::CompanyInfo,
        Resource::Invoices,
        Resource::Bills,
        Resource::Customers,
        Resource::Suppliers,
        Resource::BankAccounts,
        Resource::BankTransactions,
        Resource::BalanceSheet,
        Resource::ProfitAndLoss,
        Resource::Orders,
        Resource::Products,
        Resource::Payouts,
    ];

    /// The path segment and scope prefix, e.g. `bank-transactions`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::CompanyInfo => "company-info",
            Resource::Invoices => "invoices",
            Resource::Bills => "bills",
            Resource::Customers => "customers",
            Resource::Suppliers => "suppliers",
            Resource::BankAccounts => "bank-accounts",
            Resource::BankTransactions => "bank-transactions",
            Resource::BalanceSheet => "balance-sheet",
            Resource::ProfitAndLoss => "profit-and-loss",
            Resource::Orders => "orders",
            Resource::Products => "products",
            Resource::Payouts => "payouts",
        }
    }

    pub fn parse(s: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Words for the sign-in page, completing "your …".
    fn words(self) -> &'static str {
        match self {
            Resource::CompanyInfo => "company details",
            Resource::Invoices => "sales invoices",
            Resource::Bills => "supplier bills",
            Resource::Customers => "customers",
            Resource::Suppliers => "suppliers",
            Resource::BankAccounts => "bank accounts",
            Resource::BankTransactions => "bank transactions",
            Resource::BalanceSheet => "balance sheet",
            Resource::ProfitAndLoss => "profit and loss report",
            Resource::Orders => "orders",
            Resource::Products => "products",
            Resource::Payouts => "payouts",
        }
    }

    /// Only invoices and bills can be written.
    pub fn writable(self) -> bool {
        matches!(self, Resource::Invoices | Resource::Bills)
    }
}

/// One scope token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Ask for a refresh token (`OpenID` Connect Core §11 convention, widely used by platforms).
    OfflineAccess,
    Read(Resource),
    Write(Resource),
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        if s == "offline_access" {
            return Some(Scope::OfflineAccess);
        }
        let (resource, access) = s.split_once(':')?;
        let resource = Resource::parse(resource)?;
        match access {
            "read" => Some(Scope::Read(resource)),
            "write" if resource.writable() => Some(Scope::Write(resource)),
            _ => None,
        }
    }

    /// Every scope the server supports, for the RFC 8414 metadata.
    pub fn all() -> Vec<Scope> {
        let mut all = vec![Scope::OfflineAccess];
        all.extend(Resource::ALL.into_iter().map(Scope::Read));
        all.extend(
            Resource::ALL
                .into_iter()
                .filter(|r| r.writable())
                .map(Scope::Write),
        );
        all
    }

    /// A sentence for the sign-in page.
    pub fn describe(self) -> String {
        match self {
            Scope::OfflineAccess => {
                "Stay connected when you are not using the application (offline access)".to_owned()
            }
            Scope::Read(r) => format!("Read your {}", r.words()),
            Scope::Write(r) => format!("Create {}", r.words()),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::OfflineAccess => f.write_str("offline_access"),
            Scope::Read(r) => write!(f, "{}:read", r.as_str()),
            Scope::Write(r) => write!(f, "{}:write", r.as_str()),
        }
    }
}

/// A set of scopes, kept in request order without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(Vec<Scope>);

/// A scope token the server does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScope(pub String);

impl ScopeSet {
    /// Parses a `scope` parameter. RFC 6749 §3.3: space-delimited, order does not matter,
    /// so repeated tokens are folded into one.
    pub fn parse(s: &str) -> Result<ScopeSet, UnknownScope> {
        let mut scopes = Vec::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            let scope = Scope::parse(token).ok_or_else(|| UnknownScope(token.to_owned()))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(ScopeSet(scopes))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.iter().all(|s| other.contains(*s))
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// Both sets' scopes: this one's in order, then the other's it lacks.
    #[must_use]
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        let mut scopes = self.0.clone();
        scopes.extend(other.iter().filter(|s| !self.contains(*s)));
        ScopeSet(scopes)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{scope}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips() {
        for scope in Scope::all() {
            assert_eq!(Scope::parse(&scope.to_string()), Some(scope));
        }
        assert_eq!(Scope::all().len(), 15);
    }

    #[test]
    fn unknown_scopes_are_refused() {
        assert!(Scope::parse("customers:write").is_none());
        assert!(Scope::parse("payroll:read").is_none());
        assert!(Scope::parse("invoices").is_none());
        assert_eq!(
            ScopeSet::parse("invoices:read nope"),
            Err(UnknownScope("nope".into()))
        );
    }

    #[test]
    fn duplicates_fold_and_order_is_kept() {
        let set = ScopeSet::parse("invoices:read  offline_access invoices:read").unwrap();
        assert_eq!(set.to_string(), "invoices:read offline_access");
        assert!(ScopeSet::parse("offline_access")
            .unwrap()
            .is_subset_of(&set));
    }
}
