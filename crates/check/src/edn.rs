//! A small reader for EDN values (Clojure's data notation), enough for Jepsen histories: `nil`,
//! booleans, integers, floats, strings, keywords, symbols, vectors, lists, sets and maps.
//! It never panics on bad input: every problem is a [`ParseError`] with its line.

use crate::error::ParseError;

/// Nesting deeper than this is rejected, so hostile input cannot overflow the stack.
pub const EDN_DEPTH_MAX: usize = 64;

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in an `i64`.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string, unescaped.
    Str(String),
    /// A keyword, without its leading colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `[...]`.
    Vector(Vec<Edn>),
    /// `(...)`.
    List(Vec<Edn>),
    /// `#{...}`.
    Set(Vec<Edn>),
    /// `{...}`, in the order written.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// The value under keyword `key` when `self` is a map.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses exactly one EDN value from `text` (surrounding whitespace and commas allowed).
///
/// # Errors
/// A [`ParseError`] at `line` when `text` is not one well-formed value.
pub fn parse_value(text: &str, line: u64) -> Result<Edn, ParseError> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        line,
    };
    let value = reader.value(0)?;
    reader.skip_blank();
    if reader.pos != reader.bytes.len() {
        return Err(reader.error("trailing characters after the value"));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    line: u64,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> ParseError {
        ParseError::new(self.line, format!("EDN: {what} at column {}", self.pos + 1))
    }

    fn skip_blank(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b.is_ascii_whitespace() || b == b',' {
                self.pos += 1;
            } else if b == b';' {
                self.pos = self.bytes.len();
            } else {
                break;
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Edn, ParseError> {
        if depth > EDN_DEPTH_MAX {
            return Err(self.error("nesting too deep"));
        }
        self.skip_blank();
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err(self.error("unexpected end of input"));
        };
        match b {
            b'[' => self.seq(b']', depth).map(Edn::Vector),
            b'(' => self.seq(b')', depth).map(Edn::List),
            b'{' => self.map(depth),
            b'#' if self.bytes.get(self.pos + 1) == Some(&b'{') => {
                self.pos += 1;
                self.seq(b'}', depth).map(Edn::Set)
            }
            b'"' => self.string().map(Edn::Str),
            b':' => {
                self.pos += 1;
                let token = self.token();
                if token.is_empty() {
                    return Err(self.error("empty keyword"));
                }
                Ok(Edn::Keyword(token.to_owned()))
            }
            _ => self.atom(),
        }
    }

    fn seq(&mut self, close: u8, depth: usize) -> Result<Vec<Edn>, ParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            match self.bytes.get(self.pos) {
                None => return Err(self.error("unclosed collection")),
                Some(&b) if b == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.value(depth + 1)?),
            }
        }
    }

    fn map(&mut self, depth: usize) -> Result<Edn, ParseError> {
        let items = self.seq(b'}', depth)?;
        if items.len() % 2 != 0 {
            return Err(self.error("map with an odd number of forms"));
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut iter = items.into_iter();
        while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
            entries.push((k, v));
        }
        Ok(Edn::Map(entries))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(c) = rest.chars().next() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(e) = self.text[self.pos..].chars().next() else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.pos += e.len_utf8();
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '"' => '"',
                        '\\' => '\\',
                        _ => return Err(self.error("unknown string escape")),
                    });
                }
                _ => out.push(c),
            }
        }
    }

    fn token(&mut self) -> &str {
        let start = self.pos;
        while let Some(&b) = self.bytes.get(self.pos) {
            if b.is_ascii_whitespace() || b",()[]{}\";".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        // Token boundaries are ASCII bytes, so the slice is on char boundaries.
        self.text.get(start..self.pos).unwrap_or("")
    }

    fn atom(&mut self) -> Result<Edn, ParseError> {
        let token = self.token().to_owned();
        if token.is_empty() {
            return Err(self.error("unexpected character"));
        }
        let first = token.as_bytes()[0];
        let numeric = first.is_ascii_digit()
            || ((first == b'-' || first == b'+')
                && token.len() > 1
                && token.as_bytes()[1].is_ascii_digit());
        if numeric {
            let digits = token.trim_end_matches(['N', 'M']);
            if let Ok(i) = digits.parse::<i64>() {
                return Ok(Edn::Int(i));
            }
            if let Ok(f) = digits.parse::<f64>() {
                return Ok(Edn::Float(f));
            }
            return Err(self.error(&format!("bad number {token:?}")));
        }
        Ok(match token.as_str() {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => Edn::Symbol(token),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_a_jepsen_map() {
        let v = parse_value(
            r#"{:process 3, :type :ok, :f :get, :key "9", :value "x 1"}"#,
            1,
        )
        .unwrap();
        assert_eq!(v.get("process"), Some(&Edn::Int(3)));
        assert_eq!(v.get("type"), Some(&Edn::Keyword("ok".into())));
        assert_eq!(v.get("value"), Some(&Edn::Str("x 1".into())));
    }

    #[test]
    fn reads_vectors_sets_and_escapes() {
        let v = parse_value(r#"[1 -2 nil #{:a} "q\"x" (3)]"#, 1).unwrap();
        let Edn::Vector(items) = v else {
            panic!("not a vector")
        };
        assert_eq!(items.len(), 6);
        assert_eq!(items[4], Edn::Str("q\"x".into()));
    }

    #[test]
    fn errors_carry_the_line() {
        let e = parse_value("{:a", 17).unwrap_err();
        assert_eq!(e.line, 17);
        assert!(parse_value("[1 2] 3", 1).is_err());
        assert!(parse_value(&"[".repeat(1000), 1).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in ".{0,64}") {
            let _ = parse_value(&text, 1);
        }

        #[test]
        fn never_panics_on_edn_like_text(text in "[\\[\\](){}#:\"\\\\a-z0-9 ,;-]{0,64}") {
            let _ = parse_value(&text, 1);
        }
    }
}
