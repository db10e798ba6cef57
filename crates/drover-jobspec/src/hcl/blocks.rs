//! The small blocks: `constraint`, `restart`, `reschedule`, `ephemeral_disk`,
//! `periodic`, `parameterized`, `update`, `meta`/`env`, `config`,
//! `resources`, `logs`, `dispatch_payload`.

use std::collections::BTreeMap;

use drover_types::{
    Constraint, DispatchPayloadConfig, EphemeralDisk, LogConfig, ParameterizedJobConfig, PeriodicConfig,
    ReschedulePolicy, Resources, RestartPolicy,
};
use hcl::edit::Span;
use hcl::edit::structure::{Block, Structure};

use super::{Ctx, Item, Path, Spec, attr_value, checked, no_label, value};
use crate::error::JobspecError;
use crate::fields;

/// Constraint keys that name the operator themselves: `version = ">= 1.2"`.
const CONSTRAINT_SHORTHANDS: &[&str] =
    &["distinct_property", "regexp", "semver", "set_contains", "set_contains_all", "set_contains_any", "version"];

const CONSTRAINT: Spec = Spec {
    attributes: &[
        "attribute",
        "distinct_hosts",
        "distinct_property",
        "operator",
        "regexp",
        "semver",
        "set_contains",
        "set_contains_all",
        "set_contains_any",
        "value",
        "version",
    ],
    blocks: &[],
    nomad: &[],
};

/// Opens a block that takes no label: its path and the items its spec reads.
fn open<'b>(
    ctx: &mut Ctx<'_>,
    block: &'b Block,
    parent: &Path,
    spec: &Spec,
) -> Result<(Path, Vec<Item<'b>>), JobspecError> {
    no_label(ctx, block, parent)?;
    let path = parent.child(block.ident.value().as_str());
    ctx.record(&path.validation, block.ident.span());
    let items = checked(ctx, &block.body, &path, spec)?;
    Ok((path, items))
}

/// Attributes only: every block spec below reads no nested blocks.
fn attributes<'b>(items: Vec<Item<'b>>) -> impl Iterator<Item = &'b hcl::edit::structure::Attribute> {
    items.into_iter().filter_map(|item| match item {
        Item::Attr(attr) => Some(attr),
        Item::Block(_) => None,
    })
}

/// A `constraint { ... }`; `None` for `distinct_hosts = false`.
pub(super) fn constraint(ctx: &mut Ctx<'_>, block: &Block, parent: &Path) -> Result<Option<Constraint>, JobspecError> {
    let (path, items) = open(ctx, block, parent, &CONSTRAINT)?;
    let mut res = Constraint::default();
    let mut shorthand: Option<(String, String)> = None;
    let mut distinct_hosts = None;
    for attr in attributes(items) {
        let key = attr.key.value().as_str();
        match key {
            "attribute" => res.l_target = attr_value(ctx, attr, &path, value::string)?,
            "operator" => res.operand = attr_value(ctx, attr, &path, value::string)?,
            "value" => res.r_target = attr_value(ctx, attr, &path, value::string)?,
            "distinct_hosts" => distinct_hosts = Some(attr_value(ctx, attr, &path, value::boolean)?),
            _ if CONSTRAINT_SHORTHANDS.contains(&key) => {
                if let Some((first, _)) = &shorthand {
                    return Err(ctx.error(
                        attr.key.span(),
                        &path.shown,
                        format!("{key}: only one operator per constraint, {first} is already given"),
                    ));
                }
                shorthand = Some((key.to_string(), attr_value(ctx, attr, &path, value::string)?));
            }
            _ => {}
        }
    }
    match distinct_hosts {
        Some(false) => return Ok(None),
        Some(true) => {
            res.operand = "distinct_hosts".to_string();
            res.r_target = "true".to_string();
        }
        None => {}
    }
    match shorthand {
        // `distinct_property = "${meta.rack}"` names the property; `value` is the limit.
        Some((operator, property)) if operator == "distinct_property" => {
            res.operand = operator;
            res.l_target = property;
        }
        Some((operator, target)) => {
            res.operand = operator;
            res.r_target = target;
        }
        None => {}
    }
    Ok(Some(res))
}

