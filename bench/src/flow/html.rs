//! Just enough HTML reading for the flows: a form's action and its named fields (hidden inputs
//! and inputs with values; checkboxes left to the caller, who decides to tick them), and the
//! `href` of a link. A scanner over the tags rather than a DOM: the load generator shares the
//! machine's two cores with the servers, and a full parser per page would take more of them.

/// The form whose opening tag contains `marker` (e.g. `class="consent-form"`; "" for the first
/// form): its action and fields, in document order.
pub fn form(body: &str, marker: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut from = 0;
    loop {
        let start = from + body[from..].find("<form")?;
        let tag_end = start + body[start..].find('>')?;
        let tag = &body[start..=tag_end];
        if tag.contains(marker) {
            let end = tag_end
                + body[tag_end..]
                    .find("</form>")
                    .unwrap_or(body.len() - tag_end);
            let action = attr(tag, "action").unwrap_or_default();
            return Some((action, inputs(&body[tag_end..end])));
        }
        from = tag_end;
    }
}

fn inputs(inner: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = inner;
    while let Some(i) = rest.find("<input") {
        let Some(len) = rest[i..].find('>') else {
            break;
        };
        let tag = &rest[i..=i + len];
        rest = &rest[i + len..];
        let ty = attr(tag, "type").unwrap_or_else(|| "text".into());
        if ty == "checkbox" || ty == "radio" || ty == "submit" {
            continue;
        }
        if let Some(name) = attr(tag, "name") {
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
    }
    fields
}

/// The first `href` starting with `prefix`.
pub fn href(body: &str, prefix: &str) -> Option<String> {
    let needle = format!("href=\"{prefix}");
    let i = body.find(&needle)? + "href=\"".len();
    let end = i + body[i..].find('"')?;
    Some(unescape(&body[i..end]))
}

/// The value of the attribute `name` in one tag (double-quoted, as every template writes it).
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let i = tag.find(&needle)? + needle.len();
    let end = i + tag[i..].find('"')?;
    Some(unescape(&tag[i..end]))
}

/// Undoes HTML escaping of an attribute value: the named entities templates emit and numeric
/// character references.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        if let Some(c) = ch {
            out.push(c);
            rest = &rest[end + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_form_and_skips_checkboxes() {
        let body = r#"<form method="get" action="/x"></form>
<form method="post" action="/a?b=1&amp;c=2" class="consent-form">
<input type="hidden" name="csrf" value="t&#43;k">
<input type="checkbox" name="agree" value="yes">
<input name="login" value=""></form>"#;
        let (action, fields) = form(body, "consent-form").unwrap();
        assert_eq!(action, "/a?b=1&c=2");
        assert_eq!(
            fields,
            vec![
                ("csrf".into(), "t+k".into()),
                ("login".into(), String::new())
            ]
        );
        assert_eq!(
            href(r#"<a href="/link/platforms">"#, "/link/").unwrap(),
            "/link/platforms"
        );
    }
}
