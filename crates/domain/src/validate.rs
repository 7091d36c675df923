//! Validation of values that arrive from outside: URLs, e-mail addresses, phone numbers, text.
//! Each failure names the field path, so the API can answer 422 with it (RFC 9457 extension).

use serde::Serialize;
use thiserror::Error;
use url::{Host, Url};

/// One invalid field: `path` is a JSON-pointer-like dotted path (`support.email`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// All the invalid fields of one input, reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Error)]
#[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(path, message)])
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// `Ok(())` when nothing was pushed, else `Err(self)`.
    pub fn into_result(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// URLs are https; plain http is accepted only for localhost when the operator allows it
/// (development): anything a customer is sent to, or a secret travels to, must not be readable
/// or changeable on the way.
pub fn check_url_scheme(url: &Url, allow_http_localhost: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_http_localhost && is_localhost(url) => {}
        "http" => return Err("must use https".to_owned()),
        other => return Err(format!("scheme `{other}` is not allowed; use https")),
    }
    if url.host().is_none() {
        return Err("must have a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    Ok(())
}

fn is_localhost(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses a URL field, checking its scheme and length.
pub fn url_field(path: &str, raw: &str, allow_http_localhost: bool) -> Result<Url, FieldError> {
    if raw.len() > 2048 {
        return Err(FieldError::new(path, "must be at most 2048 characters"));
    }
    // Parsing would percent-encode these, but the raw text is what settings keep and pages
    // print: refuse it rather than rely on every later use escaping it.
    if raw
        .trim()
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\' | '`'))
        || raw
            .chars()
            .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(FieldError::new(
            path,
            "must not contain spaces, quotes, angle brackets or control characters (percent-encode them)",
        ));
    }
    let url = Url::parse(raw.trim())
        .map_err(|e| FieldError::new(path, format!("is not a valid URL ({e})")))?;
    check_url_scheme(&url, allow_http_localhost).map_err(|m| FieldError::new(path, m))?;
    Ok(url)
}

/// Free text: trimmed, 1..=max characters, no control characters other than newlines and tabs,
/// and no bidirectional overrides (which can disguise text, CVE-2021-42574).
pub fn text_field(path: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new(path, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(FieldError::new(
            path,
            format!("must be at most {max} characters"),
        ));
    }
    if let Some(c) = t.chars().find(|c| is_forbidden_char(*c)) {
        return Err(FieldError::new(
            path,
            format!("contains a forbidden character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(t.to_owned())
}

fn is_forbidden_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t' && c != '\r')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// An e-mail address: a deliberately plain check (one `@`, a dotted domain, no spaces);
/// delivery is the only true test.
pub fn email_field(path: &str, raw: &str) -> Result<String, FieldError> {
    let t = text_field(path, raw, 254)?;
    let ok = match t.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !t
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ',' | ';'))
                && !domain.contains('@')
        }
        None => false,
    };
    if ok {
        Ok(t)
    } else {
        Err(FieldError::new(
            path,
            "must be an e-mail address like support@example.com",
        ))
    }
}

/// A phone number for a `tel:` link: digits, spaces and `+()-.`, 5 to 32 characters.
pub fn phone_field(path: &str, raw: &str) -> Result<String, FieldError> {
    let t = text_field(path, raw, 32)?;
    let digits = t.chars().filter(char::is_ascii_digit).count();
    if digits >= 5
        && t.chars()
            .all(|c| c.is_ascii_digit() || " +()-.".contains(c))
    {
        Ok(t)
    } else {
        Err(FieldError::new(
            path,
            "must be a phone number like +44 20 7946 0000",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_local_development() {
        assert!(url_field("u", "https://lender.example/privacy", false).is_ok());
        assert!(url_field("u", "http://lender.example/privacy", true).is_err());
        assert!(url_field("u", "http://localhost:8080/x", true).is_ok());
        assert!(url_field("u", "http://127.0.0.1:8080/x", false).is_err());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "https://user:pw@lender.example",
            "//lender.example",
            "ftp://x.example",
            "https://ok.example/\" onmouseover=\"alert(1)",
            "https://ok.example/<script>",
            "https://ok.example/a b",
            "https://ok.example/\u{202E}",
        ] {
            assert!(url_field("u", bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_refuses_controls_and_bidi() {
        assert_eq!(text_field("t", "  Hello  ", 10).unwrap(), "Hello");
        assert!(text_field("t", "", 10).is_err());
        assert!(text_field("t", "a\u{0}b", 10).is_err());
        assert!(text_field("t", "a\u{202E}b", 10).is_err());
        assert!(text_field("t", &"x".repeat(11), 10).is_err());
    }

    #[test]
    fn email_and_phone() {
        assert!(email_field("e", "help@lender.example").is_ok());
        for bad in [
            "nope",
            "a@b",
            "a@@b.example",
            "<a@b.example>",
            "a b@c.example",
        ] {
            assert!(email_field("e", bad).is_err(), "{bad}");
        }
        assert!(phone_field("p", "+44 20 7946 0000").is_ok());
        assert!(phone_field("p", "call me").is_err());
    }
}
