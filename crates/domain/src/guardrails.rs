//! Dark-pattern guardrails on link settings. A tenant shapes the flow's voice, never its
//! honesty: the consent box starts unticked (consent is the customer's own act, GDPR Art. 4(11)
//! and 7; CJEU C-673/17 *Planet49*), Decline is a button as visible and as large as Connect,
//! the "disconnect at any time" statement and the how-to-withdraw text are always shown
//! (withdrawal as easy as giving, Art. 7(3)), and settings cannot make optional data required.
//!
//! Most of this is unrepresentable: those texts and controls belong to Accord's templates and
//! have no setting. What a tenant *can* write is checked here: Decline's label must stay a
//! clear, comparable label; and a settings document that reaches for a plausible field such as
//! `consent_prechecked` or `hide_decline` is refused with the reason, not a bare "unknown field".

use crate::locale::Locale;
use crate::settings::{ButtonLabels, Localized};
use crate::validate::{FieldError, Invalid};
use serde_json::Value;

/// Why a kind of setting does not exist.
pub const REASON_PRETICK: &str = "refused by a guardrail: the consent box is always unticked; \
     the customer's own tick is the consent (GDPR Art. 4(11), CJEU Planet49)";
pub const REASON_DECLINE: &str = "refused by a guardrail: Decline is always a button beside \
     Connect, as visible and as large; only its label can change (button_labels.decline)";
pub const REASON_WITHDRAW: &str = "refused by a guardrail: the \"disconnect at any time\" \
     statement and the how-to-withdraw text are always shown and cannot be removed or replaced";
pub const REASON_REQUIRED_DATA: &str = "refused by a guardrail: settings cannot make data \
     required; the data used and its purpose are set by the notice, and every connection \
     stays the customer's choice (categories.N.requirement only says what you ask for)";
pub const REASON_EXIT: &str = "refused by a guardrail: the customer can always leave the flow; \
     the exit control cannot be hidden (only its label and confirmation text can change)";

/// Normalised name fragments (lowercase, without `_`/`-`) that reveal each dark pattern.
const PATTERNS: &[(&[&str], &str)] = &[
    (
        &[
            "precheck",
            "pretick",
            "preselect",
            "defaultcheck",
            "checkboxdefault",
            "checkboxstate",
            "checkedbydefault",
            "defaultticked",
            "autoconsent",
            "consentdefault",
            "defaultconsent",
            "implicitconsent",
            "assumeconsent",
        ],
        REASON_PRETICK,
    ),
    (
        &[
            "hidedecline",
            "declinehidden",
            "declinevisible",
            "showdecline",
            "declinestyle",
            "declinesize",
            "declineaslink",
            "declinevariant",
            "declineposition",
            "declinecolour",
            "declinecolor",
            "nodecline",
            "disabledecline",
            "declineenabled",
            "declinebutton",
        ],
        REASON_DECLINE,
    ),
    (
        // Specific enough not to catch other settings about disconnection (a webhook, a
        // redirect after it): only its statement, and the withdrawal text.
        &[
            "disconnectstatement",
            "disconnectmessage",
            "disconnecttext",
            "disconnectnotice",
            "disconnectpromise",
            "hidedisconnect",
            "showdisconnect",
            "withdraw",
            "revocationtext",
            "hidepromise",
            "showpromise",
            "promisetext",
        ],
        REASON_WITHDRAW,
    ),
    (
        &[
            "requireddata",
            "datarequired",
            "requiredtypes",
            "datatypes",
            "mandatory",
            "requiredscopes",
        ],
        REASON_REQUIRED_DATA,
    ),
    (
        &[
            "hideexit",
            "exitenabled",
            "noexit",
            "disableexit",
            "showexit",
        ],
        REASON_EXIT,
    ),
];

/// Refusals for fields of a settings document (as sent, before it is parsed) whose names ask
/// for a dark pattern. Known fields never match (a test checks the whole schema).
pub fn refusals(doc: &Value) -> Invalid {
    let mut invalid = Invalid::default();
    walk(doc, "", &mut invalid);
    invalid
}

