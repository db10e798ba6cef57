//! Layout normalization for HCL1-style one-line blocks.
//!
//! Older Nomad jobspecs (HCL1) write several attributes or nested blocks on
//! one line: `restart { attempts = 2 interval = "30m" }`,
//! `config { image = "redis" port_map { db = 6379 } }`. HCL2 (and `hcl-rs`)
//! requires one per line. When the text does not parse as written, this
//! module inserts a newline at each statement boundary on such a line and the
//! parser tries again. Only newlines are inserted, and only between
//! statements of a block body or items of an object, so the meaning does not
//! change; [`Normalized::original_offset`] maps positions back to the text
//! the user wrote.

/// A source text with newlines inserted at statement boundaries.
pub(crate) struct Normalized {
    /// The text given to the parser.
    pub(crate) text: String,
    /// Offsets in `text` of the inserted newlines, ascending.
    inserted: Vec<usize>,
}

impl Normalized {
    /// The text as written, nothing inserted.
    pub(crate) fn unchanged(source: &str) -> Normalized {
        Normalized { text: source.to_string(), inserted: Vec::new() }
    }

    /// Whether any newline was inserted.
    pub(crate) fn is_unchanged(&self) -> bool {
        self.inserted.is_empty()
    }

    /// The offset in the original text of byte `offset` of [`Normalized::text`].
    pub(crate) fn original_offset(&self, offset: usize) -> usize {
        let n_before = self.inserted.partition_point(|&inserted| inserted < offset);
        offset - n_before
    }
}

/// Where the scanner is: a block body, an expression bracket, a string.
enum Frame {
    /// The file's or a block's body. `pending`: a statement ended on this
    /// line, so the next one needs a newline first.
    Body { state: Stmt, pending: bool },
    /// An object expression; `operand_end`: the last token ended a value.
    Object { operand_end: bool, is_for: bool, first: bool },
    /// Parentheses or a list: nothing is inserted inside.
    Group,
    /// A `${ ... }` or `%{ ... }` inside a string.
    Interp,
    /// A quoted string.
    Str,
}

/// Where a block body's current statement is.
#[derive(Clone, Copy)]
enum Stmt {
    /// Between statements.
    Start,
    /// After the name: labels, then `=` or `{`.
    Header,
    /// In an attribute's value; `operand_end`: the last token ended a value.
    Attr { operand_end: bool },
}

