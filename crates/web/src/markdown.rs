//! Tenant-authored copy is Markdown rendered through a strict allow-list, so a tenant (or whoever
//! holds its API key) cannot put script or tracking on the consent screen: paragraphs,
//! emphasis, strong, lists, line breaks, inline code and links; links only `https:`, `mailto:`
//! and `tel:`. Raw HTML never passes: HTML events are rendered as escaped text. Images,
//! headings, tables and footnotes are flattened to text. The output cannot break the page, run
//! script or load anything.
//!
//! Why not ammonia: filtering pulldown-cmark's event stream is an allow-list by construction
//! (unknown events become text), and keeps html5ever out of the build.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

/// Renders tenant Markdown to safe HTML.
pub fn render(markdown: &str) -> String {
    let mut out = String::new();
    let mut skip_link_depth = 0usize;
    let events = Parser::new_ext(markdown, Options::empty()).filter_map(|ev| match ev {
        Event::Start(
            t @ (Tag::Paragraph | Tag::Emphasis | Tag::Strong | Tag::Item | Tag::List(_)),
        ) => Some(Event::Start(t)),
        Event::End(
            t @ (TagEnd::Paragraph
            | TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Item
            | TagEnd::List(_)),
        ) => Some(Event::End(t)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            id,
            ..
        }) => {
            if safe_href(&dest_url) {
                // Titles are dropped: the link text says enough.
                Some(Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title: CowStr::Borrowed(""),
                    id,
                }))
            } else {
                skip_link_depth += 1;
                None
            }
        }
        Event::End(TagEnd::Link) => {
            if skip_link_depth > 0 {
                skip_link_depth -= 1;
                None
            } else {
                Some(Event::End(TagEnd::Link))
            }
        }
        ev @ (Event::Code(_) | Event::SoftBreak | Event::HardBreak) => Some(ev),
        // Raw HTML is shown as the text it is, never interpreted.
        Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => Some(Event::Text(t)),
        // Everything else (headings, images, code blocks, rules…) is flattened away: its text
        // content still arrives as Text events.
        _ => None,
    });
    pulldown_cmark::html::push_html(&mut out, events.map(strip_controls));
    out
}

/// Bidirectional overrides and other controls could disguise text (CVE-2021-42574): dropped.
fn strip_controls(ev: Event<'_>) -> Event<'_> {
    match ev {
        Event::Text(t) if t.chars().any(is_hidden) => Event::Text(CowStr::from(
            t.chars().filter(|c| !is_hidden(*c)).collect::<String>(),
        )),
        other => other,
    }
}

pub fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Links allowed in tenant copy.
pub fn safe_href(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    let ok_scheme =
        lower.starts_with("https://") || lower.starts_with("mailto:") || lower.starts_with("tel:");
    ok_scheme
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn plain_markdown_renders() {
        assert_eq!(
            render("Hello *you*, **securely**."),
            "<p>Hello <em>you</em>, <strong>securely</strong>.</p>\n"
        );
        assert!(render("[guide](https://lender.example/guide)")
            .contains(r#"<a href="https://lender.example/guide">guide</a>"#));
        assert!(render("[call](tel:+442079460000)").contains(r#"href="tel:+442079460000""#));
    }

    #[test]
    fn hostile_input_is_inert() {
        let corpus = [
            "<script>window.__pwned=1</script>",
            "<img src=x onerror=alert(1)>",
            "\"><svg onload=alert(1)>",
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "[x](http://plain.example)",
            "![img](https://tracker.example/pixel.png)",
            "<a href=\"https://ok.example\" onclick=\"x()\">a</a>",
            "[x](https://ok.example \"t\\\" onmouseover=\\\"alert(1)\")",
            "a\u{202E}b\u{0}c",
        ];
        for input in corpus {
            let html = render(input);
            assert_only_allowed_markup(&html, input);
            assert!(
                !html.contains('\u{202E}') && !html.contains('\u{0}'),
                "{input} → {html:?}"
            );
        }
    }

    /// Every tag in the output is on the allow-list, and the only attribute is a safe `href`.
    fn assert_only_allowed_markup(html: &str, input: &str) {
        const TAGS: [&str; 9] = ["p", "em", "strong", "ul", "ol", "li", "a", "code", "br"];
        for piece in html.split('<').skip(1) {
            let tag_end = piece
                .find('>')
                .unwrap_or_else(|| panic!("unclosed tag from {input}: {html}"));
            let inner = &piece[..tag_end];
            let inner = inner.strip_prefix('/').unwrap_or(inner);
            let name: String = inner
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            assert!(
                TAGS.contains(&name.as_str()),
                "tag <{name}> from {input}: {html}"
            );
            let attrs = inner[name.len()..].trim().trim_end_matches('/').trim();
            if name == "a" && !attrs.is_empty() {
                let href = attrs
                    .strip_prefix("href=\"")
                    .and_then(|r| r.split_once('"'))
                    .map(|(h, rest)| (h, rest.trim()));
                let (h, rest) =
                    href.unwrap_or_else(|| panic!("odd <a> attributes from {input}: {html}"));
                assert!(
                    super::safe_href(h) && (rest.is_empty() || rest == "title=\"\""),
                    "href {h} from {input}"
                );
            } else {
                assert!(
                    attrs.is_empty() || name == "ol",
                    "attributes on <{name}> from {input}: {html}"
                );
            }
        }
    }

    #[test]
    fn huge_input_is_fine() {
        let big = "a".repeat(1 << 20);
        assert!(render(&big).len() > 1 << 20);
    }
}