fn walk(v: &Value, path: &str, invalid: &mut Invalid) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter().take(200) {
                let here = if path.is_empty() {
                    clip(k)
                } else {
                    format!("{path}.{}", clip(k))
                };
                // Platform keys name platforms, not settings: never read as a request.
                if path == "platform_guide_urls" {
                    continue;
                }
                if let Some(reason) = reason_for(k) {
                    invalid.push(FieldError::new(here, reason));
                } else {
                    walk(child, &here, invalid);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate().take(200) {
                walk(child, &format!("{path}.{i}"), invalid);
            }
        }
        _ => {}
    }
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// The guardrail a field name reaches for, if any.
pub fn reason_for(field: &str) -> Option<&'static str> {
    let norm: String = field
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    PATTERNS
        .iter()
        .find(|(frags, _)| frags.iter().any(|f| norm.contains(f)))
        .map(|(_, reason)| *reason)
}

/// Accord's own Connect and Decline labels in each language (the web crate reads them from
/// the locale files). Wherever a tenant sets only one of the pair, its label stands beside
/// Accord's, so that is what the guardrail compares it with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltinLabels {
    pub connect: Localized,
    pub decline: Localized,
}

/// Decline must stay a clear choice, in each language where the tenant set Decline or Connect:
/// Decline has at least two letters, does not read the same as Connect, and is not much
/// shorter than it (a third of its length at least). A label the tenant left unset is
/// Accord's own ([`BuiltinLabels`]): `{"decline": {"en": "Agree and connect"}}` would make both
/// buttons read the same as surely as setting both. The error names the tenant's field: Decline's
/// when it set Decline, else Connect's.
pub fn check_labels(labels: &ButtonLabels, builtin: &BuiltinLabels, invalid: &mut Invalid) {
    for locale in Locale::ALL {
        let (own_decline, own_connect) = (labels.decline.get(locale), labels.connect.get(locale));
        if own_decline.is_none() && own_connect.is_none() {
            continue;
        }
        let loc = locale.as_str();
        if let Some(decline) = own_decline {
            let letters = decline.chars().filter(|c| c.is_alphabetic()).count();
            if letters < 2 {
                invalid.push(FieldError::new(
                    format!("button_labels.decline.{loc}"),
                    "refused by a guardrail: Decline's label must say what it does in words",
                ));
                continue;
            }
        }
        let (Some(decline), Some(connect)) = (
            own_decline.or(builtin.decline.get(locale)),
            own_connect.or(builtin.connect.get(locale)),
        ) else {
            continue;
        };
        // Accord's own label, quoted so the tenant sees what its label stands beside. The
        // tenant's text is never echoed (it may be long or hostile).
        let accords = |what: &str, text: &str| format!(" (Accord's {what} label reads “{text}”)");
        let (path, problem) = if own_decline.is_some() {
            let beside = if own_connect.is_none() {
                accords("Connect", connect)
            } else {
                String::new()
            };
            (
                format!("button_labels.decline.{loc}"),
                if reads_the_same(decline, connect) {
                    format!(
                        "refused by a guardrail: Decline's label must differ from Connect's; \
                         both buttons would read the same{beside}"
                    )
                } else if much_shorter(decline, connect) {
                    format!(
                        "refused by a guardrail: Decline's label must not be much shorter than \
                         Connect's (at least a third of its length){beside}"
                    )
                } else {
                    continue;
                },
            )
        } else {
            let beside = accords("Decline", decline);
            (
                format!("button_labels.connect.{loc}"),
                if reads_the_same(decline, connect) {
                    format!(
                        "refused by a guardrail: Connect's label must differ from Decline's; \
                         both buttons would read the same{beside}"
                    )
                } else if much_shorter(decline, connect) {
                    format!(
                        "refused by a guardrail: Decline would be much shorter than Connect \
                         (under a third of its length){beside}; shorten Connect or set \
                         button_labels.decline.{loc} too"
                    )
                } else {
                    continue;
                },
            )
        };
        invalid.push(FieldError::new(path, problem));
    }
}

