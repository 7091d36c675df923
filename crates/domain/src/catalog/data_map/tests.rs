use super::*;
use crate::catalog::{Catalog, SHIPPED_CATALOG};

const ACME: &str = r##"
[[platforms]]
key = "acme"
name = "Acme Books"
category = "accounting"
authorize_url = "https://login.acme.example/authorize"
token_url = "https://login.acme.example/token"
api_base = "https://api.acme.example/v2"
headers = { "acme-org" = "{upstream_id}" }
[platforms.mark]
monogram = "A"
background = "#123456"
[platforms.identity]
path = "/me"
id = "/org/id"
name = "/org/name"
docs = "https://developer.acme.example/me"
[platforms.scopes.invoices]
read = ["invoices.read"]
write = ["invoices.write"]
[platforms.scopes.bills]
read = ["bills.read"]
[platforms.scopes.customers]
read = ["contacts.read"]
[platforms.scopes.suppliers]
read = ["contacts.read"]
[platforms.scopes.bank-accounts]
read = ["bank.read"]
[platforms.scopes.bank-transactions]
read = ["bank.read"]
[platforms.data.invoices.read]
method = "GET"
path = "/orgs/{upstream_id}/invoices"
records = "/data"
pagination = { style = "cursor", cursor_param = "cursor", next_cursor = "/next" }
docs = "https://developer.acme.example/invoices"
[platforms.data.invoices.write]
method = "POST"
path = "/orgs/{upstream_id}/invoices"
records = "/data"
docs = "https://developer.acme.example/invoices#create"
[platforms.data.bills.read]
method = "GET"
path = "/orgs/{upstream_id}/bills"
records = "/data"
pagination = { style = "page", page_param = "page", page_size_param = "per_page" }
docs = "https://developer.acme.example/bills"
[platforms.data.customers.read]
method = "GET"
path = "/orgs/{upstream_id}/contacts?kind=customer"
records = "/data"
docs = "https://developer.acme.example/contacts"
[platforms.data.suppliers.read]
method = "GET"
path = "/orgs/{upstream_id}/contacts?kind=supplier"
records = "/data"
docs = "https://developer.acme.example/contacts"
[platforms.data.bank-accounts.read]
method = "GET"
path = "/orgs/{upstream_id}/bank-accounts"
records = "/data"
pagination = { style = "offset", offset_param = "offset", limit_param = "limit" }
docs = "https://developer.acme.example/bank-accounts"
[platforms.data.bank-transactions.read]
method = "GET"
path = "/orgs/{upstream_id}/bank-accounts/{upstream_id}/transactions"
records = "/data"
docs = "https://developer.acme.example/bank-transactions"
"##;

fn acme() -> Platform {
    Catalog::parse(ACME, false)
        .expect("the test entry is valid")
        .find("acme")
        .unwrap()
        .clone()
}

#[allow(clippy::unnecessary_wraps)] // the expected answer of `proxy_use`, as written in asserts
fn read(data_type: DataType) -> Option<DataUse> {
    Some(DataUse {
        data_type,
        direction: Direction::Read,
    })
}

#[allow(clippy::unnecessary_wraps)] // the expected answer of `proxy_use`, as written in asserts
fn write(data_type: DataType) -> Option<DataUse> {
    Some(DataUse {
        data_type,
        direction: Direction::Write,
    })
}

fn parse_err(text: &str) -> String {
    Catalog::parse(text, false).unwrap_err().to_string()
}

#[test]
fn the_entry_parses_into_endpoints_identity_and_headers() {
    let p = acme();
    let inv = p.data_endpoint(read(DataType::Invoices).unwrap()).unwrap();
    assert_eq!(inv.method, "GET");
    assert_eq!(inv.records, "/data");
    assert!(
        matches!(inv.pagination, Pagination::Cursor { ref cursor_param, .. } if cursor_param == "cursor")
    );
    let bills = p.data_endpoint(read(DataType::Bills).unwrap()).unwrap();
    assert_eq!(
        bills.pagination,
        Pagination::Page {
            page_param: "page".into(),
            page_size_param: Some("per_page".into()),
            first_page: 1
        }
    );
    let customers = p.data_endpoint(read(DataType::Customers).unwrap()).unwrap();
    assert_eq!(customers.path_only(), "/orgs/{upstream_id}/contacts");
    assert_eq!(customers.fixed_query(), Some("kind=customer"));
    assert_eq!(customers.pagination, Pagination::None);
    assert!(p.data_endpoint(write(DataType::Bills).unwrap()).is_none());
    assert_eq!(p.identity.as_ref().unwrap().id, "/org/id");
    assert_eq!(p.headers["acme-org"], "{upstream_id}");
}

