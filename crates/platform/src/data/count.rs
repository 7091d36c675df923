//! Counting the records of a platform's answer for the access log, without building the
//! answer. A proxied answer is passed on as bytes; only its record count is wanted. Parsing it
//! into a `serde_json::Value` (a tree of maps, strings and vectors, all allocated and freed
//! again) was a large share of the gateway's own work per call, and so, later, was driving
//! `serde_json`'s deserializer along the pointer with `IgnoredAny`: it still walks every byte of
//! every string one at a time to skip it.
//!
//! So the answer is scanned here: the catalog's JSON pointer is followed through objects and
//! arrays, the target's top-level elements are counted, strings are skipped with a vectorised
//! search for the next `"` or `\` (`memchr`), and nested containers are skipped by counting
//! their depth, strings honoured. Hand-written because no well-kept crate answers "the length
//! of the array at this JSON pointer" over a byte slice without parsing the document: the
//! streaming and SIMD parsers build a tree or tape of the whole document, or need a schema.
//!
//! Measured (callgrind, the sandbox's invoice pages), the scan is not cheaper in instructions
//! than the `IgnoredAny` walk it replaced: 81.6k against 75.0k a call, the string search
//! cheaper and the keys and values dearer (docs/benchmarks.md, data access). It is kept because
//! it gives `Value::pointer`'s answer on every input the tests generate, including at
//! `serde_json`'s nesting limit, where the deserializer driven along the pointer did not (a
//! list 127 levels deep under a key was counted there and refused by parsing).

use std::borrow::Cow;

#[cfg(test)]
mod tests;

/// `serde_json`'s nesting limit: a document with this many containers open at once is not
/// one it parses, so neither does the scan count it.
const DEPTH_LIMIT: usize = 128;

/// The records in `body` where the catalog's `pointer` (RFC 6901) points, counted as the
/// access log counts them: a list's length, `0` for `null`, `1` for any other document. `None`
/// when `body` is not one JSON document or nothing is where the pointer points. The same as
/// [`serde_json::Value::pointer`] on the parsed body, then that count: a repeated key counts
/// its last value, keys are compared unescaped, `~1` and `~0` are unescaped in tokens, and an
/// array index is digits without a leading zero.
///
/// What "one JSON document" is checked for (RFC 8259): the whole structure — brackets
/// balanced and matched, every string closed, object members `"key": value` separated by
/// commas (no trailing comma), values separated by commas, nothing but whitespace after the
/// document, at most `serde_json`'s 127 levels of nesting — and every scalar: `true`, `false`
/// and `null` spelled out, numbers in JSON's grammar (no leading zero, no bare `.` or
/// exponent), escapes in strings (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u` and four
/// hex digits). Not checked, to keep strings to a byte search: that strings are UTF-8, hold no
/// raw control characters and pair their `\u` surrogates, and that numbers fit an `f64`. An
/// answer wrong only in those ways is counted where a parser would refuse it; it is passed on
/// to the tenant as it came either way, and the count is a note in the access log.
pub fn count_records(body: &[u8], pointer: &str) -> Option<u64> {
    let path = if pointer.is_empty() {
        None
    } else {
        Some(pointer.strip_prefix('/')?)
    };
    let mut scan = Scanner { b: body, i: 0 };
    let found = scan.at(path, 0).ok()?;
    scan.end().ok()?;
    found
}

/// The body is not one JSON document, as far as [`count_records`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Malformed;

type Scan<T> = Result<T, Malformed>;

/// An object's key as it stands in the body: the bytes between its quotes.
#[derive(Clone, Copy)]
struct Key {
    start: usize,
    end: usize,
    escaped: bool,
}

/// The first token of what follows a pointer's `/`, unescaped (RFC 6901 §4: `~1` to `/`, then
/// `~0` to `~`, as `serde_json` does), and what follows the token's own `/`, if any.
fn split(path: &str) -> (Cow<'_, str>, Option<&str>) {
    let (token, rest) = match path.split_once('/') {
        Some((token, rest)) => (token, Some(rest)),
        None => (path, None),
    };
    let token = if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    };
    (token, rest)
}

/// An array index as RFC 6901 spells one: digits, no leading zero (but `0` itself).
fn index(token: &str) -> Option<usize> {
    let plain = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    plain.then(|| token.parse().ok()).flatten()
}

/// A position in the body, moved forward only.
struct Scanner<'b> {
    b: &'b [u8],
    i: usize,
}

