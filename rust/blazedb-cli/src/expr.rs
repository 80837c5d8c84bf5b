//! The filter expression language of `blazedb query` and the shell (grammar in docs/CLI.md).
//!
//! ```text
//! expr       := or
//! or         := and (("or" | "||") and)*
//! and        := unary (("and" | "&&") unary)*
//! unary      := ("not" | "!") unary | primary
//! primary    := "(" expr ")" | test
//! test       := field ("==" | "=" | "!=" | "<>" | ">" | ">=" | "<" | "<=") value
//!             | field "?" | field "exists" | field "missing"
//!             | field "in" "[" [value ("," value)*] "]"
//!             | field "contains" string | field ("startswith" | "starts_with") string
//! field      := name ("." name)* | `any text`
//! value      := string | number | true | false | null | uuid("…") | date("…")
//! ```

use blazedb::{Filter, Order, Timestamp, Uuid, Value};

/// A parse failure, with the column (1-based, in characters) where it was noticed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub message: String,
    pub column: usize,
    pub source: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} at column {}", self.message, self.column)?;
        writeln!(f, "  {}", self.source)?;
        write!(f, "  {}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Int(i64),
    Double(f64),
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    col: usize,
}

fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let err = |message: String, col: usize| ParseError {
        message,
        column: col + 1,
        source: src.to_string(),
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op2 = ["==", "!=", "<>", ">=", "<=", "&&", "||"]
            .into_iter()
            .find(|o| *o == two);
        if let Some(o) = op2 {
            out.push(Token {
                tok: Tok::Op(o),
                col: start,
            });
            i += 2;
            continue;
        }
        if let Some(o) = ["=", ">", "<", "!", "?", "(", ")", "[", "]", ","]
            .into_iter()
            .find(|o| o.starts_with(c))
        {
            out.push(Token {
                tok: Tok::Op(o),
                col: start,
            });
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            let quote = c;
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&ch) = chars.get(i) else {
                    return Err(err("unterminated string".into(), start));
                };
                i += 1;
                if ch == quote {
                    break;
                }
                if ch == '\\' {
                    let Some(&e) = chars.get(i) else {
                        return Err(err("unterminated string".into(), start));
                    };
                    i += 1;
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        '0' => s.push('\0'),
                        '\\' | '"' | '\'' => s.push(e),
                        'u' => {
                            let hex: String = chars.get(i..i + 4).unwrap_or(&[]).iter().collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| err("\\u needs 4 hex digits".into(), i - 2))?;
                            s.push(code);
                            i += 4;
                        }
                        other => {
                            return Err(err(format!("unknown escape \\{other}"), i - 2));
                        }
                    }
                } else {
                    s.push(ch);
                }
            }
            out.push(Token {
                tok: Tok::Str(s),
                col: start,
            });
            continue;
        }
        if c == '`' {
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&ch) = chars.get(i) else {
                    return Err(err("unterminated `field`".into(), start));
                };
                i += 1;
                if ch == '`' {
                    break;
                }
                s.push(ch);
            }
            out.push(Token {
                tok: Tok::Quoted(s),
                col: start,
            });
            continue;
        }
        let numeric_start = c.is_ascii_digit()
            || (c == '-'
                && chars
                    .get(i + 1)
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.'))
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()));
        if numeric_start {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_alphanumeric()
                    || chars[j] == '.'
                    || chars[j] == '_'
                    || ((chars[j] == '-' || chars[j] == '+') && matches!(chars[j - 1], 'e' | 'E')))
            {
                j += 1;
            }
            let text: String = chars[i..j].iter().filter(|c| **c != '_').collect();
            let tok = if let Ok(n) = text.parse::<i64>() {
                Tok::Int(n)
            } else if let Ok(d) = text.parse::<f64>() {
                Tok::Double(d)
            } else {
                return Err(err(format!("{text:?} is not a number"), start));
            };
            out.push(Token { tok, col: start });
            i = j;
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_alphanumeric() || matches!(chars[j], '_' | '$' | '.' | '-'))
            {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Ident(chars[i..j].iter().collect()),
                col: start,
            });
            i = j;
            continue;
        }
        return Err(err(format!("unexpected character {c:?}"), start));
    }
    Ok(out)
}

/// What `find` in the shell (and the query flags) ask for.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FindSpec {
    pub filter: Option<Filter>,
    pub order: Vec<(String, Order)>,
    pub limit: Option<usize>,
    pub offset: usize,
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    src: String,
    /// Words that end the expression (the shell's `order`, `limit`, `offset`).
    stop_words: &'static [&'static str],
}

fn kw(t: &Tok, word: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(word))
}

