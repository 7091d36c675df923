//! Every user-facing string comes from Fluent files, English and French both complete; a test
//! checks they define the same messages. Each language has two resources in one bundle:
//! `locales/<lang>/accord.ftl` (the hosted flow and manage pages, which customers read) and
//! `locales/<lang>/console.ftl` (the tenant console, which the tenant's team reads); their
//! message ids must not collide (the bundle refuses a duplicate at start-up).

use accord_domain::guardrails::BuiltinLabels;
use accord_domain::locale::Locale;
use accord_domain::settings::Localized;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::collections::HashMap;
use std::sync::Arc;

/// The messages of the consent step's two buttons (the tenant may replace either).
pub const CONNECT_LABEL: &str = "consent-connect";
pub const DECLINE_LABEL: &str = "consent-decline";

const EN: &str = include_str!("../../../locales/en/accord.ftl");
const FR: &str = include_str!("../../../locales/fr/accord.ftl");
const EN_CONSOLE: &str = include_str!("../../../locales/en/console.ftl");
const FR_CONSOLE: &str = include_str!("../../../locales/fr/console.ftl");

/// Each language's resources, with the file each comes from (for start-up errors).
const RESOURCES: [(Locale, [(&str, &str); 2]); 2] = [
    (
        Locale::En,
        [("accord.ftl", EN), ("console.ftl", EN_CONSOLE)],
    ),
    (
        Locale::Fr,
        [("accord.ftl", FR), ("console.ftl", FR_CONSOLE)],
    ),
];

pub struct I18n {
    bundles: HashMap<Locale, FluentBundle<FluentResource>>,
    sources: HashMap<Locale, Vec<&'static str>>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I18n").finish_non_exhaustive()
    }
}

impl I18n {
    /// Loads the embedded Fluent files; any syntax error is a start-up error.
    pub fn load() -> Result<Self, String> {
        let mut bundles = HashMap::new();
        let mut sources = HashMap::new();
        for (locale, files) in RESOURCES {
            let lang = locale.as_str().parse().map_err(|e| format!("{e:?}"))?;
            let mut bundle = FluentBundle::new_concurrent(vec![lang]);
            // Isolation marks (U+2068/9) would end up inside HTML attributes and URLs.
            bundle.set_use_isolating(false);
            for (file, src) in files {
                let res = FluentResource::try_new(src.to_owned())
                    .map_err(|(_, errs)| format!("locales/{locale}/{file}: {errs:?}"))?;
                bundle
                    .add_resource(res)
                    .map_err(|errs| format!("locales/{locale}/{file}: {errs:?}"))?;
            }
            bundles.insert(locale, bundle);
            sources.insert(locale, files.iter().map(|(_, src)| *src).collect());
        }
        Ok(Self { bundles, sources })
    }

    /// The message `id` in `locale` with `args`; falls back to English, then to the id itself
    /// (which the completeness test makes impossible in a release).
    pub fn format(&self, locale: Locale, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        for loc in [locale, Locale::En] {
            let bundle = &self.bundles[&loc];
            if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let s = bundle.format_pattern(pattern, args, &mut errors);
                if !errors.is_empty() {
                    tracing::warn!(message_id = id, ?errors, "fluent formatting problem");
                }
                return s.into_owned();
            }
        }
        tracing::warn!(message_id = id, "missing fluent message");
        id.to_owned()
    }

    /// Accord's own Connect and Decline labels in every language: the guardrail compares a
    /// tenant label set alone with the one it will stand beside.
    pub fn builtin_labels(&self) -> BuiltinLabels {
        let each = |id: &str| Localized {
            en: Some(self.format(Locale::En, id, None)),
            fr: Some(self.format(Locale::Fr, id, None)),
        };
        BuiltinLabels {
            connect: each(CONNECT_LABEL),
            decline: each(DECLINE_LABEL),
        }
    }

    pub fn has(&self, locale: Locale, id: &str) -> bool {
        self.bundles[&locale].has_message(id)
    }

    /// Message ids defined in a locale's file (for the completeness test).
    pub fn message_ids(&self, locale: Locale) -> Vec<String> {
        self.sources[&locale]
            .iter()
            .flat_map(|src| src.lines())
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once('=').map(|(id, _)| id.trim().to_owned()))
            .collect()
    }
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// A date written out for a reader of `locale` ("2 December 2026", « 1er décembre 2026 »):
/// an ISO date reads as a code to a customer, and its order differs between the two languages.
pub fn long_date(locale: Locale, d: time::Date) -> String {
    let month = usize::from(u8::from(d.month())) - 1;
    match locale {
        Locale::En => format!("{} {} {}", d.day(), MONTHS_EN[month], d.year()),
        Locale::Fr if d.day() == 1 => format!("1er {} {}", MONTHS_FR[month], d.year()),
        Locale::Fr => format!("{} {} {}", d.day(), MONTHS_FR[month], d.year()),
    }
}