/// A `restart { ... }` as written; unset fields come from the job type's defaults.
pub(super) struct RestartPartial {
    attempts: Option<u32>,
    interval: Option<i64>,
    delay: Option<i64>,
    mode: Option<String>,
}

impl RestartPartial {
    /// The written fields over `base`.
    pub(super) fn complete(&self, base: RestartPolicy) -> RestartPolicy {
        RestartPolicy {
            attempts: self.attempts.unwrap_or(base.attempts),
            interval: self.interval.unwrap_or(base.interval),
            delay: self.delay.unwrap_or(base.delay),
            mode: self.mode.clone().unwrap_or(base.mode),
        }
    }
}

const RESTART: Spec =
    Spec { attributes: &["attempts", "delay", "interval", "mode"], blocks: &[], nomad: fields::RESTART };

/// A group's `restart { ... }`.
pub(super) fn restart(ctx: &mut Ctx<'_>, block: &Block, parent: &Path) -> Result<RestartPartial, JobspecError> {
    let (path, items) = open(ctx, block, parent, &RESTART)?;
    let mut res = RestartPartial { attempts: None, interval: None, delay: None, mode: None };
    for attr in attributes(items) {
        match attr.key.value().as_str() {
            "attempts" => res.attempts = Some(attr_value(ctx, attr, &path, value::number::<u32>)?),
            "delay" => res.delay = Some(attr_value(ctx, attr, &path, value::duration)?),
            "interval" => res.interval = Some(attr_value(ctx, attr, &path, value::duration)?),
            "mode" => res.mode = Some(attr_value(ctx, attr, &path, value::string)?),
            _ => {}
        }
    }
    Ok(res)
}

/// A `reschedule { ... }` as written; unset fields come from the job type's
/// defaults (or the job-level block for a group).
pub(super) struct ReschedulePartial {
    attempts: Option<u32>,
    interval: Option<i64>,
    delay: Option<i64>,
    delay_function: Option<String>,
    max_delay: Option<i64>,
    unlimited: Option<bool>,
}

impl ReschedulePartial {
    /// The written fields over `base`.
    pub(super) fn complete(&self, base: ReschedulePolicy) -> ReschedulePolicy {
        ReschedulePolicy {
            attempts: self.attempts.unwrap_or(base.attempts),
            interval: self.interval.unwrap_or(base.interval),
            delay: self.delay.unwrap_or(base.delay),
            delay_function: self.delay_function.clone().unwrap_or(base.delay_function),
            max_delay: self.max_delay.unwrap_or(base.max_delay),
            unlimited: self.unlimited.unwrap_or(base.unlimited),
        }
    }
}

const RESCHEDULE: Spec = Spec {
    attributes: &["attempts", "delay", "delay_function", "interval", "max_delay", "unlimited"],
    blocks: &[],
    nomad: &[],
};

/// A job's or group's `reschedule { ... }`.
pub(super) fn reschedule(ctx: &mut Ctx<'_>, block: &Block, parent: &Path) -> Result<ReschedulePartial, JobspecError> {
    let (path, items) = open(ctx, block, parent, &RESCHEDULE)?;
    let mut res = ReschedulePartial {
        attempts: None,
        interval: None,
        delay: None,
        delay_function: None,
        max_delay: None,
        unlimited: None,
    };
    for attr in attributes(items) {
        match attr.key.value().as_str() {
            "attempts" => res.attempts = Some(attr_value(ctx, attr, &path, value::number::<u32>)?),
            "delay" => res.delay = Some(attr_value(ctx, attr, &path, value::duration)?),
            "delay_function" => res.delay_function = Some(attr_value(ctx, attr, &path, value::string)?),
            "interval" => res.interval = Some(attr_value(ctx, attr, &path, value::duration)?),
            "max_delay" => res.max_delay = Some(attr_value(ctx, attr, &path, value::duration)?),
            "unlimited" => res.unlimited = Some(attr_value(ctx, attr, &path, value::boolean)?),
            _ => {}
        }
    }
    Ok(res)
}