impl Scanner<'_> {
    /// The records at `path` (what follows the pointer's next `/`; `None` once it is followed
    /// to its end) in the value here, `depth` containers deep. The value is read to its end
    /// and checked whether or not the pointer leads into it.
    fn at(&mut self, path: Option<&str>, depth: usize) -> Scan<Option<u64>> {
        let Some(path) = path else {
            return self.count_here(depth).map(Some);
        };
        let (token, rest) = split(path);
        match self.peek()? {
            b'{' => {
                self.open(depth)?;
                self.in_object(&token, rest, depth + 1)
            }
            b'[' => {
                self.open(depth)?;
                self.in_array(&token, rest, depth + 1)
            }
            _ => self.skip_value(depth).map(|()| None),
        }
    }

    /// The records of the value here, where the pointer ends.
    fn count_here(&mut self, depth: usize) -> Scan<u64> {
        match self.peek()? {
            b'[' => {
                self.open(depth)?;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Ok(0);
                }
                let mut n = 0;
                loop {
                    self.skip_value(depth + 1)?;
                    n += 1;
                    match self.next()? {
                        b',' => {}
                        b']' => return Ok(n),
                        _ => return Err(Malformed),
                    }
                }
            }
            b'n' => self.scalar().map(|()| 0),
            _ => self.skip_value(depth).map(|()| 1),
        }
    }

    /// The members of an object, after its `{`: the records under the last member named
    /// `token` (a parsed `serde_json::Value` keeps the last of a repeated key).
    fn in_object(&mut self, token: &str, rest: Option<&str>, depth: usize) -> Scan<Option<u64>> {
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(None);
        }
        let mut found = None;
        loop {
            let key = self.key()?;
            if self.key_is(key, token)? {
                found = self.at(rest, depth)?;
            } else {
                self.skip_value(depth)?;
            }
            match self.next()? {
                b',' => {}
                b'}' => return Ok(found),
                _ => return Err(Malformed),
            }
        }
    }

    /// The elements of an array, after its `[`: the records under the element `token` names.
    fn in_array(&mut self, token: &str, rest: Option<&str>, depth: usize) -> Scan<Option<u64>> {
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(None);
        }
        let wanted = index(token);
        let mut found = None;
        let mut i = 0;
        loop {
            if wanted == Some(i) {
                found = self.at(rest, depth)?;
            } else {
                self.skip_value(depth)?;
            }
            i += 1;
            match self.next()? {
                b',' => {}
                b']' => return Ok(found),
                _ => return Err(Malformed),
            }
        }
    }

    /// Past one value, `depth` containers deep, checked as [`count_records`] says. Containers
    /// inside it are followed by counting, not recursion: one bit per open container (`1` for
    /// an object) says which close it awaits and whether a key comes after its commas.
    fn skip_value(&mut self, depth: usize) -> Scan<()> {
        let mut stack: u128 = 0;
        let mut open = 0;
        loop {
            // A value starts here.
            match self.peek()? {
                c @ (b'{' | b'[') => {
                    let object = c == b'{';
                    open += 1;
                    if depth + open >= DEPTH_LIMIT {
                        return Err(Malformed);
                    }
                    self.i += 1;
                    stack = (stack << 1) | u128::from(object);
                    let close = if object { b'}' } else { b']' };
                    if self.peek()? != close {
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                    self.i += 1;
                    stack >>= 1;
                    open -= 1;
                }
                b'"' => {
                    self.i += 1;
                    self.string()?;
                }
                _ => self.scalar()?,
            }
            // A value ended: the container around it goes on to its next value, or closes.
            loop {
                if open == 0 {
                    return Ok(());
                }
                let object = stack & 1 == 1;
                match self.next()? {
                    b',' => {
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return Err(Malformed),
                }
                stack >>= 1;
                open -= 1;
            }
        }
    }

    /// Steps into the container here, within `serde_json`'s nesting limit.
    fn open(&mut self, depth: usize) -> Scan<()> {
        if depth + 1 >= DEPTH_LIMIT {
            return Err(Malformed);
        }
        self.i += 1;
        Ok(())
    }

    /// An object's key and the `:` after it.
    fn key(&mut self) -> Scan<Key> {
        if self.next()? != b'"' {
            return Err(Malformed);
        }
        let start = self.i;
        let escaped = self.string()?;
        let key = Key {
            start,
            end: self.i - 1,
            escaped,
        };
        if self.next()? != b':' {
            return Err(Malformed);
        }
        Ok(key)
    }

    /// Whether `key` is `token` once unescaped. Escaped keys are rare: those are decoded by
    /// `serde_json`, which refuses what parsing the body would (a lone surrogate).
    fn key_is(&self, key: Key, token: &str) -> Scan<bool> {
        if !key.escaped {
            return Ok(&self.b[key.start..key.end] == token.as_bytes());
        }
        let quoted = &self.b[key.start - 1..=key.end];
        let decoded: String = serde_json::from_slice(quoted).map_err(|_| Malformed)?;
        Ok(decoded == token)
    }

    /// Past a string's closing quote, from just after its opening one: whether it held
    /// escapes. Only quotes and backslashes stop the search.
    fn string(&mut self) -> Scan<bool> {
        let mut escaped = false;
        loop {
            let at = memchr::memchr2(b'"', b'\\', &self.b[self.i..]).ok_or(Malformed)?;
            self.i += at + 1;
            if self.b[self.i - 1] == b'"' {
                return Ok(escaped);
            }
            escaped = true;
            self.escape()?;
        }
    }

    /// One escape, after its backslash (RFC 8259 §7).
    fn escape(&mut self) -> Scan<()> {
        match self.b.get(self.i) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
            Some(b'u') => {
                let hex = self.b.get(self.i + 1..self.i + 5).ok_or(Malformed)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(Malformed);
                }
                self.i += 5;
            }
            _ => return Err(Malformed),
        }
        Ok(())
    }

    /// A literal or a number (RFC 8259 §3, §6).
    fn scalar(&mut self) -> Scan<()> {
        let rest = &self.b[self.i..];
        for literal in [&b"true"[..], b"false", b"null"] {
            if rest.starts_with(literal) {
                self.i += literal.len();
                return Ok(());
            }
        }
        self.number()
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Scan<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Malformed),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(Malformed);
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(Malformed);
            }
        }
        Ok(())
    }

    /// Past a run of digits: how many.
    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    /// The next byte after whitespace (RFC 8259 §2: space, tab, line feed, carriage return),
    /// not taken.
    fn peek(&mut self) -> Scan<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(c);
            }
            self.i += 1;
        }
        Err(Malformed)
    }

    /// The next byte after whitespace, taken.
    fn next(&mut self) -> Scan<u8> {
        let c = self.peek()?;
        self.i += 1;
        Ok(c)
    }

    /// Nothing but whitespace is left.
    fn end(&mut self) -> Scan<()> {
        match self.peek() {
            Err(Malformed) => Ok(()),
            Ok(_) => Err(Malformed),
        }
    }
}