#[test]
fn proxied_paths_map_to_their_data_type_and_direction() {
    let p = acme();
    let cases = [
        ("GET", "/orgs/o1/invoices", read(DataType::Invoices)),
        ("HEAD", "/orgs/o1/invoices", read(DataType::Invoices)),
        ("GET", "/orgs/o1/invoices/inv_1", read(DataType::Invoices)),
        ("POST", "/orgs/o1/invoices", write(DataType::Invoices)),
        ("PUT", "/orgs/o1/invoices/inv_1", write(DataType::Invoices)),
        (
            "PATCH",
            "/orgs/o1/invoices/inv_1",
            write(DataType::Invoices),
        ),
        (
            "DELETE",
            "/orgs/o1/invoices/inv_1",
            write(DataType::Invoices),
        ),
        ("GET", "/orgs/o1/bills/b_9", read(DataType::Bills)),
        // An exact match beats a record under a shorter path.
        (
            "GET",
            "/orgs/o1/bank-accounts/ba_1/transactions",
            read(DataType::BankTransactions),
        ),
        (
            "GET",
            "/orgs/o1/bank-accounts/ba_1",
            read(DataType::BankAccounts),
        ),
    ];
    for (method, path, expected) in cases {
        assert_eq!(p.proxy_use(method, path), expected, "{method} {path}");
    }
}

#[test]
fn unmapped_directions_methods_and_paths_are_refused() {
    let p = acme();
    assert_eq!(
        p.proxy_use("POST", "/orgs/o1/bills"),
        None,
        "bills are read-only here"
    );
    for method in ["OPTIONS", "TRACE", "CONNECT", "get", "Get", "PROPFIND", ""] {
        assert_eq!(p.proxy_use(method, "/orgs/o1/invoices"), None, "{method}");
    }
    for path in [
        "/",
        "",
        "/orgs",
        "/orgs/o1",
        "/orgs/o1/payments",
        "/orgs/o1/invoices/inv_1/attachments",
        "/orgs/o1/invoices/inv_1/attachments/a",
        "/other/o1/invoices",
        "/me",
    ] {
        assert_eq!(p.proxy_use("GET", path), None, "{path}");
    }
}

#[test]
fn a_path_two_data_types_share_is_refused() {
    // Customers and suppliers are both `/contacts`, told apart only by a query the proxy
    // does not control: Accord cannot tell which consent such a call needs.
    let p = acme();
    assert_eq!(p.proxy_use("GET", "/orgs/o1/contacts"), None);
    assert_eq!(p.proxy_use("GET", "/orgs/o1/contacts/c_1"), None);
}

#[test]
fn traversal_and_encoding_tricks_are_refused() {
    let p = acme();
    for path in [
        "/orgs/o1/invoices/../bank-accounts",
        "/orgs/o1/invoices/..",
        "/orgs/o1/invoices/.",
        "/orgs/o1/./invoices",
        "/orgs/o1/invoices/%2e%2e",
        "/orgs/o1/invoices/%2E%2E",
        "/orgs/o1/invoices/.%2e",
        "/orgs/o1/invoices/..%2fbank-accounts",
        "/orgs/o1/invoices%2F..%2Fbank-accounts",
        "/orgs/o1%2finvoices",
        "/orgs/o1/invoices/a%5c..%5cb",
        "/orgs/o1/invoices\\..\\bank-accounts",
        "/orgs/o1/invoices/a%00",
        "/orgs/o1/invoices/a\n",
        "//orgs/o1/invoices",
        "/orgs//o1/invoices",
        "/orgs/o1//invoices",
        "orgs/o1/invoices",
        "https://evil.example/orgs/o1/invoices",
        "/orgs/o1/invoices/",
        "/orgs/o1/invoices//",
    ] {
        assert_eq!(p.proxy_use("GET", path), None, "{path:?}");
    }
}