/// Inserts newlines so one-line blocks with several statements become HCL2.
pub(crate) fn normalize(source: &str) -> Normalized {
    let bytes = source.as_bytes();
    let mut insert_at: Vec<usize> = Vec::new();
    let mut stack = vec![Frame::Body { state: Stmt::Start, pending: false }];
    let mut idx = 0;
    while idx < bytes.len() {
        let byte = bytes[idx];
        let Some(top) = stack.last_mut() else { break };
        if let Frame::Str = top {
            match byte {
                b'\\' => idx += 2,
                b'"' => {
                    stack.pop();
                    mark_operand_end(&mut stack);
                    idx += 1;
                }
                b'$' | b'%' if bytes.get(idx + 1) == Some(&byte) && bytes.get(idx + 2) == Some(&b'{') => idx += 3,
                b'$' | b'%' if bytes.get(idx + 1) == Some(&b'{') => {
                    stack.push(Frame::Interp);
                    idx += 2;
                }
                _ => idx += 1,
            }
            continue;
        }
        // Whitespace and comments.
        match byte {
            b'\n' => {
                match top {
                    Frame::Body { state, pending } => {
                        *pending = false;
                        if matches!(state, Stmt::Attr { .. }) {
                            *state = Stmt::Start;
                        }
                    }
                    Frame::Object { operand_end, .. } => *operand_end = false,
                    _ => {}
                }
                idx += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                idx += 1;
                continue;
            }
            b'#' => {
                idx = line_end(bytes, idx);
                continue;
            }
            b'/' if bytes.get(idx + 1) == Some(&b'/') => {
                idx = line_end(bytes, idx);
                continue;
            }
            b'/' if bytes.get(idx + 1) == Some(&b'*') => {
                idx = source[idx + 2..].find("*/").map_or(bytes.len(), |end| idx + 2 + end + 2);
                continue;
            }
            _ => {}
        }
        let token_start = idx;
        let token = lex(source, idx);
        idx = token.end;
        let Some(top) = stack.last_mut() else { break };
        match top {
            Frame::Body { state, pending } => match (*state, token.kind) {
                (_, Kind::Punct(b'}')) => {
                    if *pending || matches!(state, Stmt::Attr { .. } | Stmt::Header) {
                        insert_at.push(token_start);
                    }
                    if stack.len() > 1 {
                        stack.pop();
                        if let Some(Frame::Body { state, pending }) = stack.last_mut() {
                            *state = Stmt::Start;
                            *pending = true;
                        }
                    }
                }
                (Stmt::Start, kind) => {
                    if *pending {
                        insert_at.push(token_start);
                        *pending = false;
                    }
                    *state = Stmt::Header;
                    if kind == Kind::Quote {
                        stack.push(Frame::Str);
                    }
                }
                (Stmt::Header, Kind::Punct(b'=')) => *state = Stmt::Attr { operand_end: false },
                (Stmt::Header, Kind::Punct(b'{')) => {
                    *state = Stmt::Start;
                    stack.push(Frame::Body { state: Stmt::Start, pending: true });
                }
                (Stmt::Header, Kind::Quote) => stack.push(Frame::Str),
                (Stmt::Header, _) => {}
                (Stmt::Attr { operand_end }, Kind::Ident) if operand_end => {
                    insert_at.push(token_start);
                    *state = Stmt::Header;
                }
                (Stmt::Attr { .. }, kind) => {
                    *state = Stmt::Attr { operand_end: false };
                    expression_token(&mut stack, kind, source, &mut idx);
                }
            },
            Frame::Object { operand_end, is_for, first } => {
                if *first && token.kind == Kind::Ident && &source[token_start..idx] == "for" {
                    *is_for = true;
                }
                *first = false;
                if !*is_for && *operand_end && matches!(token.kind, Kind::Ident | Kind::Quote) {
                    insert_at.push(token_start);
                }
                *operand_end = false;
                if token.kind == Kind::Punct(b'}') {
                    stack.pop();
                    mark_operand_end(&mut stack);
                } else {
                    expression_token(&mut stack, token.kind, source, &mut idx);
                }
            }
            Frame::Group | Frame::Interp => match token.kind {
                Kind::Punct(b')' | b']') if matches!(top, Frame::Group) => {
                    stack.pop();
                    mark_operand_end(&mut stack);
                }
                Kind::Punct(b'}') if matches!(top, Frame::Interp) => {
                    stack.pop();
                }
                kind => expression_token(&mut stack, kind, source, &mut idx),
            },
            Frame::Str => {}
        }
    }
    let mut text = String::with_capacity(source.len() + insert_at.len());
    let mut inserted = Vec::with_capacity(insert_at.len());
    let mut copied = 0;
    for at in insert_at {
        text.push_str(&source[copied..at]);
        inserted.push(text.len());
        text.push('\n');
        copied = at;
    }
    text.push_str(&source[copied..]);
    Normalized { text, inserted }
}

/// Token kinds the scanner tells apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An identifier (or keyword, or unicode text).
    Ident,
    /// A number.
    Number,
    /// The opening quote of a string.
    Quote,
    /// `<<EOT` or `<<-EOT`: the start of a heredoc.
    Heredoc,
    /// Any other character.
    Punct(u8),
}

struct Token {
    kind: Kind,
    end: usize,
}

