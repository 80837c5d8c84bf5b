//! A small validating JSON parser that keeps the byte span of every value.
//!
//! The upstream v1 manifest hashes the exact bytes upstream's encoder produced for the
//! header and the records, so the verifier needs those bytes, not a re-encoding: this
//! parser records where each value starts and ends in the file. It accepts exactly RFC 8259
//! JSON (no trailing commas, no comments, no leading zeros, no lone surrogates), refuses
//! duplicate object keys (two `"records"` members would make the hashed bytes and the
//! restored bytes different things) and bounds nesting, so hostile input cannot overflow
//! the stack. Every failure is `CorruptedData` naming the byte offset.

use std::ops::Range;

use crate::error::{Error, Result};

/// One parsed JSON value and where it sits in the input.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Byte range of the whole value in the input.
    pub(crate) span: Range<usize>,
    pub(crate) kind: Kind,
}

/// The value's shape. Scalars keep only their span: their text is the input's.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    /// A number; its text is `span` of the input.
    Number,
    /// A string, already unescaped.
    String(String),
    Array(Vec<Node>),
    /// Members in file order: (raw key span including quotes, unescaped key, value).
    Object(Vec<Member>),
}

/// One object member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// The key's span in the input, quotes included.
    pub(crate) key_span: Range<usize>,
    /// The key, unescaped.
    pub(crate) key: String,
    pub(crate) value: Node,
}

impl Node {
    /// The members if this is an object.
    pub(crate) fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The member called `key`, if this is an object that has one.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.members()?
            .iter()
            .find(|m| m.key == key)
            .map(|m| &m.value)
    }

    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub(crate) fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Parses `text` as one JSON document (whitespace around it allowed, nothing else).
/// `what` names the input in errors.
pub(crate) fn parse(text: &str, what: &str, max_depth: usize) -> Result<Node> {
    let mut p = Parser {
        b: text.as_bytes(),
        src: text,
        pos: 0,
        what,
        max_depth,
    };
    p.ws();
    let node = p.value(0)?;
    p.ws();
    if p.pos != p.b.len() {
        return Err(p.err("unexpected data after the JSON document"));
    }
    Ok(node)
}

struct Parser<'a> {
    b: &'a [u8],
    src: &'a str,
    pos: usize,
    what: &'a str,
    max_depth: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> Error {
        if self.pos >= self.b.len() {
            Error::CorruptedData(format!(
                "{}: malformed JSON: unexpected end of input at byte {} (truncated file?)",
                self.what, self.pos
            ))
        } else {
            Error::CorruptedData(format!(
                "{}: malformed JSON at byte {}: {msg}",
                self.what, self.pos
            ))
        }
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn literal(&mut self, word: &str) -> Result<()> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node> {
        let start = self.pos;
        let kind = match self.peek() {
            None => return Err(self.err("expected a value")),
            Some(b'n') => {
                self.literal("null")?;
                Kind::Null
            }
            Some(b't') => {
                self.literal("true")?;
                Kind::Bool(true)
            }
            Some(b'f') => {
                self.literal("false")?;
                Kind::Bool(false)
            }
            Some(b'"') => Kind::String(self.string()?),
            Some(b'[') => {
                if depth >= self.max_depth {
                    return Err(self.err("nesting is too deep"));
                }
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or ']'")),
                        }
                    }
                }
                Kind::Array(items)
            }
            Some(b'{') => {
                if depth >= self.max_depth {
                    return Err(self.err("nesting is too deep"));
                }
                self.pos += 1;
                let mut members: Vec<Member> = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    let mut seen = std::collections::HashSet::new();
                    loop {
                        self.ws();
                        let key_start = self.pos;
                        if self.peek() != Some(b'"') {
                            return Err(self.err("expected a string key"));
                        }
                        let key = self.string()?;
                        let key_span = key_start..self.pos;
                        if !seen.insert(key.clone()) {
                            self.pos = key_start;
                            return Err(self.err(&format!("duplicate key {key:?}")));
                        }
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                        let value = self.value(depth + 1)?;
                        members.push(Member {
                            key_span,
                            key,
                            value,
                        });
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or '}'")),
                        }
                    }
                }
                Kind::Object(members)
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                self.number()?;
                Kind::Number
            }
            Some(_) => return Err(self.err("unexpected character")),
        };
        Ok(Node {
            span: start..self.pos,
            kind,
        })
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.err("leading zero in a number"));
                }
            }
            Some(c) if c.is_ascii_digit() => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in the exponent"));
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32> {
        let Some(h) = self.b.get(self.pos..self.pos + 4) else {
            self.pos = self.b.len();
            return Err(self.err("truncated \\u escape"));
        };
        let s = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("bad \\u escape"))?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.err("bad \\u escape"));
        }
        self.pos += 4;
        Ok(v)
    }

    /// Parses a string starting at the opening quote and returns it unescaped.
    fn string(&mut self) -> Result<String> {
        self.expect(b'"')?;
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => {
                    out.push_str(&self.src[run..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.src[run..self.pos]);
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.pos..].starts_with(b"\\u") {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err("unpaired surrogate in \\u escape"));
                            } else {
                                hi
                            };
                            match char::from_u32(cp) {
                                Some(ch) => out.push(ch),
                                None => return Err(self.err("bad \\u escape")),
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.err("unknown escape"));
                        }
                    }
                    run = self.pos;
                }
                0x00..=0x1f => return Err(self.err("control character in a string")),
                _ => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_values() {
        let t = r#" {"a":[1,-2.5e+3,"x\/y\u00e9\ud83d\ude00"],"b":{"c":null,"d":true}} "#;
        let n = parse(t, "t", 10).unwrap();
        assert_eq!(&t[n.span.clone()], t.trim());
        let a = n.get("a").unwrap();
        assert_eq!(
            &t[a.span.clone()],
            r#"[1,-2.5e+3,"x\/y\u00e9\ud83d\ude00"]"#
        );
        assert_eq!(a.items().unwrap()[2].as_str(), Some("x/yé😀"));
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"\u{1}\"",
            "{\"a\":1,\"a\":2}",
            "[1] x",
            "\"\\ud800\"",
            "tru",
            "{\"a\" 1}",
            "[\"abc",
        ] {
            assert!(
                matches!(parse(bad, "t", 10), Err(Error::CorruptedData(_))),
                "{bad:?}"
            );
        }
        let deep = "[".repeat(20) + &"]".repeat(20);
        assert!(parse(&deep, "t", 10).is_err());
        assert!(parse(&deep, "t", 30).is_ok());
    }
}