#[test]
fn literal_segments_match_case_sensitively() {
    let p = acme();
    assert_eq!(p.proxy_use("GET", "/orgs/o1/INVOICES"), None);
    assert_eq!(p.proxy_use("GET", "/Orgs/o1/invoices"), None);
    assert_eq!(
        p.proxy_use("GET", "/orgs/O1/invoices"),
        read(DataType::Invoices),
        "ids are any segment"
    );
}

#[test]
fn placeholders_inside_a_segment_match_around_their_literals() {
    assert!(segment_matches(
        "companies({upstream_id})",
        "companies(abc)"
    ));
    assert!(!segment_matches("companies({upstream_id})", "companies()"));
    assert!(!segment_matches(
        "companies({upstream_id})",
        "companies(abc"
    ));
    assert!(!segment_matches("companies({upstream_id})", "vendors(abc)"));
    assert!(segment_matches("{upstream_id}", "x"));
    assert!(!segment_matches("{upstream_id}", ""));
    assert!(segment_matches("orders", "orders"));
    assert!(!segment_matches("orders", "Orders"));
}

#[test]
fn a_mapping_without_its_scope_is_a_catalog_error() {
    let text = ACME.replace("write = [\"invoices.write\"]\n", "");
    let err = parse_err(&text);
    assert!(
        err.contains("platform `acme`") && err.contains("data.invoices.write"),
        "{err}"
    );
}

#[test]
fn bad_mappings_name_the_platform_and_key() {
    let bills = "path = \"/orgs/{upstream_id}/bills\"";
    let header = "\"acme-org\" = \"{upstream_id}\"";
    let cases = [
        (bills, "path = \"orgs/bills\"", "data.bills.read"),
        (bills, "path = \"/orgs/../bills\"", "data.bills.read"),
        (bills, "path = \"/orgs/{id}/bills\"", "data.bills.read"),
        (bills, "path = \"/orgs//bills\"", "data.bills.read"),
        (bills, "path = \"/orgs/%2fbills\"", "data.bills.read"),
        (
            "records = \"/data\"\npagination = { style = \"page\"",
            "records = \"data\"\npagination = { style = \"page\"",
            "data.bills.read",
        ),
        (
            "method = \"POST\"",
            "method = \"DELETE\"",
            "data.invoices.write",
        ),
        (
            "method = \"GET\"",
            "method = \"POST\"",
            "data.invoices.read",
        ),
        (
            "path = \"/me\"",
            "path = \"/me/{upstream_id}\"",
            "identity.path",
        ),
        ("id = \"/org/id\"", "id = \"org/id\"", "identity.id"),
        (header, "\"authorization\" = \"x\"", "headers.authorization"),
        (header, "\"Acme-Org\" = \"x\"", "headers.Acme-Org"),
        (header, "\"acme-org\" = \"{shop}\"", "headers.acme-org"),
        (
            "api_base = \"https://api.acme.example/v2\"",
            "api_base = \"http://api.acme.example/v2\"",
            "api_base",
        ),
        (
            "next_cursor = \"/next\"",
            "next_cursor = \"/next\", last_record_cursor = \"/id\"",
            "data.invoices.read",
        ),
        (
            "cursor_param = \"cursor\"",
            "cursor_param = \"cur sor\"",
            "data.invoices.read",
        ),
        // Unknown keys and styles fail in the TOML parser, which names the key itself.
        (
            "next_cursor = \"/next\"",
            "next_cursor = \"/next\", cursor2 = \"x\"",
            "cursor2",
        ),
        ("style = \"offset\"", "style = \"links\"", "links"),
    ];
    for (from, to, key) in cases {
        assert!(ACME.contains(from), "{from}");
        let err = parse_err(&ACME.replacen(from, to, 1));
        assert!(err.contains(key), "{to}: {err}");
    }
    let no_base = ACME.replace("api_base = \"https://api.acme.example/v2\"\n", "");
    let err = parse_err(&no_base);
    assert!(
        err.contains("platform `acme`") && err.contains("api_base"),
        "{err}"
    );
}