fn lex(source: &str, start: usize) -> Token {
    let bytes = source.as_bytes();
    let byte = bytes[start];
    let is_ident_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b >= 0x80;
    if byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80 {
        let len = bytes[start..].iter().take_while(|&&b| is_ident_byte(b)).count();
        return Token { kind: Kind::Ident, end: start + len };
    }
    if byte.is_ascii_digit() {
        let len = bytes[start..].iter().take_while(|&&b| b.is_ascii_alphanumeric() || b == b'.').count();
        return Token { kind: Kind::Number, end: start + len };
    }
    if byte == b'"' {
        return Token { kind: Kind::Quote, end: start + 1 };
    }
    if byte == b'<' && bytes.get(start + 1) == Some(&b'<') {
        let mut end = start + 2;
        if bytes.get(end) == Some(&b'-') {
            end += 1;
        }
        if bytes.get(end).is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_') {
            return Token { kind: Kind::Heredoc, end };
        }
    }
    Token { kind: Kind::Punct(byte), end: start + 1 }
}

/// Handles a token inside an expression: opens brackets, strings, heredocs
/// and records whether it ended a value.
fn expression_token(stack: &mut Vec<Frame>, kind: Kind, source: &str, idx: &mut usize) {
    match kind {
        Kind::Ident | Kind::Number => mark_operand_end(stack),
        Kind::Quote => stack.push(Frame::Str),
        Kind::Heredoc => {
            *idx = heredoc_end(source, *idx);
            mark_operand_end(stack);
        }
        Kind::Punct(b'{') => stack.push(Frame::Object { operand_end: false, is_for: false, first: true }),
        Kind::Punct(b'(' | b'[') => stack.push(Frame::Group),
        Kind::Punct(_) => {}
    }
}

/// Records that a value just ended in the innermost attribute or object.
fn mark_operand_end(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Body { state: state @ Stmt::Attr { .. }, .. }) => *state = Stmt::Attr { operand_end: true },
        Some(Frame::Object { operand_end, .. }) => *operand_end = true,
        _ => {}
    }
}

/// `idx` is just after `<<` / `<<-`: the offset after the closing delimiter line's marker.
fn heredoc_end(source: &str, idx: usize) -> usize {
    let bytes = source.as_bytes();
    let name_len = bytes[idx..].iter().take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-').count();
    let name = &source[idx..idx + name_len];
    let mut line_start = line_end(bytes, idx) + 1;
    while line_start < bytes.len() {
        let end = line_end(bytes, line_start);
        let line = &source[line_start..end];
        if line.trim() == name {
            let marker_start = line_start + line.find(name).unwrap_or(0);
            return marker_start + name.len();
        }
        line_start = end + 1;
    }
    bytes.len()
}

/// The offset of the newline ending the line `idx` is on (or the text's end).
fn line_end(bytes: &[u8], idx: usize) -> usize {
    bytes[idx..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |pos| idx + pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, expected: &str) {
        let normalized = normalize(source);
        assert_eq!(normalized.text, expected, "{source}");
    }

    #[test]
    fn splits_one_line_blocks() {
        check("a { x = 1 y = \"2\" }", "a { \nx = 1 \ny = \"2\" \n}");
        check("a {\n  x = 1\n}\n", "a {\n  x = 1\n}\n");
        check("a { b {} }", "a { \nb {\n} \n}");
        check("a { b = [1, 2] c = { d = 1 e = \"x\" } }", "a { \nb = [1, 2] \nc = { d = 1 \ne = \"x\" } \n}");
        check("a { s = \"${x} }\" t = 1 }", "a { \ns = \"${x} }\" \nt = 1 \n}");
        check("a { f = upper(x) g = y.z }", "a { \nf = upper(x) \ng = y.z \n}");
        check("a { m = { for k, v in x : k => v } }", "a { \nm = { for k, v in x : k => v } \n}");
        check("a { h = <<EOT\nx y = 1 }\nEOT\n}", "a { \nh = <<EOT\nx y = 1 }\nEOT\n}");
        check("# a { x = 1 y = 2 }\nb = 1", "# a { x = 1 y = 2 }\nb = 1");
        check("a \"l\" { x = 1 } b { }", "a \"l\" { \nx = 1 \n} \nb { \n}");
    }

    #[test]
    fn maps_offsets_back() {
        let normalized = normalize("a { x = 1 }");
        assert_eq!(normalized.text, "a { \nx = 1 \n}");
        assert_eq!(normalized.original_offset(5), 4);
        assert_eq!(normalized.original_offset(12), 10);
    }
}
