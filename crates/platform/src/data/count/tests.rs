use super::count_records;
use serde_json::Value;
use std::fmt::Write as _;

/// The count a parsed `Value` gives, which `count_records` must equal.
fn parsed(body: &[u8], pointer: &str) -> Option<u64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    count_in(&v, pointer)
}

/// The same, on a body already parsed.
fn count_in(v: &Value, pointer: &str) -> Option<u64> {
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
        r#"{"d\u0061ta":[1,2,3],"a\/b":[[],{}],"m~n":"\\"}"#,
        r#"{"data":[1,2],"data":{"no":"list"}}"#,
        " \t\r\n{ \"data\" : [ 1 , [ ] , { } , \"]\" ] } \n",
        "[]",
        "null",
        "-0.5E+2",
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
        "/-1",
        "/+1",
        "/Invoices",
        "/missing",
        "/data/0",
        "/data/3",
        "/e",
        "/",
    ];
    for body in bodies {
        for pointer in pointers {
            assert_eq!(
                count_records(body.as_bytes(), pointer),
                parsed(body.as_bytes(), pointer),
                "{body} at {pointer:?}"
            );
        }
    }
}

#[test]
fn what_is_not_one_json_document_counts_nothing() {
    let bodies = [
        "",
        " ",
        "{",
        "<html>",
        r#"{"data":[1,2}"#,
        r#"{"data":[]} trailing"#,
        r#"{"data":[]} {}"#,
        "[}",
        "{]",
        "[[]",
        "[]]",
        r#"{"data" [1]}"#,
        r#"{"data":}"#,
        "{data:[1]}",
        "{1:[1]}",
        r#"{"data":[1],}"#,
        r#"{,"data":[1]}"#,
        r#"{"data":[1] "x":1}"#,
        "[1,]",
        "[,1]",
        "[1 2]",
        "[1,,2]",
        r#"{"data":"open}"#,
        r#"{"data":["a\"]}"#,
        r#"["\x"]"#,
        r#"["\u12"]"#,
        r#"["\u12g4"]"#,
        r#"["a\"#,
        "[tru]",
        "[nul]",
        "[nulll]",
        "[True]",
        "[01]",
        "[1.]",
        "[.5]",
        "[-]",
        "[1e]",
        "[1e+]",
        "[+1]",
        "[0x10]",
        "\u{feff}[]",
        r#"{"a\u12":[1]}"#,
    ];
    for body in bodies {
        for pointer in ["", "/data", "/0"] {
            assert_eq!(parsed(body.as_bytes(), pointer), None, "{body}: a bad case");
            assert_eq!(
                count_records(body.as_bytes(), pointer),
                None,
                "{body} at {pointer:?}"
            );
        }
    }
    assert_eq!(
        count_records(b"{}", "data"),
        None,
        "a pointer starts with /"
    );
}

#[test]
fn nesting_stops_where_serde_json_stops() {
    for levels in [126, 127, 128, 129] {
        let bare = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let wrapped = format!("{{\"data\":{bare}}}");
        for (body, pointer) in [(&bare, ""), (&wrapped, "/data"), (&wrapped, "/data/0")] {
            assert_eq!(
                count_records(body.as_bytes(), pointer),
                parsed(body.as_bytes(), pointer),
                "{levels} levels at {pointer:?}"
            );
        }
    }
}

/// `SplitMix64`: the same cases on every run, and no dependency for them.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below a usize")
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// A JSON value as generated. Kept apart from `serde_json::Value` because an object's members
/// may repeat a key, which a `Value` cannot hold but a platform's answer can.
enum Gen {
    Scalar(&'static str),
    Str(String),
    Arr(Vec<Gen>),
    Obj(Vec<(String, Gen)>),
}

/// Keys from a small set, so pointers find them and they repeat: with `/` and `~` (escaped in
/// pointers), quotes, backslashes, brackets and non-ASCII.
const KEYS: [&str; 12] = [
    "data", "a/b", "m~n", "~1", "", "é", "\"q\"", "x\\y", "[", "}", "0", "😀",
];

/// Pieces of strings that a scanner could mistake for structure or an end.
const PIECES: [&str; 22] = [
    "\"", "\\", "\\\"", "[", "]", "{", "}", ",", ":", "/", "~", "é", "€", "😀", "\n", "\u{1}", " ",
    "0", "true", "null", "inv_0001", "\\u0022",
];

const NUMBERS: [&str; 10] = [
    "0", "-0", "1", "-12", "3.25", "1e5", "2E-3", "-0.5e+2", "123456", "0.0",
];

fn gen_value(rng: &mut Rng, depth: usize) -> Gen {
    let container = depth < 5 && rng.below(3) > 0;
    if !container {
        return match rng.below(4) {
            0 => Gen::Scalar(rng.pick(&["true", "false", "null"])),
            1 => Gen::Scalar(rng.pick(&NUMBERS)),
            _ => Gen::Str(gen_string(rng)),
        };
    }
    let len = rng.below(6);
    if rng.chance(2) {
        Gen::Arr((0..len).map(|_| gen_value(rng, depth + 1)).collect())
    } else {
        Gen::Obj(
            (0..len)
                .map(|_| (rng.pick(&KEYS).to_owned(), gen_value(rng, depth + 1)))
                .collect(),
        )
    }
}

fn gen_string(rng: &mut Rng) -> String {
    (0..rng.below(6)).map(|_| rng.pick(&PIECES)).collect()
}

/// How a generated value is written: the escape styles a platform may use.
#[derive(Clone, Copy)]
struct Style {
    /// Characters outside the BMP as `\u` surrogate pairs (else as UTF-8).
    pairs: bool,
    /// Only spaces between tokens (else tabs and line breaks too).
    spaces: bool,
}

fn write_value(g: &Gen, out: &mut String, rng: &mut Rng, style: Style) {
    let space = |out: &mut String, rng: &mut Rng| {
        if rng.chance(4) {
            let all = [" ", "\n", "\t ", "\r\n  "];
            let some = if style.spaces { &all[..1] } else { &all[..] };
            out.push_str(rng.pick(some));
        }
    };
    space(out, rng);
    match g {
        Gen::Scalar(s) => out.push_str(s),
        Gen::Str(s) => write_string(s, out, rng, style),
        Gen::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out, rng, style);
            }
            space(out, rng);
            out.push(']');
        }
        Gen::Obj(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(out, rng);
                write_string(key, out, rng, style);
                space(out, rng);
                out.push(':');
                write_value(value, out, rng, style);
            }
            space(out, rng);
            out.push('}');
        }
    }
    space(out, rng);
}

