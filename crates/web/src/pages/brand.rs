//! The tenant's voice and look on a page: its Markdown copy rendered through the allow-list
//! with the placeholders filled in (after rendering, each value escaped, so a company name
//! cannot inject markup), its labels, its colours as a CSS variable pair that keeps contrast,
//! its theme, and its logo (served here with the type detected at upload and `nosniff`).

use crate::markdown;
use crate::pages::error::{PageError, PageErrorKind};
use crate::state::AppState;
use accord_domain::colour::{Palette, Rgb};
use accord_domain::ids::TenantId;
use accord_domain::locale::Locale;
use accord_domain::settings::{LinkSettings, Localized};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The values of the placeholders of tenant copy on one page.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    pub company_name: String,
    pub platform_name: String,
    pub tenant_name: String,
    /// Formatted for the page's language.
    pub connected_companies: String,
}

impl Placeholders {
    fn value(&self, token: &str) -> Option<&str> {
        Some(match token {
            "{companyName}" => &self.company_name,
            "{platformName}" => &self.platform_name,
            "{tenantName}" => &self.tenant_name,
            "{connectedCompanies}" => &self.connected_companies,
            _ => return None,
        })
    }

    /// Fills the placeholders of `text` in one pass (a value is never searched for more
    /// placeholders), escaping each value for HTML when `html` is set. Controls and bidi
    /// overrides in values are dropped, like in rendered copy.
    pub fn fill(&self, text: &str, html: bool) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let token = tail.find('}').map(|end| &tail[..=end]);
            if let Some((t, v)) = token.and_then(|t| self.value(t).map(|v| (t, v))) {
                {
                    let clean: String = v.chars().filter(|c| !markdown::is_hidden(*c)).collect();
                    if html {
                        escape_into(&mut out, &clean);
                    } else {
                        out.push_str(&clean);
                    }
                    rest = &tail[t.len()..];
                }
            } else {
                out.push('{');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }

    /// Tenant Markdown as safe HTML with the placeholders filled.
    pub fn markdown(&self, md: &str) -> String {
        self.fill(&markdown::render(md), true)
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A number as the page's language writes it (1,234 / 1 234).
pub fn format_count(n: i64, locale: Locale) -> String {
    let digits = n.unsigned_abs().to_string();
    let sep = match locale {
        Locale::En => ",",
        // A narrow no-break space, as French typography groups digits.
        Locale::Fr => "\u{202F}",
    };
    // Groups of three from the right: the first group takes what is left over.
    let first = match digits.len() % 3 {
        0 => 3,
        n => n,
    };
    let mut out = digits[..first].to_owned();
    let mut rest = &digits[first..];
    while !rest.is_empty() {
        out.push_str(sep);
        out.push_str(&rest[..3]);
        rest = &rest[3..];
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The tenant's text in `locale`, filled, when it set one.
pub fn plain(l: &Localized, locale: Locale, p: &Placeholders) -> Option<String> {
    l.get(locale).map(|t| p.fill(t, false))
}

/// The tenant's Markdown in `locale` as safe HTML, when it set one.
pub fn rich(l: &Localized, locale: Locale, p: &Placeholders) -> Option<String> {
    l.get(locale).map(|t| p.markdown(t))
}

/// The CSS of the tenant's brand colour: `--primary` and the text colour on it, and the link
/// colours on the light and dark pages, each pair at 4.5:1 or more ([`Palette`]). Only
/// validated `#rrggbb` values reach it, so the text is inert.
pub fn brand_css(settings: &LinkSettings) -> Option<String> {
    let rgb = Rgb::parse(settings.brand.primary_colour.as_deref()?)?;
    let p = Palette::for_brand(rgb);
    let (primary, on, light, dark) = (
        p.primary.hex(),
        p.on_primary.hex(),
        p.link_light.hex(),
        p.link_dark.hex(),
    );
    Some(format!(
        ":root{{--primary:{primary};--primary-fg:{on};--link:{light}}}\
         @media (prefers-color-scheme: dark){{:root:not([data-theme=light]){{--primary:{primary};--primary-fg:{on};--link:{dark}}}}}\
         :root[data-theme=dark]{{--primary:{primary};--primary-fg:{on};--link:{dark}}}"
    ))
}

/// `content` of `<meta name="color-scheme">` for the tenant's theme.
pub fn color_scheme(settings: &LinkSettings) -> &'static str {
    match settings.brand.theme {
        accord_domain::settings::Theme::Light => "light",
        accord_domain::settings::Theme::Dark => "dark",
        accord_domain::settings::Theme::System => "light dark",
    }
}

/// `GET /brand/{tenant}/logo`: the stored bytes with the type detected at upload, `nosniff`
/// (set by the page middleware) and a sandboxing CSP, so the file can only ever be an image.
pub async fn logo(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, PageError> {
    let id: TenantId = tenant
        .parse()
        .map_err(|_| PageError::new(PageErrorKind::NotFound))?;
    let logo = state
        .settings()
        .logo(id)
        .await?
        .ok_or(PageError::new(PageErrorKind::NotFound))?;
    let mut res = logo.bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(logo.format.content_type()),
    );
    // The URL carries the bytes' hash (`?v=`), so a new logo is a new URL.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline; filename=\"logo\""),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Placeholders {
        Placeholders {
            company_name: "<b>Acme</b> & \"Co\" {tenantName}\u{202E}".into(),
            platform_name: "Xero".into(),
            tenant_name: "Lender".into(),
            connected_companies: "1,204".into(),
        }
    }

    #[test]
    fn placeholders_are_filled_once_and_escaped() {
        let p = values();
        assert_eq!(
            p.fill("Hi {companyName}, {platformName} via {tenantName}: {nope} {", true),
            "Hi &lt;b&gt;Acme&lt;/b&gt; &amp; &quot;Co&quot; {tenantName}, Xero via Lender: {nope} {"
        );
        assert_eq!(
            p.fill("{companyName}", false),
            "<b>Acme</b> & \"Co\" {tenantName}",
            "plain text is escaped by the template"
        );
        let html = p.markdown("**{companyName}** joins {connectedCompanies} businesses");
        assert_eq!(
            html,
            "<p><strong>&lt;b&gt;Acme&lt;/b&gt; &amp; &quot;Co&quot; {tenantName}</strong> joins 1,204 businesses</p>\n"
        );
    }

    #[test]
    fn counts_are_grouped_per_language() {
        assert_eq!(format_count(0, Locale::En), "0");
        assert_eq!(format_count(999, Locale::En), "999");
        assert_eq!(format_count(40_000, Locale::En), "40,000");
        assert_eq!(
            format_count(1_234_567, Locale::Fr),
            "1\u{202F}234\u{202F}567"
        );
    }

    #[test]
    fn brand_css_pairs_pass_contrast() {
        let mut s = LinkSettings::default();
        assert_eq!(brand_css(&s), None);
        s.brand.primary_colour = Some("#ffd700".into());
        let css = brand_css(&s).unwrap();
        assert!(
            css.starts_with(":root{--primary:#FFD700;--primary-fg:#000000;--link:#1D4ED8}"),
            "{css}"
        );
    }
}
