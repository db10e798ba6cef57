//! Feasibility: whether a node may run a task group at all, independent of
//! free resources.
//!
//! Checks are plain functions over a [`Node`]: datacenter globs, node pool,
//! drivers, and constraints. [`ConstraintChecker`] evaluates one constraint and
//! caches compiled regexes for the length of one eval; an invalid regex or
//! version filters the node, it never panics. Plan-dependent constraints
//! (`distinct_hosts`, `distinct_property`) are handled by the placer, which
//! knows what the plan already placed.

use std::cmp::Ordering;
use std::collections::HashMap;

use drover_types::{Constraint, Node, TaskGroup};
use regex::Regex;

/// Metric key for nodes whose datacenter the job does not list.
pub(crate) const FILTER_DATACENTER: &str = "missing compatible datacenter";
/// Metric key for nodes lacking a healthy driver the group needs.
pub(crate) const FILTER_DRIVERS: &str = "missing drivers";

/// The node pool every job and node is in when none is given.
pub(crate) const DEFAULT_NODE_POOL: &str = "default";
/// The job node pool that matches every node.
pub(crate) const ALL_NODE_POOL: &str = "all";

/// Whether `text` matches a datacenter pattern where `*` matches any run of characters.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let Some(star_idx) = pattern.find('*') else { return pattern == text };
    let (prefix, rest) = (&pattern[..star_idx], &pattern[star_idx + 1..]);
    let Some(after_prefix) = text.strip_prefix(prefix) else { return false };
    if rest.is_empty() {
        return true;
    }
    // Try every split point for the part after the star.
    (0..=after_prefix.len())
        .filter(|split_idx| after_prefix.is_char_boundary(*split_idx))
        .any(|split_idx| glob_match(rest, &after_prefix[split_idx..]))
}

/// Whether a node's datacenter matches one of the job's datacenter patterns
/// (an empty list means every datacenter).
pub(crate) fn datacenter_matches(datacenters: &[String], node_datacenter: &str) -> bool {
    datacenters.is_empty() || datacenters.iter().any(|pattern| glob_match(pattern, node_datacenter))
}

/// The node pool of a job or node, `default` when empty.
pub(crate) fn effective_pool(pool: &str) -> &str {
    if pool.is_empty() { DEFAULT_NODE_POOL } else { pool }
}

/// Whether a node is in the pool a job asks for.
pub(crate) fn pool_matches(job_pool: &str, node_pool: &str) -> bool {
    let job_pool = effective_pool(job_pool);
    job_pool == ALL_NODE_POOL || job_pool == effective_pool(node_pool)
}

/// The distinct drivers a group's tasks use, in first-use order.
pub(crate) fn group_drivers(group: &TaskGroup) -> Vec<String> {
    let mut drivers: Vec<String> = Vec::new();
    for task in &group.tasks {
        if !drivers.contains(&task.driver) {
            drivers.push(task.driver.clone());
        }
    }
    drivers
}

/// Whether every driver is present and healthy on the node.
pub(crate) fn drivers_present(node: &Node, drivers: &[String]) -> bool {
    drivers.iter().all(|driver| node.drivers.get(driver).is_some_and(|info| info.healthy))
}

/// Resolves a constraint target against a node: `${attr.X}`, `${meta.X}`,
/// `${node.unique.id}`, `${node.unique.name}`, `${node.datacenter}`,
/// `${node.class}`, `${node.pool}`; other `${...}` are missing; plain text is literal.
pub(crate) fn resolve_target<'a>(node: &'a Node, target: &'a str) -> Option<&'a str> {
    let Some(inner) = target.strip_prefix("${").and_then(|rest| rest.strip_suffix('}')) else {
        return Some(target);
    };
    if let Some(key) = inner.strip_prefix("attr.") {
        return node.attributes.get(key).map(String::as_str);
    }
    if let Some(key) = inner.strip_prefix("meta.") {
        return node.meta.get(key).map(String::as_str);
    }
    match inner {
        "node.unique.id" => Some(&node.id),
        "node.unique.name" => Some(&node.name),
        "node.datacenter" => Some(&node.datacenter),
        "node.class" => Some(&node.node_class),
        "node.pool" => Some(effective_pool(&node.node_pool)),
        _ => None,
    }
}

/// Whether a target reads something that differs between nodes of one
/// computed class (so its result cannot be cached per class).
pub(crate) fn target_is_node_unique(target: &str) -> bool {
    target.starts_with("${node.unique.") || target.starts_with("${attr.unique.") || target.starts_with("${meta.unique.")
}

/// The key a constraint is counted under in `AllocMetric::constraint_filtered`.
/// (`distinct_hosts` alone for that operator, as Nomad shows it).
pub(crate) fn constraint_key(constraint: &Constraint) -> String {
    if constraint_kind(constraint) == ConstraintKind::DistinctHosts {
        return "distinct_hosts".to_string();
    }
    constraint.to_string().trim().to_string()
}

/// Which family of operator a constraint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConstraintKind {
    /// Decided by the node alone.
    Node,
    /// `distinct_hosts`: decided by what runs on the node.
    DistinctHosts,
    /// `distinct_property`: decided by what runs on nodes sharing a property value.
    DistinctProperty,
}

/// Classifies a constraint by its operator.
pub(crate) fn constraint_kind(constraint: &Constraint) -> ConstraintKind {
    match constraint.operand.trim() {
        "distinct_hosts" => ConstraintKind::DistinctHosts,
        "distinct_property" => ConstraintKind::DistinctProperty,
        _ => ConstraintKind::Node,
    }
}