const EPHEMERAL_DISK: Spec = Spec { attributes: &["migrate", "size", "sticky"], blocks: &[], nomad: &[] };

/// A group's `ephemeral_disk { ... }`; `size` is in MB.
pub(super) fn ephemeral_disk(ctx: &mut Ctx<'_>, block: &Block, parent: &Path) -> Result<EphemeralDisk, JobspecError> {
    let (path, items) = open(ctx, block, parent, &EPHEMERAL_DISK)?;
    let mut res = EphemeralDisk::default();
    for attr in attributes(items) {
        match attr.key.value().as_str() {
            "migrate" => res.migrate = attr_value(ctx, attr, &path, value::boolean)?,
            "size" => res.size_mb = attr_value(ctx, attr, &path, value::number::<u64>)?,
            "sticky" => res.sticky = attr_value(ctx, attr, &path, value::boolean)?,
            _ => {}
        }
    }
    Ok(res)
}

const PERIODIC: Spec =
    Spec { attributes: &["cron", "crons", "enabled", "prohibit_overlap", "time_zone"], blocks: &[], nomad: &[] };

/// A job's `periodic { ... }`.
pub(super) fn periodic(ctx: &mut Ctx<'_>, block: &Block, parent: &Path) -> Result<PeriodicConfig, JobspecError> {
    let (path, items) = open(ctx, block, parent, &PERIODIC)?;
    let mut res = PeriodicConfig::default();
    for attr in attributes(items) {
        match attr.key.value().as_str() {
            "cron" => res.spec = attr_value(ctx, attr, &path, value::string)?,
            "crons" => res.specs = attr_value(ctx, attr, &path, value::string_list)?,
            "enabled" => res.enabled = attr_value(ctx, attr, &path, value::boolean)?,
            "prohibit_overlap" => res.prohibit_overlap = attr_value(ctx, attr, &path, value::boolean)?,
            "time_zone" => res.time_zone = attr_value(ctx, attr, &path, value::string)?,
            _ => {}
        }
    }
    Ok(res)
}

const PARAMETERIZED: Spec =
    Spec { attributes: &["max_concurrent", "meta_optional", "meta_required", "payload"], blocks: &[], nomad: &[] };

/// A job's `parameterized { ... }`.
pub(super) fn parameterized(
    ctx: &mut Ctx<'_>,
    block: &Block,
    parent: &Path,
) -> Result<ParameterizedJobConfig, JobspecError> {
    let (path, items) = open(ctx, block, parent, &PARAMETERIZED)?;
    let mut res = ParameterizedJobConfig::default();
    for attr in attributes(items) {
        match attr.key.value().as_str() {
            "max_concurrent" => res.max_concurrent = attr_value(ctx, attr, &path, value::number::<u32>)?,
            "meta_optional" => res.meta_optional = attr_value(ctx, attr, &path, value::string_list)?,
            "meta_required" => res.meta_required = attr_value(ctx, attr, &path, value::string_list)?,
            "payload" => res.payload = attr_value(ctx, attr, &path, value::string)?,
            _ => {}
        }
    }
    Ok(res)
}

/// `update` keys whose values are durations (nanoseconds in the API).
const UPDATE_DURATIONS: &[&str] = &["healthy_deadline", "min_healthy_time", "progress_deadline", "stagger"];

/// A job's `update { ... }`, kept as Nomad API JSON (`MaxParallel`, durations in ns).
pub(super) fn update(ctx: &mut Ctx<'_>, block: &Block, parent: &Path) -> Result<serde_json::Value, JobspecError> {
    no_label(ctx, block, parent)?;
    let path = parent.child("update");
    let body = value::body_json(&block.body).map_err(|message| ctx.error(block.ident.span(), &path.shown, message))?;
    let mut res = serde_json::Map::new();
    for (key, mut item) in body {
        if UPDATE_DURATIONS.contains(&key.as_str())
            && let serde_json::Value::String(text) = &item
        {
            let nanos = drover_types::parse_duration(text)
                .map_err(|message| ctx.error(block.ident.span(), &path.shown, format!("{key}: {message}")))?;
            item = serde_json::Value::from(nanos);
        }
        res.insert(pascal_case(&key), item);
    }
    Ok(serde_json::Value::Object(res))
}

