//! The link settings as a form: one labelled input per field of the settings document, grouped
//! in fieldsets, lists as numbered rows (with blank rows to add to, no script needed), and each
//! problem shown at the input it is about.
//!
//! A draft travels as a flat map from the document's paths to the text typed
//! (`landing.title.en`, `categories.1.requirement`), which are also the inputs' names and the
//! paths the validation names in its errors: an error finds its input by its path. The map is
//! turned into the settings document (the API's JSON shape) and checked exactly as the API
//! checks a `PUT`, so the form cannot accept what the API refuses.

use crate::i18n::Tr;
use accord_domain::catalog::{Catalog, Category};
use accord_domain::settings::LinkSettings;
use accord_domain::validate::FieldError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A draft: document path → text as typed.
pub type Draft = BTreeMap<String, String>;

/// The form's own control (not a field of the document): whether only the ticked platforms are
/// offered (`allowed_platforms` set) or every enabled platform (left out).
pub const RESTRICT: &str = "restrict_platforms";

/// The document's lists, each with its most rows (the document's own limits) and, for lists of
/// objects, the field that must be filled for a row to count.
const LISTS: [(&str, usize, Option<&str>); 6] = [
    ("trust_statistics", 5, None),
    ("third_parties", 50, None),
    ("categories", 3, Some("category")),
    ("allowed_platforms", 200, None),
    ("integration.embedding_origins", 20, None),
    ("integration.return_urls", 20, None),
];

/// Switches, sent as `true` when ticked and absent when not.
const SWITCHES: [&str; 4] = [
    "landing_enabled",
    "powered_by_badge",
    "allow_access_tokens",
    "support.form_enabled",
];

/// Form posts that are not fields of the document.
const CONTROLS: [&str; 6] = ["csrf", "document", "locale", "theme", "step", "width"];

/// The draft of saved settings.
pub fn from_settings(settings: &LinkSettings) -> Draft {
    let mut draft = Draft::new();
    let doc = serde_json::to_value(settings).unwrap_or(Value::Null);
    flatten(&doc, "", &mut draft);
    if settings.allowed_platforms.is_some() {
        draft.insert(RESTRICT.to_owned(), "true".to_owned());
    }
    for s in SWITCHES {
        draft
            .entry(s.to_owned())
            .or_insert_with(|| "false".to_owned());
    }
    draft
}

fn flatten(v: &Value, path: &str, out: &mut Draft) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(map) => map.iter().for_each(|(k, c)| flatten(c, &join(k), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, c)| flatten(c, &join(&i.to_string()), out)),
        Value::String(s) => {
            out.insert(path.to_owned(), s.clone());
        }
        Value::Bool(b) => {
            out.insert(path.to_owned(), b.to_string());
        }
        Value::Number(n) => {
            out.insert(path.to_owned(), n.to_string());
        }
        Value::Null => {}
    }
}

/// A list's rows as posted: row number → (field within the row, text).
type Rows = BTreeMap<usize, Vec<(String, String)>>;

/// The draft of a posted form: empty values and blank rows dropped, each list's rows numbered
/// again from 0 (so the errors' paths and the inputs shown again agree).
pub fn from_post(pairs: Vec<(String, String)>) -> Draft {
    let mut draft = Draft::new();
    let mut rows: BTreeMap<&str, Rows> = BTreeMap::new();
    'pairs: for (k, v) in pairs {
        if CONTROLS.contains(&k.as_str()) || v.is_empty() {
            continue;
        }
        for (list, max, _) in LISTS {
            let Some(rest) = k.strip_prefix(list).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
            if let Ok(i) = index.parse::<usize>() {
                // A row number far beyond the list's limit is not a row of this form.
                if i < max.max(400) {
                    rows.entry(list)
                        .or_default()
                        .entry(i)
                        .or_default()
                        .push((field.to_owned(), v));
                }
                continue 'pairs;
            }
        }
        draft.insert(k, v);
    }
    for (list, _, key) in LISTS {
        let Some(found) = rows.remove(list) else {
            continue;
        };
        let kept = found
            .into_values()
            .filter(|row| key.is_none_or(|key| row.iter().any(|(f, _)| f == key)));
        for (n, row) in kept.enumerate() {
            for (field, v) in row {
                let path = if field.is_empty() {
                    format!("{list}.{n}")
                } else {
                    format!("{list}.{n}.{field}")
                };
                draft.insert(path, v);
            }
        }
    }
    draft
}