fn write_string(s: &str, out: &mut String, rng: &mut Rng, style: Style) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str(if rng.chance(2) { "\\n" } else { "\\u000a" }),
            '/' if rng.chance(2) => out.push_str("\\/"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) > 0xffff && style.pairs && rng.chance(2) => {
                let mut units = [0; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04X}");
                }
            }
            c if rng.chance(5) && u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Pointers into a generated value: every path to a value (as far as `limit` allows), and
/// some that lead nowhere.
fn pointers(g: &Gen, prefix: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit {
        return;
    }
    out.push(prefix.to_owned());
    match g {
        Gen::Arr(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, &format!("{prefix}/{i}"), out, limit);
            }
            out.push(format!("{prefix}/{}", items.len()));
            out.push(format!("{prefix}/00"));
        }
        Gen::Obj(members) => {
            for (key, value) in members {
                let token = key.replace('~', "~0").replace('/', "~1");
                pointers(value, &format!("{prefix}/{token}"), out, limit);
            }
            out.push(format!("{prefix}/missing"));
        }
        _ => out.push(format!("{prefix}/0")),
    }
}

/// Generated documents with awkward strings, escapes of every kind, repeated keys and stray
/// whitespace: the scan counts what parsing and `Value::pointer` count, at every pointer.
#[test]
fn counts_as_parsing_does_on_generated_documents() {
    let mut rng = Rng(0x00ac_c0de);
    let mut lists = 0;
    for _ in 0..3000 {
        let g = gen_value(&mut rng, 0);
        let mut body = String::new();
        write_value(
            &g,
            &mut body,
            &mut rng,
            Style {
                pairs: true,
                spaces: false,
            },
        );
        let value: Value = serde_json::from_str(&body).expect("the generator writes JSON");
        let mut ps = Vec::new();
        pointers(&g, "", &mut ps, 60);
        for p in &ps {
            let want = count_in(&value, p);
            lists += usize::from(want.is_some_and(|n| n > 1));
            assert_eq!(count_records(body.as_bytes(), p), want, "{body} at {p:?}");
        }
    }
    assert!(lists > 1000, "lists counted: {lists}");
}

/// The same documents broken by one edit (cut short, a byte taken out, a structural byte put
/// in): whatever parsing makes of the result, the scan makes the same. Characters outside the
/// BMP stay UTF-8 and only spaces separate tokens here, so an edit cannot leave a lone `\u`
/// surrogate or a raw line break inside a string, which the scan does not check (see
/// `count_records`).
#[test]
fn counts_as_parsing_does_on_broken_documents() {
    let mut rng = Rng(0x0bad_0bad);
    let mut refused = 0;
    let mut accepted = 0;
    for _ in 0..3000 {
        let g = gen_value(&mut rng, 0);
        let mut body = String::new();
        write_value(
            &g,
            &mut body,
            &mut rng,
            Style {
                pairs: false,
                spaces: true,
            },
        );
        let mut ps = Vec::new();
        pointers(&g, "", &mut ps, 8);
        let mut cut = body.clone().into_bytes();
        let at = rng.below(cut.len() + 1);
        match rng.below(3) {
            0 => cut.truncate(at),
            1 if at < cut.len() && cut[at].is_ascii() => {
                cut.remove(at);
            }
            _ => {
                let at = (at..=cut.len())
                    .find(|&i| body.is_char_boundary(i))
                    .unwrap_or(cut.len());
                cut.insert(at, rng.pick(b"{}[],:\"\\ "));
            }
        }
        let value = serde_json::from_slice::<Value>(&cut).ok();
        for p in &ps {
            let want = value.as_ref().and_then(|v| count_in(v, p));
            if value.is_some() {
                accepted += 1;
            } else {
                refused += 1;
            }
            assert_eq!(
                count_records(&cut, p),
                want,
                "{} at {p:?}",
                String::from_utf8_lossy(&cut)
            );
        }
    }
    assert!(refused > 1000 && accepted > 1000, "{refused} / {accepted}");
}
