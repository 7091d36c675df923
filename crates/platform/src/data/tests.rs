use super::*;
use serde_json::json;

fn endpoint(pagination: Pagination) -> DataEndpoint {
    DataEndpoint {
        method: "GET".into(),
        path: "/orgs/{upstream_id}/invoices?status=open".into(),
        records: "/data".into(),
        pagination,
        docs: "https://developer.acme.example/invoices".into(),
    }
}

fn cursor_style() -> Pagination {
    Pagination::Cursor {
        cursor_param: "cursor".into(),
        next_cursor: Some("/next_cursor".into()),
        last_record_cursor: None,
        has_more: None,
        limit_param: Some("limit".into()),
    }
}

fn stripe_style() -> Pagination {
    Pagination::Cursor {
        cursor_param: "starting_after".into(),
        next_cursor: None,
        last_record_cursor: Some("/id".into()),
        has_more: Some("/has_more".into()),
        limit_param: Some("limit".into()),
    }
}

fn page_style(size_param: bool) -> Pagination {
    Pagination::Page {
        page_param: "page".into(),
        page_size_param: size_param.then(|| "pageSize".into()),
        first_page: 1,
    }
}

fn offset_style() -> Pagination {
    Pagination::Offset {
        offset_param: "offset".into(),
        limit_param: "limit".into(),
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn cursors_round_trip_and_are_opaque() {
    for c in [
        PageCursor::Cursor("abc/+=?&".into()),
        PageCursor::Page(3),
        PageCursor::Offset(40),
    ] {
        let encoded = c.encode();
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(PageCursor::decode(&encoded), Ok(c));
    }
    assert_eq!(
        PageCursor::Page(3).encode(),
        URL_SAFE_NO_PAD.encode(r#"{"p":3}"#)
    );
}

#[test]
fn malformed_cursors_are_refused() {
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    for bad in [
        String::new(),
        "not base64!".into(),
        b64("not json"),
        b64(r#"{"x":1}"#),
        b64(r#"{"p":-1}"#),
        b64(r#"{"p":"3"}"#),
        b64(r#"{"c":""}"#),
        b64(r#"{"p":1,"o":2}"#),
        b64("[]"),
        "A".repeat(3000),
    ] {
        assert_eq!(PageCursor::decode(&bad), Err(PageError::Malformed), "{bad}");
    }
}

#[test]
fn page_sizes_are_bounded() {
    assert_eq!(page_size(None), DEFAULT_PAGE_SIZE);
    assert_eq!(page_size(Some(0)), 1);
    assert_eq!(page_size(Some(5)), 5);
    assert_eq!(page_size(Some(10_000)), MAX_PAGE_SIZE);
}

#[test]
fn query_parameters_follow_the_platform_style() {
    let cursor = endpoint(cursor_style());
    assert_eq!(page_query(&cursor, None, 20), Ok(pairs(&[("limit", "20")])));
    assert_eq!(
        page_query(&cursor, Some(&PageCursor::Cursor("k".into())), 5),
        Ok(pairs(&[("cursor", "k"), ("limit", "5")]))
    );
    let page = endpoint(page_style(true));
    assert_eq!(
        page_query(&page, None, 20),
        Ok(pairs(&[("page", "1"), ("pageSize", "20")]))
    );
    assert_eq!(
        page_query(&page, Some(&PageCursor::Page(4)), 20),
        Ok(pairs(&[("page", "4"), ("pageSize", "20")]))
    );
    let offset = endpoint(offset_style());
    assert_eq!(
        page_query(&offset, Some(&PageCursor::Offset(40)), 20),
        Ok(pairs(&[("offset", "40"), ("limit", "20")]))
    );
    let none = endpoint(Pagination::None);
    assert_eq!(page_query(&none, None, 20), Ok(vec![]));
}

#[test]
fn a_cursor_of_another_style_is_refused() {
    let page = PageCursor::Page(2);
    let token = PageCursor::Cursor("k".into());
    assert_eq!(
        page_query(&endpoint(cursor_style()), Some(&page), 20),
        Err(PageError::WrongKind)
    );
    assert_eq!(
        page_query(&endpoint(page_style(false)), Some(&token), 20),
        Err(PageError::WrongKind)
    );
    assert_eq!(
        page_query(&endpoint(offset_style()), Some(&page), 20),
        Err(PageError::WrongKind)
    );
    assert_eq!(
        page_query(&endpoint(Pagination::None), Some(&page), 20),
        Err(PageError::WrongKind)
    );
}

#[test]
fn the_page_path_fills_the_organisation_and_keeps_the_template_query() {
    let e = endpoint(cursor_style());
    let c = PageCursor::Cursor("a b&c".into());
    assert_eq!(
        page_path(&e, Some("org_1"), Some(&c), 20).unwrap(),
        "/orgs/org_1/invoices?status=open&cursor=a+b%26c&limit=20"
    );
    assert_eq!(page_path(&e, None, None, 20), Err(CallError::BadUpstreamId));
    for bad in ["", "..", "a/b", "a%2fb", "a?b", "a b", "a\nb"] {
        assert_eq!(
            page_path(&e, Some(bad), None, 20),
            Err(CallError::BadUpstreamId),
            "{bad}"
        );
    }
    let plain = DataEndpoint {
        path: "/items".into(),
        ..endpoint(Pagination::None)
    };
    assert_eq!(page_path(&plain, None, None, 20).unwrap(), "/items");
}

#[test]
fn the_next_cursor_is_read_from_the_answer() {
    let e = endpoint(cursor_style());
    let answer = json!({"data": [1, 2], "next_cursor": "n2"});
    let page = read_page(&e, &answer, None, 2).unwrap();
    assert_eq!(page.records, json!([1, 2]));
    assert_eq!(page.next, Some(PageCursor::Cursor("n2".into())));
    for last in [
        json!({"data": [1], "next_cursor": null}),
        json!({"data": [1]}),
        json!({"data": [1], "next_cursor": ""}),
        json!({"data": [], "next_cursor": "n3"}),
    ] {
        assert_eq!(read_page(&e, &last, None, 2).unwrap().next, None, "{last}");
    }
    assert_eq!(
        read_page(&e, &json!({"items": []}), None, 2),
        Err(PageError::NoRecords)
    );
}

#[test]
fn stripe_style_pages_after_the_last_record_while_there_are_more() {
    let e = DataEndpoint {
        records: "/data".into(),
        ..endpoint(stripe_style())
    };
    let more =
        json!({"object": "list", "data": [{"id": "in_1"}, {"id": "in_2"}], "has_more": true});
    assert_eq!(
        read_page(&e, &more, None, 2).unwrap().next,
        Some(PageCursor::Cursor("in_2".into()))
    );
    let done = json!({"object": "list", "data": [{"id": "in_3"}], "has_more": false});
    assert_eq!(read_page(&e, &done, None, 2).unwrap().next, None);
}

#[test]
fn page_and_offset_styles_stop_at_a_short_page() {
    let page = endpoint(page_style(true));
    let full = json!({"data": [1, 2]});
    let short = json!({"data": [3]});
    let sent = PageCursor::Page(2);
    assert_eq!(
        read_page(&page, &full, Some(&sent), 2).unwrap().next,
        Some(PageCursor::Page(3))
    );
    assert_eq!(read_page(&page, &short, Some(&sent), 2).unwrap().next, None);
    // Without a page size the platform decides it: only an empty page ends the list.
    let unsized_page = endpoint(page_style(false));
    assert_eq!(
        read_page(&unsized_page, &short, None, 2).unwrap().next,
        Some(PageCursor::Page(2))
    );
    assert_eq!(
        read_page(&unsized_page, &json!({"data": []}), None, 2)
            .unwrap()
            .next,
        None
    );
    let offset = endpoint(offset_style());
    let sent = PageCursor::Offset(40);
    assert_eq!(
        read_page(&offset, &full, Some(&sent), 2).unwrap().next,
        Some(PageCursor::Offset(42))
    );
    assert_eq!(
        read_page(&offset, &short, Some(&sent), 2).unwrap().next,
        None
    );
}

#[test]
fn single_documents_have_no_next_page() {
    let e = DataEndpoint {
        path: "/company-info".into(),
        ..endpoint(Pagination::None)
    };
    let page = read_page(
        &e,
        &json!({"data": {"name": "Bluebell Bakery Ltd"}}),
        None,
        20,
    )
    .unwrap();
    assert_eq!(page.records, json!({"name": "Bluebell Bakery Ltd"}));
    assert_eq!(page.next, None);
}

fn base() -> Url {
    Url::parse("https://api.acme.example/v2").unwrap()
}

#[test]
fn paths_are_joined_under_the_api_base() {
    assert_eq!(
        join(&base(), "/invoices?page=2&x=%2F").unwrap().as_str(),
        "https://api.acme.example/v2/invoices?page=2&x=%2F"
    );
    let slash = Url::parse("https://api.acme.example/v2/").unwrap();
    assert_eq!(
        join(&slash, "/invoices/inv_1").unwrap().as_str(),
        "https://api.acme.example/v2/invoices/inv_1"
    );
    let root = Url::parse("https://acme.example").unwrap();
    assert_eq!(
        join(&root, "/a").unwrap().as_str(),
        "https://acme.example/a"
    );
}

#[test]
fn paths_that_could_leave_the_api_base_are_refused() {
    for bad in [
        "invoices",
        "",
        "//evil.example/x",
        "/invoices//x",
        "/../admin",
        "/invoices/../../admin",
        "/invoices/./x",
        "/invoices/..",
        "/%2e%2e/admin",
        "/%2E%2E/admin",
        "/invoices%2f..%2f..%2fadmin",
        "/invoices%2F..",
        "/a%5c..%5cb",
        "/a\\..\\b",
        "/a%00",
        "/a#frag",
        "/a b",
        "/a\r\nHost: evil",
        "https://evil.example/x",
        "/a?b?c",
        "@evil.example/x",
    ] {
        assert!(
            matches!(join(&base(), bad), Err(CallError::BadPath(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn retry_after_takes_seconds_and_http_dates() {
    assert_eq!(RetryAfter::parse("30"), Some(RetryAfter::Seconds(30)));
    assert_eq!(
        RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(RetryAfter::At(
            time::macros::datetime!(1994-11-06 08:49:37 UTC)
        ))
    );
    assert_eq!(RetryAfter::parse("soon"), None);
    assert_eq!(RetryAfter::parse("-1"), None);
}

#[test]
fn error_messages_are_safe_to_log() {
    let e = CallError::Unreachable("connection refused".into());
    assert_eq!(e.code(), "platform_unreachable");
    assert!(!CallError::BadUpstreamId.to_string().contains("Bearer"));
}

/// One HTTP exchange on a loopback port: the request's first line is returned, `body` answered.
fn answer_once(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        first
    });
    (base, server)
}

/// `QuickBooks` names the company only on the authorization redirect (`realmId`): that value is
/// the connection's organisation id and fills the identity path, and the name is read from the
/// company's `CompanyInfo`. Without a realm, or with one that is not a plain id, nothing is called.
#[tokio::test]
async fn quickbooks_takes_the_realm_from_the_callback() {
    let catalog =
        accord_domain::catalog::Catalog::parse(accord_domain::catalog::SHIPPED_CATALOG, false)
            .unwrap();
    let key = accord_domain::catalog::PlatformKey::parse("quickbooks-online").unwrap();
    let mut quickbooks = catalog.get(&key).expect("shipped").clone();
    assert_eq!(
        quickbooks
            .identity
            .as_ref()
            .and_then(|i| i.callback_param.as_deref()),
        Some("realmId")
    );
    let (base, server) =
        answer_once(r#"{"CompanyInfo":{"CompanyName":"Bluebell Bakery Ltd","Id":"1"}}"#);
    quickbooks.api_base = Some(base);
    let urls = crate::Urls {
        public_url: "http://127.0.0.1/".parse().unwrap(),
        sandbox_url: None,
    };
    let http = reqwest::Client::new();
    let found = identity(&http, &quickbooks, &urls, None, "token", Some("9130350"))
        .await
        .unwrap();
    assert_eq!(
        found,
        Upstream {
            id: "9130350".into(),
            name: "Bluebell Bakery Ltd".into()
        }
    );
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /v3/company/9130350/companyinfo/9130350 "),
        "{request}"
    );
    for realm in [None, Some("1/../2"), Some("")] {
        assert!(
            matches!(
                identity(&http, &quickbooks, &urls, None, "token", realm).await,
                Err(CallError::BadAnswer(_))
            ),
            "{realm:?}"
        );
    }
}

/// One HTTP exchange on a loopback port, answered with a chunked body written piece by piece
/// (each flushed, with a pause between, so the client sees them as separate chunks).
fn answer_in_pieces(pieces: Vec<Vec<u8>>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut stream = stream;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        for piece in pieces {
            // The client may stop reading once the answer is too large.
            if write!(stream, "{:x}\r\n", piece.len()).is_err()
                || stream.write_all(&piece).is_err()
                || stream.write_all(b"\r\n").is_err()
                || stream.flush().is_err()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    });
    base
}

async fn read_answer(base: String) -> Result<Bytes, CallError> {
    let mut platform =
        accord_domain::catalog::Catalog::parse(accord_domain::catalog::SHIPPED_CATALOG, false)
            .unwrap()
            .get(&accord_domain::catalog::PlatformKey::parse("sandbox").unwrap())
            .expect("shipped")
            .clone();
    platform.api_base = Some(base);
    platform.headers.clear();
    let urls = crate::Urls {
        public_url: "http://127.0.0.1/".parse().unwrap(),
        sandbox_url: None,
    };
    let request = PlatformRequest {
        method: Method::GET,
        path_and_query: "/invoices".into(),
        body: None,
        content_type: None,
        headers: HeaderMap::new(),
    };
    let http = reqwest::Client::new();
    call(&http, &platform, &urls, None, None, "token", &request)
        .await
        .map(|r| r.body)
}

/// The bounded reader hands on a lone chunk, gathers several in order, and cuts off an answer
/// that grows past the limit chunk by chunk (no `Content-Length` to refuse it up front).
#[tokio::test]
async fn answers_are_read_whole_in_order_and_bounded() {
    let lone = read_answer(answer_in_pieces(vec![b"{\"data\": []}".to_vec()])).await;
    assert_eq!(lone.unwrap(), Bytes::from_static(b"{\"data\": []}"));
    let pieces = ["{\"data\": ", "[1, 2", ", 3]", "}"];
    let several = read_answer(answer_in_pieces(
        pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
    ))
    .await;
    assert_eq!(several.unwrap(), Bytes::from(pieces.concat()));
    let mib = vec![b' '; 1024 * 1024];
    let too_large = read_answer(answer_in_pieces(vec![mib; 11])).await;
    assert!(
        matches!(too_large, Err(CallError::ResponseTooLarge)),
        "{too_large:?}"
    );
}