/// Whether two labels read the same: equal once case, spaces and punctuation are set aside
/// ("No thanks." and "no  thanks" are one label).
fn reads_the_same(a: &str, b: &str) -> bool {
    let words = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    words(a) == words(b)
}

/// Whether Decline is under a third of Connect's length (in characters, trimmed).
fn much_shorter(decline: &str, connect: &str) -> bool {
    decline.trim().chars().count() * 3 < connect.trim().chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::LinkSettings;
    use serde_json::json;

    #[test]
    fn plausible_dark_pattern_fields_get_a_reason() {
        let doc = json!({
            "consent_prechecked": true,
            "hide_decline": true,
            "button_labels": {"decline_style": "link"},
            "show_disconnect_statement": false,
            "withdrawal_text": {"en": ""},
            "categories": [{"category": "banking", "required_data_types": ["invoices"]}],
            "hide_exit": true
        });
        let got: Vec<(String, &str)> = refusals(&doc)
            .0
            .into_iter()
            .map(|e| {
                (
                    e.path,
                    if e.message.contains("unticked") {
                        "pretick"
                    } else if e.message.contains("Decline") {
                        "decline"
                    } else if e.message.contains("disconnect") {
                        "withdraw"
                    } else if e.message.contains("make data") {
                        "data"
                    } else {
                        "exit"
                    },
                )
            })
            .collect();
        let expect = [
            ("button_labels.decline_style", "decline"),
            ("categories.0.required_data_types", "data"),
            ("consent_prechecked", "pretick"),
            ("hide_decline", "decline"),
            ("hide_exit", "exit"),
            ("show_disconnect_statement", "withdraw"),
            ("withdrawal_text", "withdraw"),
        ];
        let mut got = got;
        got.sort();
        assert_eq!(got, expect.map(|(p, r)| (p.to_owned(), r)).to_vec());
    }

    /// No field of the real schema (every field set) trips a guardrail.
    #[test]
    fn the_schema_itself_is_clean() {
        let full = json!({
            "legal_name": "L", "landing_enabled": true, "trust_message": {"en": "x"},
            "trust_statistics": [{"en": "x"}], "privacy_policy_url": "https://a.example",
            "terms_url": "https://a.example", "connection_guide_url": "https://a.example",
            "support": {"phone": "+44 20 7946 0000", "email": "a@b.example", "hours": {"en": "x"}, "form_enabled": true},
            "powered_by_badge": true, "consent_validity_days": 90,
            "mnda": {"template": {"en": "x"}, "signatory_name": "A", "signatory_title": "B"},
            "landing": {"title": {"en": "x"}, "body": {"en": "x"}},
            "platform_guide_urls": {"sandbox": "https://a.example"},
            "categories": [{"category": "banking", "requirement": "required"}],
            "allowed_platforms": ["sandbox"],
            "button_labels": {"continue": {"en": "Go on"}, "connect": {"en": "Connect"}, "decline": {"en": "Decline"}, "add_another": {"en": "More"}, "done": {"en": "Done"}, "exit": {"en": "Exit"}},
            "exit_confirmation": {"en": "Leave?"},
            "brand": {"primary_colour": "#123456", "theme": "dark"}
        });
        let parsed: LinkSettings =
            serde_json::from_value(full.clone()).expect("the full schema parses");
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(refusals(&full).0, vec![]);
        assert_eq!(refusals(&back).0, vec![]);
    }

    /// Accord's English and French labels, as the locale files have them.
    fn builtin() -> BuiltinLabels {
        BuiltinLabels {
            connect: Localized {
                en: Some("Agree and connect".into()),
                fr: Some("Accepter et connecter".into()),
            },
            decline: Localized {
                en: Some("No thanks".into()),
                fr: Some("Non merci".into()),
            },
        }
    }

    /// The refusals (path, message) of a `button_labels` document.
    fn refused(labels: &Value) -> Vec<(String, String)> {
        let s: LinkSettings = serde_json::from_value(json!({ "button_labels": labels })).unwrap();
        s.validate(false, &builtin())
            .err()
            .map(|i| i.0.into_iter().map(|e| (e.path, e.message)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn decline_labels_stay_clear() {
        let labels = |decline: &str, connect: &str| -> Vec<String> {
            refused(&json!({"decline": {"en": decline}, "connect": {"en": connect}}))
                .into_iter()
                .map(|(_, m)| m)
                .collect()
        };
        assert!(labels("No thanks", "Connect my accounts").is_empty());
        assert!(labels("Non", "Connecter").is_empty());
        assert!(labels("Decline", "Connect").is_empty());
        for (bad, why) in [
            ("✕", "in words"),
            ("--", "in words"),
            ("No", "much shorter"),
            ("Connect", "differ"),
            ("", "empty"),
            ("Decline\nnow", "one line"),
        ] {
            let msgs = labels(bad, "Connect my accounts securely").join(" | ");
            let msgs = if bad == "Connect" {
                labels(bad, "Connect").join(" | ")
            } else {
                msgs
            };
            assert!(msgs.contains(why), "{bad:?}: {msgs}");
        }
        // Reading the same ignores case, spaces and punctuation.
        assert!(labels("connect  now!", "Connect now")
            .join(" ")
            .contains("differ"));
    }

    /// A label set alone stands beside Accord's own, in its language, and is compared with it.
    #[test]
    fn a_label_set_alone_is_compared_with_accords_own() {
        let one = |labels: Value| -> (String, String) {
            let mut r = refused(&labels);
            assert_eq!(r.len(), 1, "{labels}: {r:?}");
            r.remove(0)
        };
        // Decline reading like Accord's Connect: both buttons would say the same.
        let (path, msg) = one(json!({"decline": {"en": "Agree and connect"}}));
        assert_eq!(path, "button_labels.decline.en");
        assert!(
            msg.contains("differ") && msg.contains("“Agree and connect”"),
            "{msg}"
        );
        let (path, msg) = one(json!({"decline": {"fr": "accepter et connecter"}}));
        assert_eq!(path, "button_labels.decline.fr");
        assert!(msg.contains("“Accepter et connecter”"), "{msg}");
        // Connect reading like Accord's Decline: the error names the tenant's own field.
        let (path, msg) = one(json!({"connect": {"en": "No thanks"}}));
        assert_eq!(path, "button_labels.connect.en");
        assert!(
            msg.contains("differ") && msg.contains("“No thanks”"),
            "{msg}"
        );
        let (path, _) = one(json!({"connect": {"fr": "Non merci"}}));
        assert_eq!(path, "button_labels.connect.fr");
        // A Decline much shorter than Accord's Connect (17 characters).
        let (path, msg) = one(json!({"decline": {"en": "Nah"}}));
        assert_eq!(path, "button_labels.decline.en");
        assert!(msg.contains("much shorter"), "{msg}");
        // A Connect that dwarfs Accord's Decline (9 characters): Decline would be much shorter.
        let (path, msg) = one(json!({"connect": {"en": "Connect every one of my accounts"}}));
        assert_eq!(path, "button_labels.connect.en");
        assert!(msg.contains("much shorter"), "{msg}");
        // Each language on its own: an English label says nothing of the French pair.
        assert!(refused(&json!({"decline": {"en": "Not now"}})).is_empty());
        assert!(refused(
            &json!({"connect": {"en": "Link my books"}, "decline": {"fr": "Plus tard"}})
        )
        .is_empty());
        assert!(refused(&json!({"connect": {"fr": "Connecter mes comptes"}})).is_empty());
        // Without Accord's labels (none known), a label set alone has nothing to compare.
        let s: LinkSettings = serde_json::from_value(
            json!({"button_labels": {"decline": {"en": "Agree and connect"}}}),
        )
        .unwrap();
        assert!(s.validate(false, &BuiltinLabels::default()).is_ok());
    }
}
