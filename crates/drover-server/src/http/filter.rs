//! Nomad's `?filter=` list expressions (the go-bexpr language), evaluated
//! against a list row's JSON.
//!
//! Nomad clients and scripts filter lists with expressions such as
//! `ParentID == "" and Status != "dead"` or `Meta.owner matches "^team-"`.
//! Drover parses the same language: match expressions joined by `and`,
//! `or`, `not` and parentheses, with these forms (a selector is a dotted
//! path of field names, `Meta.owner` or `Meta["owner"]`):
//!
//! - `<selector> == <value>`, `<selector> != <value>`
//! - `<selector> contains <value>`, `<selector> not contains <value>`
//! - `<value> in <selector>`, `<value> not in <selector>`
//! - `<selector> is empty`, `<selector> is not empty`
//! - `<selector> matches <regex>`, `<selector> not matches <regex>`
//!
//! Values are `"double-quoted"` or `` `raw` `` strings, numbers, `true` /
//! `false`, or bare words. A selector that names no field makes its match
//! false (and `is empty` true), as go-bexpr does for missing map keys.

use regex::Regex;
use serde_json::Value;

/// A parsed filter, ready to test rows.
#[derive(Debug)]
pub(crate) struct Filter {
    root: Expr,
    /// Field names the expression reads first (so a list can skip work a
    /// filter never looks at, e.g. computing a job's summary).
    fields: Vec<String>,
}

#[derive(Debug)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Match { selector: Vec<String>, op: Op },
}

#[derive(Debug)]
enum Op {
    Equal(String),
    NotEqual(String),
    Contains(String),
    NotContains(String),
    In(String),
    NotIn(String),
    IsEmpty,
    IsNotEmpty,
    Matches(Regex),
    NotMatches(Regex),
}

impl Filter {
    /// Parses an expression; the error says what was expected and where.
    pub(crate) fn parse(text: &str) -> Result<Filter, String> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, at: 0 };
        let root = parser.or()?;
        if let Some(token) = parser.tokens.get(parser.at) {
            return Err(format!("filter {text:?}: unexpected {} at position {}", token.describe(), token.position + 1));
        }
        let mut fields = Vec::new();
        root.first_fields(&mut fields);
        Ok(Filter { root, fields })
    }

    /// Whether the expression reads the top-level field `name`.
    pub(crate) fn reads(&self, name: &str) -> bool {
        self.fields.iter().any(|field| field == name)
    }

    /// Whether `row` (a list row as its JSON) passes.
    pub(crate) fn matches(&self, row: &Value) -> bool {
        self.root.eval(row)
    }
}

impl Expr {
    fn eval(&self, row: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.eval(row) && b.eval(row),
            Expr::Or(a, b) => a.eval(row) || b.eval(row),
            Expr::Not(inner) => !inner.eval(row),
            Expr::Match { selector, op } => {
                let value = select(row, selector);
                op.test(value)
            }
        }
    }

    fn first_fields(&self, out: &mut Vec<String>) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.first_fields(out);
                b.first_fields(out);
            }
            Expr::Not(inner) => inner.first_fields(out),
            Expr::Match { selector, .. } => {
                if let Some(first) = selector.first() {
                    out.push(first.clone());
                }
            }
        }
    }
}

fn select<'a>(row: &'a Value, selector: &[String]) -> Option<&'a Value> {
    selector.iter().try_fold(row, |value, name| match value {
        Value::Object(map) => map.get(name),
        Value::Array(items) => name.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A JSON scalar as the text a filter value compares with.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn equals(value: Option<&Value>, wanted: &str) -> bool {
    let Some(value) = value else { return false };
    match (value, wanted.parse::<f64>()) {
        (Value::Number(number), Ok(wanted)) => number.as_f64() == Some(wanted),
        _ => scalar_text(value).is_some_and(|text| text == wanted),
    }
}

fn contains(value: Option<&Value>, wanted: &str) -> bool {
    match value {
        Some(Value::String(text)) => text.contains(wanted),
        Some(Value::Array(items)) => items.iter().any(|item| equals(Some(item), wanted)),
        Some(Value::Object(map)) => map.contains_key(wanted),
        _ => false,
    }
}

fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(map)) => map.is_empty(),
        Some(_) => false,
    }
}