/// A moment, in UTC, written out for a reader of `locale` ("2 December 2026, 14:05 UTC",
/// « 2 décembre 2026 à 14 h 05 UTC », the French hour with its non-breaking spaces).
pub fn long_date_time(locale: Locale, at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let date = long_date(locale, at.date());
    match locale {
        Locale::En => format!("{date}, {:02}:{:02} UTC", at.hour(), at.minute()),
        Locale::Fr => format!("{date} à {}\u{a0}h\u{a0}{:02} UTC", at.hour(), at.minute()),
    }
}

/// A translator bound to one locale, handed to templates as `tr`.
#[derive(Clone)]
pub struct Tr {
    i18n: Arc<I18n>,
    pub locale: Locale,
}

impl Tr {
    pub fn new(i18n: Arc<I18n>, locale: Locale) -> Self {
        Self { i18n, locale }
    }

    /// Whether the message `id` exists (for codes chosen at run time).
    pub fn has(&self, id: &str) -> bool {
        self.i18n.has(self.locale, id)
    }

    /// A message without arguments.
    pub fn t(&self, id: &str) -> String {
        self.i18n.format(self.locale, id, None)
    }

    /// A message with string arguments: `tr.a("consent-title", &[("platform", name)])`.
    pub fn a(&self, id: &str, args: &[(&str, &str)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, FluentValue::from(*v));
        }
        self.i18n.format(self.locale, id, Some(&fa))
    }

    /// A message with one argument (for templates).
    pub fn a1(&self, id: &str, k: &str, v: &str) -> String {
        self.a(id, &[(k, v)])
    }

    /// A message with two arguments (for templates).
    pub fn a2(&self, id: &str, k1: &str, v1: &str, k2: &str, v2: &str) -> String {
        self.a(id, &[(k1, v1), (k2, v2)])
    }

    /// A message with one numeric argument (plural rules apply).
    pub fn n(&self, id: &str, key: &str, n: impl std::borrow::Borrow<i64>) -> String {
        let mut fa = FluentArgs::new();
        fa.set(key, FluentValue::from(*n.borrow()));
        self.i18n.format(self.locale, id, Some(&fa))
    }

    pub fn lang(&self) -> &'static str {
        self.locale.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_define_the_same_messages() {
        let i18n = I18n::load().expect("fluent files parse");
        let en = i18n.message_ids(Locale::En);
        let fr = i18n.message_ids(Locale::Fr);
        assert!(en.len() > 50, "English has its messages");
        let missing_fr: Vec<_> = en.iter().filter(|id| !i18n.has(Locale::Fr, id)).collect();
        let missing_en: Vec<_> = fr.iter().filter(|id| !i18n.has(Locale::En, id)).collect();
        assert!(missing_fr.is_empty(), "missing in French: {missing_fr:?}");
        assert!(missing_en.is_empty(), "missing in English: {missing_en:?}");
    }

    /// Every locale has both labels, so a tenant label set alone is always compared.
    #[test]
    fn builtin_labels_are_complete() {
        let labels = I18n::load().unwrap().builtin_labels();
        assert_eq!(labels.connect.en.as_deref(), Some("Agree and connect"));
        assert_eq!(labels.decline.fr.as_deref(), Some("Non merci"));
        for l in [&labels.connect, &labels.decline] {
            for locale in Locale::ALL {
                assert!(l
                    .get(locale)
                    .is_some_and(|t| t != CONNECT_LABEL && t != DECLINE_LABEL));
            }
        }
    }

    #[test]
    fn dates_read_as_words_in_each_language() {
        use time::macros::{date, datetime};
        assert_eq!(
            long_date(Locale::En, date!(2026 - 12 - 02)),
            "2 December 2026"
        );
        assert_eq!(
            long_date(Locale::Fr, date!(2026 - 12 - 02)),
            "2 décembre 2026"
        );
        assert_eq!(
            long_date(Locale::Fr, date!(2026 - 03 - 01)),
            "1er mars 2026"
        );
        assert_eq!(
            long_date_time(Locale::En, datetime!(2026-12-02 14:05 UTC)),
            "2 December 2026, 14:05 UTC"
        );
        assert_eq!(
            long_date_time(Locale::Fr, datetime!(2026-12-02 09:05 +01:00)),
            "2 décembre 2026 à 8\u{a0}h\u{a0}05 UTC"
        );
    }

    /// The text parts of every message (placeables' own syntax left out, select variants in).
    fn texts<'s>(pattern: &fluent_syntax::ast::Pattern<&'s str>, out: &mut Vec<&'s str>) {
        use fluent_syntax::ast::{Expression, PatternElement};
        for el in &pattern.elements {
            match el {
                PatternElement::TextElement { value } => out.push(value),
                PatternElement::Placeable {
                    expression: Expression::Select { variants, .. },
                } => {
                    for v in variants {
                        texts(&v.value, out);
                    }
                }
                PatternElement::Placeable { .. } => {}
            }
        }
    }

    /// French typography: a thin non-breaking space before `; ! ?` and inside « », a
    /// non-breaking space before `:`, the typographic apostrophe. A plain space there lets a
    /// browser wrap the sign onto a line of its own.
    #[test]
    fn french_typography_holds_in_every_message() {
        let mut bad = Vec::new();
        let entries = [FR, FR_CONSOLE].into_iter().flat_map(|src| {
            fluent_syntax::parser::parse(src)
                .expect("French file parses")
                .body
        });
        for entry in &entries.collect::<Vec<_>>() {
            let (id, value, attributes) = match entry {
                fluent_syntax::ast::Entry::Message(m) => {
                    (m.id.name, m.value.as_ref(), &m.attributes)
                }
                fluent_syntax::ast::Entry::Term(t) => (t.id.name, Some(&t.value), &t.attributes),
                _ => continue,
            };
            let mut parts = Vec::new();
            if let Some(p) = value {
                texts(p, &mut parts);
            }
            for a in attributes {
                texts(&a.value, &mut parts);
            }
            for text in parts {
                let chars: Vec<char> = text.chars().collect();
                for (i, c) in chars.iter().enumerate() {
                    let prev = i.checked_sub(1).map(|j| chars[j]);
                    let next = chars.get(i + 1);
                    let wrong = match c {
                        '\'' => true,
                        ':' | ';' | '!' | '?' | '»' => prev == Some(' '),
                        '«' => next == Some(&' '),
                        _ => false,
                    };
                    if wrong {
                        bad.push(format!("{id}: …{}…", text.trim()));
                        break;
                    }
                }
            }
        }
        assert!(bad.is_empty(), "French typography:\n{}", bad.join("\n"));
    }

    /// The check above is not vacuous.
    #[test]
    fn typography_check_sees_a_plain_space() {
        let res = fluent_syntax::parser::parse("x = Bonjour ! { $a } l'ami\n").unwrap();
        let fluent_syntax::ast::Entry::Message(m) = &res.body[0] else {
            panic!("a message")
        };
        let mut parts = Vec::new();
        texts(m.value.as_ref().unwrap(), &mut parts);
        assert_eq!(parts, ["Bonjour ! ", " l'ami"]);
    }

    #[test]
    fn arguments_are_substituted_without_isolation_marks() {
        let i18n = Arc::new(I18n::load().unwrap());
        let tr = Tr::new(i18n, Locale::Fr);
        let s = tr.a("consent-title", &[("platform", "Xero")]);
        assert!(s.contains("Xero") && !s.contains('\u{2068}'), "{s}");
    }
}