/// Evaluates node constraints, caching compiled regexes for one eval.
#[derive(Debug, Default)]
pub(crate) struct ConstraintChecker {
    regexes: HashMap<String, Option<Regex>>,
}

impl ConstraintChecker {
    /// Whether the node satisfies a (non-distinct) constraint.
    pub(crate) fn holds(&mut self, node: &Node, constraint: &Constraint) -> bool {
        let operand = constraint.operand.trim();
        let left = resolve_target(node, &constraint.l_target);
        let right = resolve_target(node, &constraint.r_target);
        match operand {
            "is_set" => return left.is_some(),
            "is_not_set" => return left.is_none(),
            "!=" | "not" => {
                return match (left, right) {
                    (Some(left), Some(right)) => left != right,
                    _ => true,
                };
            }
            _ => {}
        }
        let (Some(left), Some(right)) = (left, right) else { return false };
        match operand {
            "=" | "==" | "is" => left == right,
            "<" | "<=" | ">" | ">=" => compare_ordered(left, right, operand),
            "regexp" => self.regex(right).is_some_and(|regex| regex.is_match(left)),
            "version" => version_matches(left, right, VersionMode::Lenient),
            "semver" => version_matches(left, right, VersionMode::Strict),
            "set_contains" | "set_contains_all" => {
                let have = split_set(left);
                split_set(right).iter().all(|item| have.contains(item))
            }
            "set_contains_any" => {
                let have = split_set(left);
                split_set(right).iter().any(|item| have.contains(item))
            }
            _ => false,
        }
    }

    fn regex(&mut self, pattern: &str) -> Option<&Regex> {
        self.regexes.entry(pattern.to_string()).or_insert_with(|| Regex::new(pattern).ok()).as_ref()
    }
}

fn split_set(text: &str) -> Vec<&str> {
    text.split(',').map(str::trim).filter(|item| !item.is_empty()).collect()
}

/// Compares as numbers when both sides parse as numbers, else as text.
fn compare_ordered(left: &str, right: &str, operand: &str) -> bool {
    let ordering = match (left.trim().parse::<f64>(), right.trim().parse::<f64>()) {
        (Ok(left), Ok(right)) => match left.partial_cmp(&right) {
            Some(ordering) => ordering,
            None => return false,
        },
        _ => left.cmp(right),
    };
    match operand {
        "<" => ordering == Ordering::Less,
        "<=" => ordering != Ordering::Greater,
        ">" => ordering == Ordering::Greater,
        ">=" => ordering != Ordering::Less,
        _ => false,
    }
}

/// How strictly a node's version text is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionMode {
    /// `version`: a leading `v` is dropped and `1.2` means `1.2.0`.
    Lenient,
    /// `semver`: the node's version must be full semver.
    Strict,
}

/// A version with its number of given numeric parts (for `~>`).
fn parse_version(text: &str, mode: VersionMode) -> Option<(semver::Version, usize)> {
    let text = text.trim();
    let mut version = match mode {
        VersionMode::Strict => {
            let version = semver::Version::parse(text).ok()?;
            (version, 3)
        }
        VersionMode::Lenient => {
            let text = text.strip_prefix('v').unwrap_or(text);
            let core_end = text.find(['-', '+']).unwrap_or(text.len());
            let (core, suffix) = text.split_at(core_end);
            let parts: Vec<&str> = core.split('.').collect();
            if parts.is_empty() || parts.len() > 3 || parts.iter().any(|part| part.parse::<u64>().is_err()) {
                return None;
            }
            let n_parts = parts.len();
            let mut padded = parts.join(".");
            for _ in n_parts..3 {
                padded.push_str(".0");
            }
            padded.push_str(suffix);
            (semver::Version::parse(&padded).ok()?, n_parts)
        }
    };
    version.0.build = semver::BuildMetadata::EMPTY;
    Some(version)
}

/// Whether `version_text` satisfies every comma-separated comparator in
/// `requirement` (`>= 1.2, < 2.0`, `~> 1.2`, `1.2.3`).
fn version_matches(version_text: &str, requirement: &str, mode: VersionMode) -> bool {
    let Some((version, _)) = parse_version(version_text, mode) else { return false };
    let mut n_comparators = 0;
    for comparator in requirement.split(',') {
        let comparator = comparator.trim();
        if comparator.is_empty() {
            return false;
        }
        let operator_len = comparator.find(|ch: char| ch.is_ascii_alphanumeric()).unwrap_or(comparator.len());
        let (operator, bound_text) = comparator.split_at(operator_len);
        let Some((bound, n_bound_parts)) = parse_version(bound_text, VersionMode::Lenient) else { return false };
        let ok = match operator.trim() {
            "" | "=" | "==" => version == bound,
            "!=" => version != bound,
            ">" => version > bound,
            ">=" => version >= bound,
            "<" => version < bound,
            "<=" => version <= bound,
            "~>" => version >= bound && pessimistic_prefix_matches(&version, &bound, n_bound_parts),
            _ => false,
        };
        if !ok {
            return false;
        }
        n_comparators += 1;
    }
    n_comparators > 0
}

/// `~> 1.2` allows `1.x` (x >= 2); `~> 1.2.3` allows `1.2.x` (x >= 3).
fn pessimistic_prefix_matches(version: &semver::Version, bound: &semver::Version, n_bound_parts: usize) -> bool {
    let version_parts = [version.major, version.minor, version.patch];
    let bound_parts = [bound.major, bound.minor, bound.patch];
    let n_fixed = n_bound_parts.saturating_sub(1);
    version_parts[..n_fixed] == bound_parts[..n_fixed]
}