impl Op {
    fn test(&self, value: Option<&Value>) -> bool {
        match self {
            Op::Equal(wanted) => equals(value, wanted),
            Op::NotEqual(wanted) => !equals(value, wanted),
            Op::Contains(wanted) | Op::In(wanted) => contains(value, wanted),
            Op::NotContains(wanted) | Op::NotIn(wanted) => !contains(value, wanted),
            Op::IsEmpty => is_empty(value),
            Op::IsNotEmpty => !is_empty(value),
            Op::Matches(regex) => value.and_then(scalar_text).is_some_and(|text| regex.is_match(&text)),
            Op::NotMatches(regex) => !value.and_then(scalar_text).is_some_and(|text| regex.is_match(&text)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// A bare word: a field name, keyword or unquoted value.
    Word(String),
    /// A quoted string.
    Quoted(String),
    Symbol(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    position: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.kind {
            Kind::Word(word) => format!("{word:?}"),
            Kind::Quoted(text) => format!("string {text:?}"),
            Kind::Symbol(symbol) => format!("{symbol:?}"),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(&self.kind, Kind::Word(w) if w == word)
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (position, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | '[' | ']' | '.' => {
                let symbol = match c {
                    '(' => "(",
                    ')' => ")",
                    '[' => "[",
                    ']' => "]",
                    _ => ".",
                };
                tokens.push(Token { kind: Kind::Symbol(symbol), position });
                i += 1;
            }
            '=' | '!' => {
                let symbol = match chars.get(i + 1) {
                    Some((_, '=')) if c == '=' => "==",
                    Some((_, '=')) => "!=",
                    _ => return Err(format!("filter {text:?}: expected {c}= at position {}", position + 1)),
                };
                tokens.push(Token { kind: Kind::Symbol(symbol), position });
                i += 2;
            }
            '"' | '`' => {
                let quote = c;
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(&(_, next)) = chars.get(i) else {
                        return Err(format!(
                            "filter {text:?}: the string that starts at position {} is not closed",
                            position + 1
                        ));
                    };
                    i += 1;
                    if next == quote {
                        break;
                    }
                    if next == '\\' && quote == '"' {
                        match chars.get(i) {
                            Some(&(_, escaped)) => {
                                value.push(match escaped {
                                    'n' => '\n',
                                    't' => '\t',
                                    other => other,
                                });
                                i += 1;
                            }
                            None => continue,
                        }
                    } else {
                        value.push(next);
                    }
                }
                tokens.push(Token { kind: Kind::Quoted(value), position });
            }
            _ => {
                let start = i;
                while let Some(&(_, next)) = chars.get(i) {
                    if next.is_whitespace() || matches!(next, '(' | ')' | '[' | ']' | '.' | '=' | '!' | '"' | '`') {
                        break;
                    }
                    i += 1;
                }
                // A number keeps its decimal point: `1.5` is one value, not a path.
                if chars[start..i].iter().all(|(_, ch)| ch.is_ascii_digit() || *ch == '-')
                    && matches!(chars.get(i), Some((_, '.')))
                    && chars.get(i + 1).is_some_and(|(_, ch)| ch.is_ascii_digit())
                {
                    i += 1;
                    while chars.get(i).is_some_and(|(_, ch)| ch.is_ascii_digit()) {
                        i += 1;
                    }
                }
                let word: String = chars[start..i].iter().map(|(_, ch)| ch).collect();
                tokens.push(Token { kind: Kind::Word(word), position });
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_word(&self, word: &str) -> bool {
        self.peek().is_some_and(|token| token.is_word(word))
    }

    fn peek_symbol(&self, symbol: &'static str) -> bool {
        self.peek().is_some_and(|token| token.kind == Kind::Symbol(symbol))
    }

    fn expected(&self, what: &str) -> String {
        match self.peek() {
            Some(token) => format!("expected {what} at position {}, found {}", token.position + 1, token.describe()),
            None => format!("expected {what} at the end of the filter"),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek_symbol("(") {
            self.at += 1;
            let inner = self.or()?;
            if !self.peek_symbol(")") {
                return Err(self.expected("\")\""));
            }
            self.at += 1;
            return Ok(inner);
        }
        self.matcher()
    }

    /// `<value> [not] in <selector>` or `<selector> <op> ...`.
    fn matcher(&mut self) -> Result<Expr, String> {
        let save = self.at;
        if let Some(value) = self.value_token() {
            let negated = self.peek_word("not") && self.tokens.get(self.at + 1).is_some_and(|t| t.is_word("in"));
            if negated {
                self.at += 1;
            }
            if self.peek_word("in") {
                self.at += 1;
                let selector = self.selector()?;
                let op = if negated { Op::NotIn(value) } else { Op::In(value) };
                return Ok(Expr::Match { selector, op });
            }
            self.at = save;
        }
        let selector = self.selector()?;
        let op = self.operator()?;
        Ok(Expr::Match { selector, op })
    }

    /// A value token (consumed), if the next token can be one.
    fn value_token(&mut self) -> Option<String> {
        let token = self.peek()?.clone();
        let value = match token.kind {
            Kind::Quoted(text) => text,
            Kind::Word(word) if !matches!(word.as_str(), "and" | "or" | "not" | "in" | "is") => word,
            _ => return None,
        };
        self.at += 1;
        Some(value)
    }

    fn selector(&mut self) -> Result<Vec<String>, String> {
        let mut path = Vec::new();
        match self.peek().map(|t| t.kind.clone()) {
            Some(Kind::Word(word)) => {
                path.push(word);
                self.at += 1;
            }
            _ => return Err(self.expected("a field name")),
        }
        loop {
            if self.peek_symbol(".") {
                self.at += 1;
                match self.peek().map(|t| t.kind.clone()) {
                    Some(Kind::Word(word)) | Some(Kind::Quoted(word)) => {
                        path.push(word);
                        self.at += 1;
                    }
                    _ => return Err(self.expected("a field name after \".\"")),
                }
            } else if self.peek_symbol("[") {
                self.at += 1;
                match self.peek().map(|t| t.kind.clone()) {
                    Some(Kind::Word(word)) | Some(Kind::Quoted(word)) => {
                        path.push(word);
                        self.at += 1;
                    }
                    _ => return Err(self.expected("a key inside \"[...]\"")),
                }
                if !self.peek_symbol("]") {
                    return Err(self.expected("\"]\""));
                }
                self.at += 1;
            } else {
                return Ok(path);
            }
        }
    }

    fn operator(&mut self) -> Result<Op, String> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.expected("an operator (==, !=, contains, matches, is empty)"));
        };
        self.at += 1;
        let op = match &token.kind {
            Kind::Symbol("==") => Op::Equal(self.value()?),
            Kind::Symbol("!=") => Op::NotEqual(self.value()?),
            Kind::Word(word) if word == "contains" => Op::Contains(self.value()?),
            Kind::Word(word) if word == "matches" => Op::Matches(self.regex()?),
            Kind::Word(word) if word == "is" => {
                let negated = self.peek_word("not");
                if negated {
                    self.at += 1;
                }
                if !self.peek_word("empty") {
                    return Err(self.expected("\"empty\""));
                }
                self.at += 1;
                if negated { Op::IsNotEmpty } else { Op::IsEmpty }
            }
            Kind::Word(word) if word == "not" => {
                if self.peek_word("contains") {
                    self.at += 1;
                    Op::NotContains(self.value()?)
                } else if self.peek_word("matches") {
                    self.at += 1;
                    Op::NotMatches(self.regex()?)
                } else {
                    return Err(self.expected("\"contains\" or \"matches\" after \"not\""));
                }
            }
            _ => {
                self.at -= 1;
                return Err(self.expected("an operator (==, !=, contains, matches, is empty)"));
            }
        };
        Ok(op)
    }

    fn value(&mut self) -> Result<String, String> {
        self.value_token().ok_or_else(|| self.expected("a value"))
    }

    fn regex(&mut self) -> Result<Regex, String> {
        let text = self.value()?;
        Regex::new(&text).map_err(|err| format!("invalid regular expression {text:?}: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::Filter;
    use serde_json::json;

    fn passes(filter: &str, row: serde_json::Value) -> bool {
        match Filter::parse(filter) {
            Ok(filter) => filter.matches(&row),
            Err(err) => panic!("{filter}: {err}"),
        }
    }

    #[test]
    fn equality_and_boolean_logic() {
        let row = json!({"ID": "tiny", "ParentID": "", "Status": "running", "Priority": 50, "Stop": false});
        assert!(passes(r#"ParentID == """#, row.clone()));
        assert!(passes(r#"Status == running and not (Stop == true)"#, row.clone()));
        assert!(passes(r#"Status == "dead" or Priority == 50"#, row.clone()));
        assert!(!passes(r#"Status != "running""#, row.clone()));
        assert!(passes(r#"Priority == 50.0"#, row.clone()));
        assert!(!passes(r#"Missing == "x""#, row));
    }

    #[test]
    fn selectors_reach_into_maps_and_lists() {
        let row = json!({"Meta": {"owner": "team-a", "dotted.key": "v"}, "Datacenters": ["dc1", "dc2"]});
        assert!(passes(r#"Meta.owner == "team-a""#, row.clone()));
        assert!(passes(r#"Meta["dotted.key"] == v"#, row.clone()));
        assert!(passes(r#""dc2" in Datacenters"#, row.clone()));
        assert!(passes(r#""dc3" not in Datacenters"#, row.clone()));
        assert!(passes(r#"Datacenters contains dc1"#, row.clone()));
        assert!(passes(r#"Meta.owner matches "^team-""#, row.clone()));
        assert!(passes(r#"Meta.owner not matches "^ops-""#, row.clone()));
        assert!(passes(r#"Meta.absent is empty"#, row.clone()));
        assert!(passes(r#"Meta is not empty"#, row));
    }

    #[test]
    fn bad_filters_say_what_and_where() {
        let err = Filter::parse(r#"Status = "x""#).expect_err("a bad filter");
        assert!(err.contains("expected == at position 8"), "{err}");
        let err = Filter::parse(r#"Status == "x"#).expect_err("a bad filter");
        assert!(err.contains("not closed"), "{err}");
        let err = Filter::parse(r#"Status =="#).expect_err("a bad filter");
        assert!(err.contains("expected a value at the end"), "{err}");
        let err = Filter::parse(r#"Status == x y"#).expect_err("a bad filter");
        assert!(err.contains("unexpected \"y\" at position 13"), "{err}");
        let err = Filter::parse(r#"Status matches "(""#).expect_err("a bad filter");
        assert!(err.contains("invalid regular expression"), "{err}");
        let err = Filter::parse(r#"(Status == x"#).expect_err("a bad filter");
        assert!(err.contains("expected \")\""), "{err}");
    }

    #[test]
    fn a_filter_names_the_fields_it_reads() {
        let filter = Filter::parse(r#"ParentID == "" and JobSummary.Summary.web.Running == 1"#).expect("parses");
        assert!(filter.reads("JobSummary"));
        assert!(filter.reads("ParentID"));
        assert!(!filter.reads("Status"));
    }
}