#[test]
fn an_organisation_named_on_the_redirect_is_read_by_name_only() {
    let identity = "path = \"/me\"\nid = \"/org/id\"";
    assert!(ACME.contains(identity));
    let from_callback = ACME.replacen(
        identity,
        "callback_param = \"realmId\"\npath = \"/orgs/{upstream_id}/info\"",
        1,
    );
    let catalog = Catalog::parse(&from_callback, false).unwrap();
    let spec = catalog.get(&acme().key).unwrap().identity.clone().unwrap();
    assert_eq!(spec.callback_param.as_deref(), Some("realmId"));
    assert_eq!(
        (spec.id.as_str(), spec.path.as_str()),
        ("", "/orgs/{upstream_id}/info")
    );
    for (to, key) in [
        (
            "callback_param = \"realmId\"\npath = \"/me\"\nid = \"/org/id\"",
            "identity.id",
        ),
        (
            "callback_param = \"realm id\"\npath = \"/me\"",
            "identity.callback_param",
        ),
        ("path = \"/me\"", "identity.id"),
    ] {
        let err = parse_err(&ACME.replacen(identity, to, 1));
        assert!(err.contains(key), "{to}: {err}");
    }
}

#[test]
fn an_absolute_identity_url_is_checked_like_the_other_urls() {
    let ok = ACME.replace(
        "path = \"/me\"",
        "path = \"https://id.acme.example/connections\"",
    );
    assert!(Catalog::parse(&ok, false).is_ok());
    let bad = ACME.replace(
        "path = \"/me\"",
        "path = \"http://id.acme.example/connections\"",
    );
    assert!(parse_err(&bad).contains("identity.path"));
}

#[test]
fn entries_without_a_data_map_still_parse() {
    let head = &ACME[..ACME.find("[platforms.identity]").unwrap()];
    let text = head
        .replace("api_base = \"https://api.acme.example/v2\"\n", "")
        .replace("headers = { \"acme-org\" = \"{upstream_id}\" }\n", "")
        + "[platforms.scopes.invoices]\nread = [\"r\"]\n";
    let c = Catalog::parse(&text, false).unwrap();
    let p = c.find("acme").unwrap();
    assert!(p.data.is_empty() && p.api_base.is_none() && p.identity.is_none());
    assert_eq!(p.proxy_use("GET", "/invoices"), None);
}

#[test]
fn every_shipped_mapping_has_a_docs_page_and_the_sandboxes_are_mapped_in_full() {
    let c = Catalog::parse(SHIPPED_CATALOG, false).unwrap();
    for p in c.all() {
        for endpoints in p.data.values() {
            for e in [&endpoints.read, &endpoints.write].into_iter().flatten() {
                assert!(
                    e.docs.starts_with("https://") || e.docs.starts_with("docs/"),
                    "{}: {}",
                    p.key,
                    e.docs
                );
            }
        }
        if p.is_sandbox() {
            assert!(p.identity.is_some(), "{}", p.key);
            for (data_type, scopes) in &p.scopes {
                let endpoints = &p.data[data_type];
                assert_eq!(scopes.read.is_some(), endpoints.read.is_some(), "{}", p.key);
                assert_eq!(
                    scopes.write.is_some(),
                    endpoints.write.is_some(),
                    "{}",
                    p.key
                );
            }
        }
    }
}

#[test]
fn shipped_real_platforms_place_proxied_calls() {
    let c = Catalog::parse(SHIPPED_CATALOG, false).unwrap();
    let xero = c.find("xero").unwrap();
    assert_eq!(
        xero.proxy_use("GET", "/BankTransactions"),
        read(DataType::BankTransactions)
    );
    assert_eq!(
        xero.proxy_use("GET", "/Invoices"),
        None,
        "invoices and bills share it"
    );
    assert_eq!(xero.proxy_use("GET", "/Invoices/../Accounts"), None);
    let qbo = c.find("quickbooks-online").unwrap();
    assert_eq!(
        qbo.proxy_use("GET", "/v3/company/123145/invoice/42"),
        read(DataType::Invoices)
    );
    assert_eq!(qbo.proxy_use("GET", "/v3/company/123145/query"), None);
    let stripe = c.find("stripe").unwrap();
    assert_eq!(
        stripe.proxy_use("GET", "/v1/charges/ch_1"),
        read(DataType::Payments)
    );
    assert_eq!(
        stripe.proxy_use("POST", "/v1/charges"),
        None,
        "read-only entry"
    );
    assert_eq!(stripe.proxy_use("GET", "/v1/balance"), None, "unmapped");
    let sandbox = c.find("sandbox").unwrap();
    assert_eq!(sandbox.proxy_use("POST", "/bills"), write(DataType::Bills));
    assert_eq!(sandbox.proxy_use("GET", "/organisation"), None);
}
