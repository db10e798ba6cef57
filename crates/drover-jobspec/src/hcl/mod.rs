//! HCL jobspecs, read with `hcl-rs`'s span-keeping parser (`hcl::edit`) so
//! every error can point at the block or attribute at fault.
//!
//! [`read_job`] finds the one `job` block and hands it to [`decode`], which
//! walks it block by block with a [`Spec`] per block kind: the names it
//! reads, the Nomad names it does not implement (from [`crate::fields`]:
//! refused, warned about or dropped, as the JSON reader does), and an error
//! listing the valid names for anything else. [`Ctx`] turns spans into
//! positions, collects warnings and remembers where each block is so
//! validation errors get a position too.

mod blocks;
mod decode;
mod layout;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use drover_types::{Job, ValidationError};
use hcl::edit::Span;
use hcl::edit::structure::{Attribute, Block, Body, Structure};

use self::layout::Normalized;
use crate::error::{JobspecError, Position};
use crate::fields::{self, NomadField, Treatment};

/// Reads the job in an HCL file, without canonicalizing or validating it;
/// the returned [`Ctx`] locates validation errors afterwards.
pub(crate) fn read_job<'a>(source: &'a str, file: &'a str) -> Result<(Job, Ctx<'a>), JobspecError> {
    let (body, layout) = match hcl::edit::parser::parse_body(source) {
        Ok(body) => (body, Normalized::unchanged(source)),
        Err(first_err) => {
            let layout = layout::normalize(source);
            if layout.is_unchanged() {
                return Err(syntax_error(file, source, &layout, &first_err));
            }
            match hcl::edit::parser::parse_body(&layout.text) {
                Ok(body) => (body, layout),
                Err(err) => return Err(syntax_error(file, source, &layout, &err)),
            }
        }
    };
    let mut ctx = Ctx { file, source, layout, positions: BTreeMap::new(), warnings: Vec::new() };
    let mut job_blocks = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Block(block) if block.ident.value().as_str() == "job" => job_blocks.push(block),
            Structure::Block(block) => {
                let name = block.ident.value().as_str();
                return Err(ctx.error(
                    block.ident.span(),
                    "",
                    format!("unexpected block {name:?} outside the job block (only job \"name\" {{ ... }} is allowed at the top level)"),
                ));
            }
            Structure::Attribute(attr) => {
                let key = attr.key.value().as_str();
                return Err(ctx.error(
                    attr.key.span(),
                    "",
                    format!("unexpected attribute {key:?} outside the job block"),
                ));
            }
        }
    }
    let first = match job_blocks.as_slice() {
        [] => return Err(ctx.error(None, "", "no job block found (expected job \"name\" { ... })")),
        [first] => *first,
        [first, second, ..] => {
            let first_line = ctx.position(first.ident.span()).map_or(1, |position| position.line);
            return Err(ctx.error(
                second.ident.span(),
                "",
                format!("only one job block is allowed per file; the first is at line {first_line}"),
            ));
        }
    };
    let job = decode::job(&mut ctx, first)?;
    Ok((job, ctx))
}

fn syntax_error(file: &str, source: &str, layout: &Normalized, err: &hcl::edit::parser::Error) -> JobspecError {
    let position = Position::of_offset(source, layout.original_offset(err.location().offset()));
    // The parser clamps the offset to the last byte; at the very end the column is past it.
    let column = if err.location().offset() + 1 < layout.text.len() {
        position.column
    } else {
        position.column.max(err.location().column())
    };
    JobspecError::Syntax { file: file.to_string(), line: position.line, column, message: err.message().to_string() }
}

/// The file being read: makes positioned errors and remembers where blocks are.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
    /// Maps parser offsets back to `source`.
    layout: Normalized,
    /// Validation path (`group "cache" -> restart -> mode`) to every place it was written.
    positions: BTreeMap<String, Vec<Position>>,
    /// Warnings so far, rendered as errors are (`file:line:column: path: message`).
    warnings: Vec<String>,
}

impl Ctx<'_> {
    fn position(&self, span: Option<Range<usize>>) -> Option<Position> {
        span.map(|span| Position::of_offset(self.source, self.layout.original_offset(span.start)))
    }

    /// An [`JobspecError::Invalid`] at `span` in the block at `path`.
    fn error(&self, span: Option<Range<usize>>, path: &str, message: impl Into<String>) -> JobspecError {
        let position = self.position(span);
        JobspecError::Invalid {
            file: self.file.to_string(),
            line: position.map(|position| position.line),
            column: position.map(|position| position.column),
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// Records a warning about the block or attribute at `span` in the block at `path`.
    fn warn(&mut self, span: Option<Range<usize>>, path: &str, message: impl Into<String>) {
        let warning = self.error(span, path, message).to_string();
        self.warnings.push(warning);
    }

    /// The warnings collected while reading the job.
    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Remembers that the block or attribute at validation path `path` is at `span`.
    fn record(&mut self, path: &str, span: Option<Range<usize>>) {
        if let Some(position) = self.position(span) {
            self.positions.entry(path.to_string()).or_default().push(position);
        }
    }

    /// Where a validation error's block is: its path or the nearest enclosing
    /// block written once (a `duplicate ...` error points at the last copy).
    pub(crate) fn locate(&self, error: &ValidationError) -> Option<Position> {
        let mut path = error.path.as_str();
        loop {
            match self.positions.get(path).map(Vec::as_slice) {
                Some([one]) => return Some(*one),
                Some([.., last]) if error.message.starts_with("duplicate") => return Some(*last),
                _ => {}
            }
            path = path.rsplit_once(" -> ")?.0;
        }
    }
}

/// Where a block is: as shown in errors and as [`Job::validate`] names it.
#[derive(Clone)]
struct Path {
    /// `job "example"`, `group "cache" -> task "redis" -> resources`.
    shown: String,
    /// `job`, `group "cache" -> task "redis" -> resources`.
    validation: String,
}

impl Path {
    fn child(&self, segment: &str) -> Path {
        Path { shown: format!("{} -> {segment}", self.shown), validation: format!("{} -> {segment}", self.validation) }
    }
}

/// What a block kind may contain.
struct Spec {
    /// Attributes read.
    attributes: &'static [&'static str],
    /// Blocks read.
    blocks: &'static [&'static str],
    /// Nomad's attributes and blocks here that Drover does not implement
    /// (a table of [`crate::fields`]).
    nomad: &'static [NomadField],
}