impl Parser {
    fn err(&self, message: impl Into<String>) -> ParseError {
        let column = match self.toks.get(self.pos) {
            Some(t) => t.col + 1,
            None => self.src.chars().count() + 1,
        };
        ParseError {
            message: message.into(),
            column,
            source: self.src.clone(),
        }
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn at_stop(&self) -> bool {
        match self.peek() {
            None => true,
            Some(t) => self.stop_words.iter().any(|w| kw(t, w)),
        }
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, word: &str) -> bool {
        if self.peek().is_some_and(|t| kw(t, word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Filter, ParseError> {
        let mut terms = vec![self.and()?];
        while self.eat_kw("or") || self.eat_op("||") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut terms = vec![self.unary()?];
        while self.eat_kw("and") || self.eat_op("&&") {
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Filter::And(terms)
        })
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        if self.eat_kw("not") || self.eat_op("!") {
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.eat_op("(") {
            let inner = self.expr()?;
            if !self.eat_op(")") {
                return Err(self.err("expected ')'"));
            }
            return Ok(inner);
        }
        self.test()
    }

    fn field(&mut self) -> Result<String, ParseError> {
        match self.peek().cloned() {
            Some(Tok::Ident(s)) => {
                if ["and", "or", "not", "in", "contains", "true", "false", "null"]
                    .iter()
                    .any(|w| s.eq_ignore_ascii_case(w))
                {
                    return Err(self.err(format!(
                        "expected a field name, found the keyword {s:?} (write `{s}` to use it as a field)"
                    )));
                }
                self.pos += 1;
                Ok(s)
            }
            Some(Tok::Quoted(s)) => {
                if s.is_empty() {
                    return Err(self.err("a field name cannot be empty"));
                }
                self.pos += 1;
                Ok(s)
            }
            Some(Tok::Str(_)) => Err(self.err(
                "expected a field name, found a string (field names are not quoted; use `back quotes` for odd names)",
            )),
            None => Err(self.err("expected a field name, found the end of the expression")),
            Some(_) => Err(self.err("expected a field name")),
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        let v = match self.peek().cloned() {
            Some(Tok::Str(s)) => Value::String(s),
            Some(Tok::Int(n)) => Value::Int(n),
            Some(Tok::Double(d)) => Value::Double(d),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
            Some(Tok::Ident(w))
                if (w.eq_ignore_ascii_case("uuid") || w.eq_ignore_ascii_case("date"))
                    && matches!(
                        self.toks.get(self.pos + 1).map(|t| &t.tok),
                        Some(Tok::Op("("))
                    ) =>
            {
                self.pos += 2;
                let Some(Tok::Str(s)) = self.peek().cloned() else {
                    return Err(self.err(format!("{w}(…) takes a quoted string")));
                };
                let v = if w.eq_ignore_ascii_case("uuid") {
                    Value::Uuid(
                        Uuid::parse_str(&s)
                            .map_err(|_| self.err(format!("{s:?} is not a UUID")))?,
                    )
                } else {
                    Value::Date(Timestamp::parse_rfc3339(&s).ok_or_else(|| {
                        self.err(format!(
                            "{s:?} is not an RFC 3339 date (2024-05-01T12:00:00Z)"
                        ))
                    })?)
                };
                self.pos += 1;
                if !self.eat_op(")") {
                    return Err(self.err("expected ')'"));
                }
                return Ok(v);
            }
            Some(Tok::Ident(w)) => {
                return Err(self.err(format!(
                    "expected a value, found the bare word {w:?} (quote strings: \"{w}\")"
                )));
            }
            None => return Err(self.err("expected a value, found the end of the expression")),
            Some(_) => {
                return Err(self.err(
                    "expected a value (a quoted string, a number, true, false, null, uuid(\"…\") or date(\"…\"))",
                ));
            }
        };
        self.pos += 1;
        Ok(v)
    }

    fn string(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.err(format!("{what} takes a quoted string"))),
        }
    }

    fn test(&mut self) -> Result<Filter, ParseError> {
        let field = self.field()?;
        let ops = ["==", "=", "!=", "<>", ">=", "<=", ">", "<"];
        for op in ops {
            if self.eat_op(op) {
                let v = self.value()?;
                return Ok(match op {
                    "==" | "=" => Filter::Eq(field, v),
                    "!=" | "<>" => Filter::Ne(field, v),
                    ">" => Filter::Gt(field, v),
                    ">=" => Filter::Gte(field, v),
                    "<" => Filter::Lt(field, v),
                    _ => Filter::Lte(field, v),
                });
            }
        }
        if self.eat_op("?") || self.eat_kw("exists") {
            return Ok(Filter::NotNil(field));
        }
        if self.eat_kw("missing") {
            return Ok(Filter::IsNil(field));
        }
        if self.eat_kw("contains") {
            return Ok(Filter::Contains(field, self.string("contains")?));
        }
        if self.eat_kw("startswith") || self.eat_kw("starts_with") {
            return Ok(Filter::StartsWith(field, self.string("startswith")?));
        }
        if self.eat_kw("in") {
            if !self.eat_op("[") {
                return Err(self.err("expected '[' after in"));
            }
            let mut vs = Vec::new();
            if !self.eat_op("]") {
                loop {
                    vs.push(self.value()?);
                    if self.eat_op("]") {
                        break;
                    }
                    if !self.eat_op(",") {
                        return Err(self.err("expected ',' or ']'"));
                    }
                }
            }
            return Ok(Filter::In(field, vs));
        }
        Err(self.err(format!(
            "expected an operator after {field:?} (== != > >= < <= ? in contains startswith exists missing)"
        )))
    }
}

/// Parses a filter expression; an empty or blank one is `None` (every record).
pub fn parse_filter(src: &str) -> Result<Option<Filter>, ParseError> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        src: src.to_string(),
        stop_words: &[],
    };
    let f = p.expr()?;
    if p.pos < p.toks.len() {
        return Err(p.err("unexpected text after the expression (missing and/or?)"));
    }
    Ok(Some(f))
}

/// Parses the shell's `find` arguments: `[expr] [order field [asc|desc] (, field [asc|desc])*]
/// [limit n] [offset n]`.
pub fn parse_find(src: &str) -> Result<FindSpec, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        src: src.to_string(),
        stop_words: &["order", "limit", "offset"],
    };
    let mut spec = FindSpec::default();
    if !p.at_stop() {
        spec.filter = Some(p.expr()?);
    }
    while p.pos < p.toks.len() {
        if p.eat_kw("order") {
            p.eat_kw("by");
            loop {
                let f = p.field()?;
                let o = if p.eat_kw("desc") {
                    Order::Descending
                } else {
                    p.eat_kw("asc");
                    Order::Ascending
                };
                spec.order.push((f, o));
                if !p.eat_op(",") {
                    break;
                }
            }
        } else if p.eat_kw("limit") {
            spec.limit = Some(p.count("limit")?);
        } else if p.eat_kw("offset") {
            spec.offset = p.count("offset")?;
        } else {
            return Err(p.err("expected order, limit or offset"));
        }
    }
    Ok(spec)
}