/// The settings document of a draft (the API's JSON), or the fields whose text cannot be a
/// value of the document at all.
pub fn to_document(draft: &Draft) -> Result<Value, Vec<FieldError>> {
    let mut root = Value::Object(Map::new());
    let mut problems = Vec::new();
    for (path, text) in draft {
        if path == RESTRICT || SWITCHES.contains(&path.as_str()) {
            continue;
        }
        let platform = path == "allowed_platforms" || path.starts_with("allowed_platforms.");
        if platform && draft.get(RESTRICT).map(String::as_str) != Some("true") {
            continue;
        }
        let value = if path == "consent_validity_days" {
            if let Ok(n) = text.trim().parse::<u32>() {
                Value::from(n)
            } else {
                problems.push(FieldError::new(
                    path.clone(),
                    "must be a whole number of days",
                ));
                continue;
            }
        } else {
            Value::String(text.clone())
        };
        insert(&mut root, path, value);
    }
    for s in SWITCHES {
        let on = draft.get(s).map(String::as_str) == Some("true");
        insert(&mut root, s, Value::Bool(on));
    }
    if draft.get(RESTRICT).map(String::as_str) == Some("true")
        && root.get("allowed_platforms").is_none()
    {
        insert(&mut root, "allowed_platforms", Value::Object(Map::new()));
    }
    if let Some(mnda) = root.get_mut("mnda").and_then(Value::as_object_mut) {
        // A started NDA names what it still lacks at its fields, not as a missing key.
        for k in ["signatory_name", "signatory_title"] {
            mnda.entry(k)
                .or_insert_with(|| Value::String(String::new()));
        }
        mnda.entry("template")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    for (list, _, _) in LISTS {
        to_array(&mut root, list);
    }
    if problems.is_empty() {
        Ok(root)
    } else {
        Err(problems)
    }
}

fn insert(root: &mut Value, path: &str, value: Value) {
    let mut at = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some(map) = at.as_object_mut() else {
            return;
        };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        at = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The object of numbered rows at `path` as the list it stands for, in row order.
fn to_array(root: &mut Value, path: &str) {
    let mut at = root;
    for part in path.split('.') {
        match at.get_mut(part) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Value::Object(rows) = at {
        let mut items: Vec<(usize, Value)> = std::mem::take(rows)
            .into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        *at = Value::Array(items.into_iter().map(|(_, v)| v).collect());
    }
}

/// How an input is drawn.
pub enum Kind {
    Text,
    Url,
    Email,
    Tel,
    Number,
    /// A textarea of so many rows.
    Area(u8),
    Check,
    Select(Vec<Choice>),
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One input of the form, with the problems found at its field.
pub struct Input {
    pub name: String,
    pub label: String,
    pub kind: Kind,
    pub value: String,
    pub errors: Vec<String>,
    /// Written as a language (`lang` attribute) other than the console's.
    pub lang: Option<&'static str>,
}

impl Input {
    pub fn checked(&self) -> bool {
        self.value == "true"
    }

    pub fn is_check(&self) -> bool {
        matches!(self.kind, Kind::Check)
    }
}

/// Inputs drawn together under a legend (a row of a list, a text in both languages).
pub struct Group {
    pub legend: Option<String>,
    pub inputs: Vec<Input>,
}

pub struct Fieldset {
    pub id: &'static str,
    pub legend: String,
    pub hint: Option<String>,
    /// Drawn folded (a `<details>`), unless one of its fields has a problem.
    pub folded: bool,
    pub groups: Vec<Group>,
}

impl Fieldset {
    pub fn has_errors(&self) -> bool {
        self.groups
            .iter()
            .any(|g| g.inputs.iter().any(|i| !i.errors.is_empty()))
    }
}

/// Builds the inputs of a draft in the reader's language.
struct Builder<'a> {
    tr: &'a Tr,
    draft: &'a Draft,
}

impl Builder<'_> {
    fn input(&self, name: &str, label: String, kind: Kind) -> Input {
        let value = self.draft.get(name).cloned().unwrap_or_default();
        let kind = match kind {
            Kind::Select(choices) => Kind::Select(
                choices
                    .into_iter()
                    .map(|c| Choice {
                        selected: c.value == value,
                        ..c
                    })
                    .collect(),
            ),
            k => k,
        };
        Input {
            name: name.to_owned(),
            label,
            kind,
            value,
            errors: Vec::new(),
            lang: None,
        }
    }

    fn field(&self, name: &str, key: &str, kind: Kind) -> Input {
        self.input(name, self.tr.t(key), kind)
    }

    fn single(&self, name: &str, key: &str, kind: Kind) -> Group {
        Group {
            legend: None,
            inputs: vec![self.field(name, key, kind)],
        }
    }

    /// A text in each language, under the field's name.
    fn localized(&self, path: &str, key: &str, area: Option<u8>) -> Group {
        let field = self.tr.t(key);
        let inputs = [("en", "console-sf-in-en"), ("fr", "console-sf-in-fr")]
            .into_iter()
            .map(|(code, lang_key)| {
                let kind = area.map_or(Kind::Text, Kind::Area);
                let mut i = self.input(
                    &format!("{path}.{code}"),
                    self.tr.a1(lang_key, "field", &field),
                    kind,
                );
                i.lang = Some(if code == "en" { "en" } else { "fr" });
                i
            })
            .collect();
        Group {
            legend: None,
            inputs,
        }
    }

    /// `rows` numbered rows of a list of texts: those of the draft and blank ones to add to.
    fn text_rows(&self, list: &str, key: &str, kind: fn() -> Kind, max: usize) -> Vec<Group> {
        let n = rows_of(self.draft, list);
        (0..(n + 2).min(max))
            .map(|i| Group {
                legend: None,
                inputs: vec![self.input(
                    &format!("{list}.{i}"),
                    self.tr
                        .n(key, "n", i64::try_from(i + 1).unwrap_or(i64::MAX)),
                    kind(),
                )],
            })
            .collect()
    }

    fn choices(&self, pairs: &[(&str, &str)]) -> Vec<Choice> {
        pairs
            .iter()
            .map(|(value, key)| Choice {
                value: (*value).to_owned(),
                label: self.tr.t(key),
                selected: false,
            })
            .collect()
    }
}

/// How many rows of `list` the draft has.
fn rows_of(draft: &Draft, list: &str) -> usize {
    draft
        .keys()
        .filter_map(|k| k.strip_prefix(list)?.strip_prefix('.'))
        .filter_map(|rest| rest.split('.').next()?.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

/// The form of `draft`, each of `problems` at its input; the problems no input stands for are
/// returned beside it.
pub fn fieldsets(
    tr: &Tr,
    catalog: &Catalog,
    draft: &Draft,
    problems: &[FieldError],
) -> (Vec<Fieldset>, Vec<FieldError>) {
    let b = Builder { tr, draft };
    let mut sets = vec![
        company(&b),
        landing(&b),
        trust(&b),
        buttons(&b),
        links(&b),
        support(&b),
        offer(&b, catalog),
        brand(&b),
        integration(&b),
        guides(&b, catalog),
        mnda(&b),
    ];
    let mut unplaced = Vec::new();
    for p in problems {
        let path = placed_path(draft, &p.path);
        let exact = sets
            .iter_mut()
            .flat_map(|s| s.groups.iter_mut().flat_map(|g| g.inputs.iter_mut()))
            .find(|i| i.name == path);
        let target = match exact {
            Some(i) => Some(i),
            None => sets
                .iter_mut()
                .flat_map(|s| s.groups.iter_mut().flat_map(|g| g.inputs.iter_mut()))
                .find(|i| i.name.starts_with(&format!("{path}."))),
        };
        match target {
            Some(i) => i.errors.push(p.message.clone()),
            None => unplaced.push(p.clone()),
        }
    }
    (sets, unplaced)
}

/// The input a problem's path stands for: a ticked platform's checkbox is named by its place
/// in the catalog, the document's list by its place among the ticked ones; "name at least one
/// platform" is the restricting switch's.
fn placed_path(draft: &Draft, path: &str) -> String {
    if path == "allowed_platforms" {
        return RESTRICT.to_owned();
    }
    if let Some(n) = path.strip_prefix("allowed_platforms.") {
        let key = draft
            .iter()
            .filter(|(k, _)| k.starts_with("allowed_platforms."))
            .nth(n.parse().unwrap_or(usize::MAX))
            .map(|(_, v)| v.clone());
        if let Some(key) = key {
            return format!("platform.{key}");
        }
    }
    path.to_owned()
}

fn company(b: &Builder<'_>) -> Fieldset {
    let mut groups = vec![
        b.single("legal_name", "console-sf-legal-name", Kind::Text),
        b.single("jurisdiction", "console-sf-jurisdiction", Kind::Text),
        b.single("consent_validity_days", "console-sf-validity", Kind::Number),
        b.single(
            "allow_access_tokens",
            "console-sf-access-tokens",
            Kind::Check,
        ),
    ];
    groups.extend(b.text_rows(
        "third_parties",
        "console-sf-third-party-n",
        || Kind::Text,
        50,
    ));
    Fieldset {
        id: "fs-company",
        legend: b.tr.t("console-sf-company"),
        hint: Some(b.tr.t("console-sf-company-hint")),
        folded: false,
        groups,
    }
}

fn landing(b: &Builder<'_>) -> Fieldset {
    Fieldset {
        id: "fs-landing",
        legend: b.tr.t("console-sf-landing"),
        hint: None,
        folded: false,
        groups: vec![
            b.single("landing_enabled", "console-sf-landing-enabled", Kind::Check),
            b.localized("landing.title", "console-sf-landing-title", None),
            b.localized("landing.body", "console-sf-landing-body", Some(4)),
            b.localized("exit_confirmation", "console-sf-exit", Some(3)),
        ],
    }
}

fn trust(b: &Builder<'_>) -> Fieldset {
    let mut groups = vec![b.localized("trust_message", "console-sf-trust-message", Some(3))];
    let n = rows_of(b.draft, "trust_statistics");
    for i in 0..(n + 2).min(5) {
        let mut g = b.localized(
            &format!("trust_statistics.{i}"),
            "console-sf-statistic",
            None,
        );
        g.legend = Some(b.tr.n(
            "console-sf-statistic-n",
            "n",
            i64::try_from(i + 1).unwrap_or(0),
        ));
        groups.push(g);
    }
    groups.push(b.single("powered_by_badge", "console-sf-powered-by", Kind::Check));
    Fieldset {
        id: "fs-trust",
        legend: b.tr.t("console-sf-trust"),
        hint: Some(b.tr.t("console-sf-placeholders-hint")),
        folded: false,
        groups,
    }
}

fn buttons(b: &Builder<'_>) -> Fieldset {
    let groups = [
        "continue",
        "connect",
        "decline",
        "add_another",
        "done",
        "exit",
    ]
    .into_iter()
    .map(|name| {
        b.localized(
            &format!("button_labels.{name}"),
            &format!("console-sf-button-{}", name.replace('_', "-")),
            None,
        )
    })
    .collect();
    Fieldset {
        id: "fs-buttons",
        legend: b.tr.t("console-sf-buttons"),
        hint: Some(b.tr.t("console-sf-buttons-hint")),
        folded: false,
        groups,
    }
}

fn links(b: &Builder<'_>) -> Fieldset {
    Fieldset {
        id: "fs-links",
        legend: b.tr.t("console-sf-links"),
        hint: None,
        folded: false,
        groups: vec![
            b.single("privacy_policy_url", "console-sf-privacy-url", Kind::Url),
            b.single("terms_url", "console-sf-terms-url", Kind::Url),
            b.single("connection_guide_url", "console-sf-guide-url", Kind::Url),
        ],
    }
}

fn support(b: &Builder<'_>) -> Fieldset {
    Fieldset {
        id: "fs-support",
        legend: b.tr.t("console-sf-support"),
        hint: None,
        folded: false,
        groups: vec![
            b.single("support.phone", "console-sf-support-phone", Kind::Tel),
            b.single("support.email", "console-sf-support-email", Kind::Email),
            b.localized("support.hours", "console-sf-support-hours", None),
            b.single(
                "support.form_enabled",
                "console-sf-support-form",
                Kind::Check,
            ),
            b.single("support.inbox", "console-sf-support-inbox", Kind::Email),
        ],
    }
}

/// The categories (each row: which, and whether asked for) and the platforms offered.
fn offer(b: &Builder<'_>, catalog: &Catalog) -> Fieldset {
    let mut groups = Vec::new();
    for i in 0..Category::ALL.len() {
        let mut categories = b.choices(&[("", "console-sf-category-none")]);
        categories.extend(Category::ALL.iter().map(|c| Choice {
            value: c.as_str().to_owned(),
            label: b.tr.t(&format!("category-{c}")),
            selected: false,
        }));
        let requirement = b.choices(&[
            ("optional", "console-sf-requirement-optional"),
            ("required", "console-sf-requirement-required"),
        ]);
        groups.push(Group {
            legend: Some(b.tr.n(
                "console-sf-category-n",
                "n",
                i64::try_from(i + 1).unwrap_or(0),
            )),
            inputs: vec![
                b.field(
                    &format!("categories.{i}.category"),
                    "console-sf-category",
                    Kind::Select(categories),
                ),
                b.field(
                    &format!("categories.{i}.requirement"),
                    "console-sf-requirement",
                    Kind::Select(requirement),
                ),
            ],
        });
    }
    let ticked: Vec<&String> = b
        .draft
        .iter()
        .filter(|(k, _)| k.starts_with("allowed_platforms."))
        .map(|(_, v)| v)
        .collect();
    let platforms = catalog
        .all()
        .iter()
        .map(|p| Input {
            name: format!("platform.{}", p.key),
            label: p.name.clone(),
            kind: Kind::Check,
            value: ticked
                .iter()
                .any(|k| k.as_str() == p.key.as_str())
                .to_string(),
            errors: Vec::new(),
            lang: None,
        })
        .collect();
    groups.push(b.single(RESTRICT, "console-sf-restrict", Kind::Check));
    groups.push(Group {
        legend: Some(b.tr.t("console-sf-platforms")),
        inputs: platforms,
    });
    Fieldset {
        id: "fs-offer",
        legend: b.tr.t("console-sf-offer"),
        hint: Some(b.tr.t("console-sf-offer-hint")),
        folded: false,
        groups,
    }
}

fn brand(b: &Builder<'_>) -> Fieldset {
    let themes = b.choices(&[
        ("system", "console-sf-theme-system"),
        ("light", "console-settings-theme-light"),
        ("dark", "console-settings-theme-dark"),
    ]);
    let mut theme = b.field("brand.theme", "console-sf-theme", Kind::Select(themes));
    if theme.value.is_empty() {
        "system".clone_into(&mut theme.value);
        if let Kind::Select(choices) = &mut theme.kind {
            for c in choices {
                c.selected = c.value == "system";
            }
        }
    }
    Fieldset {
        id: "fs-brand",
        legend: b.tr.t("console-sf-brand"),
        hint: None,
        folded: false,
        groups: vec![
            b.single("brand.primary_colour", "console-sf-colour", Kind::Text),
            Group {
                legend: None,
                inputs: vec![theme],
            },
        ],
    }
}

fn integration(b: &Builder<'_>) -> Fieldset {
    let mut groups = b.text_rows(
        "integration.embedding_origins",
        "console-sf-origin-n",
        || Kind::Url,
        20,
    );
    groups.extend(b.text_rows(
        "integration.return_urls",
        "console-sf-return-url-n",
        || Kind::Url,
        20,
    ));
    Fieldset {
        id: "fs-integration",
        legend: b.tr.t("console-sf-integration"),
        hint: Some(b.tr.t("console-sf-integration-hint")),
        folded: true,
        groups,
    }
}

/// A guide URL per platform of the catalog (the document's map, keyed by platform).
fn guides(b: &Builder<'_>, catalog: &Catalog) -> Fieldset {
    let inputs = catalog
        .all()
        .iter()
        .map(|p| {
            b.input(
                &format!("platform_guide_urls.{}", p.key),
                p.name.clone(),
                Kind::Url,
            )
        })
        .collect();
    Fieldset {
        id: "fs-guides",
        legend: b.tr.t("console-sf-guides"),
        hint: Some(b.tr.t("console-sf-guides-hint")),
        folded: !b
            .draft
            .keys()
            .any(|k| k.starts_with("platform_guide_urls.")),
        groups: vec![Group {
            legend: None,
            inputs,
        }],
    }
}

fn mnda(b: &Builder<'_>) -> Fieldset {
    Fieldset {
        id: "fs-mnda",
        legend: b.tr.t("console-sf-mnda"),
        hint: Some(b.tr.t("console-sf-mnda-hint")),
        folded: !b.draft.keys().any(|k| k.starts_with("mnda.")),
        groups: vec![
            b.localized("mnda.template", "console-sf-mnda-template", Some(6)),
            b.single("mnda.signatory_name", "console-sf-mnda-name", Kind::Text),
            b.single("mnda.signatory_title", "console-sf-mnda-title", Kind::Text),
        ],
    }
}

/// The ticked platform checkboxes (`platform.<key>`) as the document's list, in catalog order.
pub fn ticked_platforms(pairs: &mut Vec<(String, String)>, catalog: &Catalog) {
    let ticked: Vec<String> = catalog
        .all()
        .iter()
        .filter(|p| {
            let name = format!("platform.{}", p.key);
            pairs.iter().any(|(k, v)| *k == name && v == "true")
        })
        .map(|p| p.key.to_string())
        .collect();
    pairs.retain(|(k, _)| !k.starts_with("platform.") && !k.starts_with("allowed_platforms"));
    pairs.extend(
        ticked
            .into_iter()
            .enumerate()
            .map(|(i, k)| (format!("allowed_platforms.{i}"), k)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn saved_settings_come_back_unchanged_through_the_form() {
        let mut s = LinkSettings::default();
        s.landing.title.en = Some("Welcome".into());
        s.trust_statistics = vec![accord_domain::settings::Localized {
            en: Some("40,000 businesses".into()),
            fr: None,
        }];
        s.third_parties = vec!["Credit bureau".into()];
        s.consent_validity_days = Some(90);
        s.allowed_platforms = Some(vec!["xero".into()]);
        s.landing_enabled = false;
        let draft = from_settings(&s);
        let doc = to_document(&draft).unwrap();
        let back: LinkSettings = serde_json::from_value(doc).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn blank_rows_are_dropped_and_the_rest_numbered_again() {
        let draft = from_post(pairs(&[
            ("third_parties.0", ""),
            ("third_parties.1", "Bureau"),
            ("trust_statistics.3.fr", "Beaucoup"),
            ("categories.0.category", ""),
            ("categories.0.requirement", "optional"),
            ("categories.1.category", "banking"),
            ("categories.1.requirement", "required"),
            ("csrf", "token"),
        ]));
        assert_eq!(
            draft.get("third_parties.0").map(String::as_str),
            Some("Bureau")
        );
        assert_eq!(
            draft.get("trust_statistics.0.fr").map(String::as_str),
            Some("Beaucoup")
        );
        assert_eq!(
            draft.get("categories.0.category").map(String::as_str),
            Some("banking")
        );
        assert!(!draft.contains_key("csrf"));
        let doc = to_document(&draft).unwrap();
        assert_eq!(doc["categories"][0]["requirement"], "required");
        assert_eq!(doc["landing_enabled"], false, "an unticked switch is off");
    }

    #[test]
    fn a_number_that_is_not_one_is_refused_at_its_field() {
        let draft = from_post(pairs(&[("consent_validity_days", "ninety")]));
        let problems = to_document(&draft).unwrap_err();
        assert_eq!(problems[0].path, "consent_validity_days");
    }

    #[test]
    fn restricting_platforms_with_none_ticked_is_an_empty_list() {
        let draft = from_post(pairs(&[(RESTRICT, "true")]));
        let doc = to_document(&draft).unwrap();
        assert_eq!(doc["allowed_platforms"], serde_json::json!([]));
        let open = to_document(&from_post(pairs(&[("allowed_platforms.0", "xero")]))).unwrap();
        assert!(
            open.get("allowed_platforms").is_none(),
            "not restricted: every platform"
        );
    }
}