/// Blocks that may appear more than once in a body.
const REPEATABLE_BLOCKS: &[&str] = &["constraint", "group", "task"];

/// One attribute or block of a body that its [`Spec`] reads.
enum Item<'b> {
    Attr(&'b Attribute),
    Block(&'b Block),
}

/// The attributes and blocks of `body` that `spec` reads, in order; records
/// their positions; rejects unknown names, repeated attributes and repeated
/// single blocks.
fn checked<'b>(ctx: &mut Ctx<'_>, body: &'b Body, path: &Path, spec: &Spec) -> Result<Vec<Item<'b>>, JobspecError> {
    let mut res = Vec::new();
    let mut seen = BTreeSet::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let key = attr.key.value().as_str();
                if !spec.attributes.contains(&key)
                    && let Some(field) = fields::hcl_field(spec.nomad, key, false)
                {
                    // An expression (not a literal) counts as set.
                    let set = value::json(&attr.value).map_or(true, |item| !fields::attribute_unset(&item));
                    nomad_field(ctx, field, set, attr.key.span(), path)?;
                    continue;
                }
                if !spec.attributes.contains(&key) {
                    let message = if spec.blocks.contains(&key) {
                        format!("{key} is a block; write {key} {{ ... }}")
                    } else {
                        format!("unknown attribute {key:?} (expected one of {})", spec.attributes.join(", "))
                    };
                    return Err(ctx.error(attr.key.span(), &path.shown, message));
                }
                if !seen.insert(key) {
                    return Err(ctx.error(attr.key.span(), &path.shown, format!("{key}: defined more than once")));
                }
                ctx.record(&path.child(key).validation, attr.key.span());
                res.push(Item::Attr(attr));
            }
            Structure::Block(block) => {
                let name = block.ident.value().as_str();
                if !spec.blocks.contains(&name) {
                    if let Some(field) = fields::hcl_field(spec.nomad, name, true) {
                        nomad_field(ctx, field, true, block.ident.span(), path)?;
                        continue;
                    }
                    let message = if spec.attributes.contains(&name) {
                        format!("{name} is an attribute; write {name} = ...")
                    } else {
                        format!("unknown block {name:?} (expected one of {})", spec.blocks.join(", "))
                    };
                    return Err(ctx.error(block.ident.span(), &path.shown, message));
                }
                if !REPEATABLE_BLOCKS.contains(&name) && !seen.insert(name) {
                    return Err(ctx.error(block.ident.span(), &path.shown, format!("{name}: defined more than once")));
                }
                res.push(Item::Block(block));
            }
        }
    }
    Ok(res)
}

/// A Nomad attribute or block Drover does not implement: refused or warned
/// about when `set`, else (and when its treatment is to drop it) skipped.
fn nomad_field(
    ctx: &mut Ctx<'_>,
    field: &NomadField,
    set: bool,
    span: Option<Range<usize>>,
    path: &Path,
) -> Result<(), JobspecError> {
    match field.treatment {
        Treatment::Refuse if set => Err(ctx.error(span, &path.shown, field.refusal())),
        Treatment::Warn if set => {
            ctx.warn(span, &path.shown, field.warning());
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Reads an attribute's value with `convert`; errors name the key.
fn attr_value<T>(
    ctx: &Ctx<'_>,
    attr: &Attribute,
    path: &Path,
    convert: impl FnOnce(&hcl::edit::expr::Expression) -> Result<T, String>,
) -> Result<T, JobspecError> {
    convert(&attr.value).map_err(|message| {
        let key = attr.key.value().as_str();
        ctx.error(attr.key.span(), &path.shown, format!("{key}: {message}"))
    })
}

/// The one name label of a `job`, `group` or `task` block.
fn name_label(ctx: &Ctx<'_>, block: &Block, parent: &str) -> Result<String, JobspecError> {
    let kind = block.ident.value().as_str();
    match block.labels.as_slice() {
        [label] if !label.as_str().is_empty() => Ok(label.as_str().to_string()),
        [_] | [] => Err(ctx.error(
            block.ident.span(),
            parent,
            format!("{kind} block needs a name label: {kind} \"name\" {{ ... }}"),
        )),
        [_, extra, ..] => Err(ctx.error(
            block.ident.span(),
            parent,
            format!("{kind} block takes one label, got a second one {:?}", extra.as_str()),
        )),
    }
}

/// Rejects labels on a block that takes none (`restart "x" { ... }`).
fn no_label(ctx: &Ctx<'_>, block: &Block, parent: &Path) -> Result<(), JobspecError> {
    match block.labels.first() {
        None => Ok(()),
        Some(label) => {
            let kind = block.ident.value().as_str();
            Err(ctx.error(
                block.ident.span(),
                &parent.shown,
                format!("{kind} block takes no label, got {:?}", label.as_str()),
            ))
        }
    }
}