impl Parser {
    fn count(&mut self, what: &str) -> Result<usize, ParseError> {
        match self.peek().cloned() {
            Some(Tok::Int(n)) if n >= 0 => {
                self.pos += 1;
                Ok(n as usize)
            }
            _ => Err(self.err(format!("{what} takes a whole number"))),
        }
    }
}

/// Parses `--order field[:asc|:desc]`.
pub fn parse_order(s: &str) -> Result<(String, Order), String> {
    let (field, dir) = match s.rsplit_once(':') {
        Some((f, d)) if d.eq_ignore_ascii_case("desc") => (f, Order::Descending),
        Some((f, d)) if d.eq_ignore_ascii_case("asc") => (f, Order::Ascending),
        _ => (s, Order::Ascending),
    };
    if field.is_empty() {
        return Err(format!("--order {s:?}: the field is empty"));
    }
    Ok((field.to_string(), dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_forms() {
        let f = parse_filter(r#"status == "open" and priority >= 3 or not assignee?"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            f,
            Filter::Or(vec![
                Filter::And(vec![
                    Filter::Eq("status".into(), Value::String("open".into())),
                    Filter::Gte("priority".into(), Value::Int(3)),
                ]),
                Filter::Not(Box::new(Filter::NotNil("assignee".into()))),
            ])
        );
        let f = parse_filter(r#"tags.0 in ["a", 'b', 2.5, null] && !(x < -1e3)"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            f,
            Filter::And(vec![
                Filter::In(
                    "tags.0".into(),
                    vec!["a".into(), "b".into(), Value::Double(2.5), Value::Null]
                ),
                Filter::Not(Box::new(Filter::Lt("x".into(), Value::Double(-1000.0)))),
            ])
        );
        assert_eq!(parse_filter("  ").unwrap(), None);
        assert!(matches!(
            parse_filter(r#"`odd field` contains "x""#).unwrap(),
            Some(Filter::Contains(f, s)) if f == "odd field" && s == "x"
        ));
    }

    #[test]
    fn errors_name_the_column() {
        let e = parse_filter("status == open").unwrap_err();
        assert_eq!(e.column, 11);
        assert!(e.message.contains("bare word"), "{e}");
        let e = parse_filter("a == 1 b == 2").unwrap_err();
        assert_eq!(e.column, 8);
        assert!(parse_filter("(a == 1").unwrap_err().message.contains("')'"));
        assert!(
            parse_filter("a == \"x")
                .unwrap_err()
                .message
                .contains("unterminated")
        );
        assert!(parse_filter("a ~ 1").is_err());
    }

    #[test]
    fn find_tail() {
        let s = parse_find(r#"priority > 2 order priority desc, title limit 5 offset 10"#).unwrap();
        assert_eq!(s.limit, Some(5));
        assert_eq!(s.offset, 10);
        assert_eq!(
            s.order,
            vec![
                ("priority".to_string(), Order::Descending),
                ("title".to_string(), Order::Ascending)
            ]
        );
        assert!(s.filter.is_some());
        let s = parse_find("limit 3").unwrap();
        assert_eq!((s.filter, s.limit), (None, Some(3)));
    }
}