/// `max_parallel` → `MaxParallel`.
fn pascal_case(key: &str) -> String {
    key.split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// A `meta { ... }` or `env { ... }` block: `key = "value"` pairs only.
pub(super) fn string_map(
    ctx: &mut Ctx<'_>,
    block: &Block,
    parent: &Path,
) -> Result<BTreeMap<String, String>, JobspecError> {
    no_label(ctx, block, parent)?;
    let name = block.ident.value().as_str();
    let path = parent.child(name);
    let mut res = BTreeMap::new();
    for structure in block.body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let key = attr.key.value().as_str();
                let text = attr_value(ctx, attr, &path, value::string)?;
                if res.insert(key.to_string(), text).is_some() {
                    return Err(ctx.error(attr.key.span(), &path.shown, format!("{key}: defined more than once")));
                }
            }
            Structure::Block(inner) => {
                return Err(ctx.error(
                    inner.ident.span(),
                    &path.shown,
                    format!(
                        "unexpected block {:?}; {name} holds only key = \"value\" pairs",
                        inner.ident.value().as_str()
                    ),
                ));
            }
        }
    }
    Ok(res)
}

/// A task's free-form `config { ... }` as JSON.
pub(super) fn config(
    ctx: &mut Ctx<'_>,
    block: &Block,
    parent: &Path,
) -> Result<BTreeMap<String, serde_json::Value>, JobspecError> {
    no_label(ctx, block, parent)?;
    let path = parent.child("config");
    let body = value::body_json(&block.body).map_err(|message| ctx.error(block.ident.span(), &path.shown, message))?;
    Ok(body.into_iter().collect())
}

const RESOURCES: Spec = Spec { attributes: &["cpu", "disk", "memory"], blocks: &[], nomad: fields::RESOURCES };

/// A task's `resources { ... }`: `cpu` in MHz, `memory` and `disk` in MB.
pub(super) fn resources(ctx: &mut Ctx<'_>, block: &Block, parent: &Path) -> Result<Resources, JobspecError> {
    let (path, items) = open(ctx, block, parent, &RESOURCES)?;
    let mut res = Resources::default();
    for attr in attributes(items) {
        match attr.key.value().as_str() {
            "cpu" => res.cpu = attr_value(ctx, attr, &path, value::number::<u64>)?,
            "disk" => res.disk_mb = attr_value(ctx, attr, &path, value::number::<u64>)?,
            "memory" => res.memory_mb = attr_value(ctx, attr, &path, value::number::<u64>)?,
            _ => {}
        }
    }
    Ok(res)
}

const LOGS: Spec = Spec { attributes: &["max_file_size", "max_files"], blocks: &[], nomad: fields::LOG_CONFIG };

/// A task's `logs { ... }`; `max_file_size` is in MB.
pub(super) fn logs(ctx: &mut Ctx<'_>, block: &Block, parent: &Path) -> Result<LogConfig, JobspecError> {
    let (path, items) = open(ctx, block, parent, &LOGS)?;
    let mut res = LogConfig::default();
    for attr in attributes(items) {
        match attr.key.value().as_str() {
            "max_file_size" => res.max_file_size_mb = attr_value(ctx, attr, &path, value::number::<u32>)?,
            "max_files" => res.max_files = attr_value(ctx, attr, &path, value::number::<u32>)?,
            _ => {}
        }
    }
    Ok(res)
}

const DISPATCH_PAYLOAD: Spec = Spec { attributes: &["file"], blocks: &[], nomad: &[] };

/// A task's `dispatch_payload { file = "..." }`.
pub(super) fn dispatch_payload(
    ctx: &mut Ctx<'_>,
    block: &Block,
    parent: &Path,
) -> Result<DispatchPayloadConfig, JobspecError> {
    let (path, items) = open(ctx, block, parent, &DISPATCH_PAYLOAD)?;
    let mut res = DispatchPayloadConfig::default();
    for attr in attributes(items) {
        if attr.key.value().as_str() == "file" {
            res.file = attr_value(ctx, attr, &path, value::string)?;
        }
    }
    Ok(res)
}
