//! Counting the records of a platform's answer for the access log, without building the
//! answer. A proxied answer is passed on as bytes; only its record count is wanted, and parsing
//! it into a `serde_json::Value` (a tree of maps, strings and vectors, all allocated and freed
//! again) was a large share of the gateway's own work per call. `serde_json`'s deserializer is
//! driven along the catalog's pointer instead: every value off the path is skipped with
//! [`IgnoredAny`] (checked for well-formedness, nothing allocated), and the list at the end is
//! counted element by element the same way. Hand-written because neither `serde_json` nor a
//! well-kept crate offers "the length of the array at this JSON pointer" over a byte slice.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The records in `body` where the catalog's `pointer` (RFC 6901) points, counted as the
/// access log counts them: a list's length, `0` for `null`, `1` for any other document. `None`
/// when `body` is not one JSON document or nothing is where the pointer points. The same as
/// [`serde_json::Value::pointer`] on the parsed body, then that count.
pub fn count_records(body: &[u8], pointer: &str) -> Option<u64> {
    let path: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')?
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = At { path: &path }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

/// The part of the pointer still to follow from the value being read.
struct At<'p> {
    path: &'p [String],
}

impl At<'_> {
    /// A scalar: a record where the pointer ends, nothing if it goes on.
    fn leaf(&self, records: u64) -> Option<u64> {
        self.path.is_empty().then_some(records)
    }
}

/// An array index as RFC 6901 spells one: digits, no leading zero (but `0` itself).
fn index(token: &str) -> Option<usize> {
    let plain = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    plain.then(|| token.parse().ok()).flatten()
}

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Option<u64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.leaf(0))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.leaf(1))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.leaf(1))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.leaf(1))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.leaf(1))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.leaf(1))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Some((head, rest)) = self.path.split_first() else {
            let mut n = 0;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                n += 1;
            }
            return Ok(Some(n));
        };
        let wanted = index(head);
        let mut found = None;
        let mut i = 0;
        loop {
            if Some(i) == wanted {
                match seq.next_element_seed(At { path: rest })? {
                    Some(inner) => found = inner,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some((head, rest)) = self.path.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Some(1));
        };
        let mut found = None;
        // A key repeated: the last one counts, as in a parsed `serde_json::Value`.
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == head.as_str() {
                found = map.next_value_seed(At { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::count_records;
    use serde_json::Value;

    /// The count a parsed `Value` gives, which `count_records` must equal.
    fn parsed(body: &str, pointer: &str) -> Option<u64> {
        let v: Value = serde_json::from_str(body).ok()?;
        Some(match v.pointer(pointer)? {
            Value::Array(a) => a.len() as u64,
            Value::Null => 0,
            _ => 1,
        })
    }

    #[test]
    fn counts_as_the_parsed_answer_does() {
        let bodies = [
            r#"{"data":[{"id":"inv_1","lines":[1,2,3]},{"id":"inv_2"}],"next":"c"}"#,
            r#"{"next":null,"data":[]}"#,
            r#"{"QueryResponse":{"Invoice":[{"Id":"1"},{"Id":"2"},{"Id":"3"}],"startPosition":1}}"#,
            r#"{"data":null}"#,
            r#"{"data":{"id":"inv_1"}}"#,
            r#"{"data":"text","a/b":[1],"m~n":[1,2]}"#,
            r#"[[1,2],[3],{"x":[4,5,6]}]"#,
            r#"{"data":[1],"data":[1,2]}"#,
            r#"{"Invoices":[{"a":"\"escaped\" \u00e9"}], "e": 1.5e3, "t": true}"#,
        ];
        let pointers = [
            "",
            "/data",
            "/QueryResponse/Invoice",
            "/a~1b",
            "/m~0n",
            "/0",
            "/2/x",
            "/1",
            "/01",
            "/Invoices",
            "/missing",
            "/data/0",
            "/e",
        ];
        for body in bodies {
            for pointer in pointers {
                assert_eq!(
                    count_records(body.as_bytes(), pointer),
                    parsed(body, pointer),
                    "{body} at {pointer:?}"
                );
            }
        }
    }

    #[test]
    fn what_is_not_one_json_document_counts_nothing() {
        for body in [
            "",
            "{",
            r#"{"data":[1,2}"#,
            r#"{"data":[]} trailing"#,
            "<html>",
        ] {
            assert_eq!(count_records(body.as_bytes(), "/data"), None, "{body}");
        }
        assert_eq!(
            count_records(b"{}", "data"),
            None,
            "a pointer starts with /"
        );
    }
}
