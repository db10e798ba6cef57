//! Feasibility: constraint operators, datacenter globs, pools, drivers, and
//! resource exhaustion with the metric keys `job run` prints.

use drover_types::{EphemeralDisk, JobType, Resources};

use super::{constraint, failure, placed_nodes, run, state_with_nodes};
use crate::feasible::{ConstraintChecker, glob_match};
use crate::testing::{MemoryState, job, node, service_job};

/// Checks one constraint against node `n1` (dc1, class `web`, meta `rack = r1`,
/// plus `attrs`).
fn check(attrs: &[(&str, &str)], l_target: &str, operand: &str, r_target: &str, expect: bool) {
    let mut test_node = node("n1", "dc1");
    test_node.node_class = "web".to_string();
    test_node.meta.insert("rack".to_string(), "r1".to_string());
    for (key, value) in attrs {
        test_node.attributes.insert(key.to_string(), value.to_string());
    }
    let mut checker = ConstraintChecker::default();
    let actual = checker.holds(&test_node, &constraint(l_target, operand, r_target));
    assert_eq!(actual, expect, "{l_target} {operand} {r_target} with {attrs:?}");
}

/// Node attributes, LTarget, operand, RTarget, whether it holds.
type ConstraintCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str, &'a str, bool);

#[test]
fn constraint_operators() {
    let cores = [("cpu.numcores", "10")];
    let version = [("nomad.version", "1.5")];
    let tags = [("tags", "a, b,c")];
    let table: &[ConstraintCase<'_>] = &[
        (&[], "${attr.kernel.name}", "=", "linux", true),
        (&[], "${attr.kernel.name}", "==", "linux", true),
        (&[], "${attr.kernel.name}", "=", "windows", false),
        (&[], "${attr.kernel.name}", "!=", "windows", true),
        (&[], "${attr.kernel.name}", "!=", "linux", false),
        (&cores, "${attr.cpu.numcores}", ">", "9", true),
        (&cores, "${attr.cpu.numcores}", ">=", "10", true),
        (&cores, "${attr.cpu.numcores}", "<", "9", false),
        (&cores, "${attr.cpu.numcores}", "<=", "10", true),
        (&[("zone", "b")], "${attr.zone}", ">", "a", true),
        (&[], "${attr.kernel.name}", "regexp", "^lin", true),
        (&[], "${attr.kernel.name}", "regexp", "^win", false),
        (&[], "${attr.kernel.name}", "regexp", "(unclosed", false),
        (&version, "${attr.nomad.version}", "version", ">= 1.2, < 2.0", true),
        (&version, "${attr.nomad.version}", "version", ">= 1.6", false),
        (&version, "${attr.nomad.version}", "version", "1.5.0", true),
        (&version, "${attr.nomad.version}", "version", "~> 1.2", true),
        (&[("nomad.version", "2.0.1")], "${attr.nomad.version}", "version", "~> 1.2", false),
        (&[("nomad.version", "v1.3.0")], "${attr.nomad.version}", "version", ">= 1.2", true),
        (&[("nomad.version", "not-a-version")], "${attr.nomad.version}", "version", ">= 1.2", false),
        (&version, "${attr.nomad.version}", "version", ">= banana", false),
        (&[("go.version", "1.2.3")], "${attr.go.version}", "semver", ">= 1.2.0, < 1.3", true),
        (&version, "${attr.nomad.version}", "semver", ">= 1.0.0", false),
        (&tags, "${attr.tags}", "set_contains", "a,c", true),
        (&tags, "${attr.tags}", "set_contains", "a,d", false),
        (&tags, "${attr.tags}", "set_contains_any", "d,c", true),
        (&tags, "${attr.tags}", "set_contains_any", "d,e", false),
        (&[], "${attr.kernel.name}", "is_set", "", true),
        (&[], "${attr.kernel.name}", "is_not_set", "", false),
        (&[], "${meta.rack}", "=", "r1", true),
        (&[], "${node.datacenter}", "=", "dc1", true),
        (&[], "${node.unique.name}", "=", "n1", true),
        (&[], "${node.unique.id}", "=", "n1", true),
        (&[], "${node.class}", "=", "web", true),
        (&[], "${node.pool}", "=", "default", true),
        (&[], "${attr.unique.hostname}", "=", "n1", true),
        (&[], "${node.unknown}", "=", "x", false),
        (&[], "${attr.kernel.name}", "bogus-operator", "linux", false),
    ];
    for (attrs, l_target, operand, r_target, expect) in table {
        check(attrs, l_target, operand, r_target, *expect);
    }
}

#[test]
fn missing_attribute_fails_every_operator_except_is_not_set_and_not_equal() {
    for operand in
        ["=", ">", ">=", "<", "<=", "regexp", "version", "semver", "set_contains", "set_contains_any", "is_set"]
    {
        check(&[], "${attr.missing}", operand, "1", false);
    }
    check(&[], "${attr.missing}", "is_not_set", "", true);
    check(&[], "${attr.missing}", "!=", "1", true);
}

#[test]
fn globs() {
    let table = [
        ("*", "dc1", true),
        ("dc*", "dc1", true),
        ("*1", "dc1", true),
        ("*west", "eu-west", true),
        ("eu-*-1", "eu-west-1", true),
        ("dc*", "eu-west", false),
        ("dc1", "dc10", false),
        ("", "", true),
    ];
    for (pattern, text, expect) in table {
        assert_eq!(glob_match(pattern, text), expect, "{pattern} vs {text}");
    }
}

/// Schedules a 3-instance batch job over nodes in dc1, dc2 and eu-west
/// (one each) with `datacenters`; returns the datacenters placed in.
fn check_datacenters(datacenters: &[&str], expect_placed: &[&str]) {
    let mut state = MemoryState::default();
    for (node_id, datacenter) in [("a", "dc1"), ("b", "dc2"), ("c", "eu-west")] {
        state.add_node(node(node_id, datacenter));
    }
    let mut test_job = job("dcs", JobType::Batch, 3);
    test_job.constraints.push(constraint("", "distinct_hosts", "true"));
    test_job.datacenters = datacenters.iter().map(|dc| dc.to_string()).collect();
    let (_, plan) = run(&mut state, test_job);
    let mut placed: Vec<String> =
        plan.placements.iter().map(|alloc| state.nodes[&alloc.node_id].datacenter.clone()).collect();
    placed.sort();
    placed.dedup();
    assert_eq!(placed, expect_placed, "datacenters {datacenters:?}");
}

#[test]
fn datacenter_globs() {
    check_datacenters(&["*"], &["dc1", "dc2", "eu-west"]);
    check_datacenters(&["dc*"], &["dc1", "dc2"]);
    check_datacenters(&["*west"], &["eu-west"]);
    check_datacenters(&["dc2", "eu-*"], &["dc2", "eu-west"]);
    check_datacenters(&["us-east"], &[]);
}

#[test]
fn no_datacenter_match_is_reported_with_available_counts() {
    let mut state = state_with_nodes(2);
    let mut test_job = service_job("web", 1);
    test_job.datacenters = vec!["us-east".to_string()];
    let (_, plan) = run(&mut state, test_job);
    let metric = failure(&plan);
    assert_eq!(metric.constraint_filtered.get("missing compatible datacenter"), Some(&2));
    assert_eq!(metric.nodes_available.get("us-east"), Some(&0));
    assert_eq!(metric.nodes_in_pool, 2);
    assert!(plan.needs_blocked_eval);
}

#[test]
fn constraint_filter_metric_uses_constraint_text() {
    let mut state = state_with_nodes(3);
    let mut test_job = service_job("web", 2);
    test_job.constraints.push(constraint("${attr.kernel.name}", "=", "windows"));
    let (_, plan) = run(&mut state, test_job);
    assert!(plan.placements.is_empty());
    let metric = failure(&plan);
    assert_eq!(metric.nodes_evaluated, 3);
    assert_eq!(metric.nodes_filtered, 3);
    assert_eq!(metric.constraint_filtered.get("${attr.kernel.name} = windows"), Some(&3));
    assert_eq!(metric.coalesced_failures, 1);
    assert_eq!(metric.nodes_available.get("dc1"), Some(&3));
    assert_eq!(plan.queued_allocations.get("group"), Some(&2));
    assert!(plan.needs_blocked_eval);
}

#[test]
fn class_filter_counts_node_class() {
    let mut state = MemoryState::default();
    for node_id in ["n1", "n2"] {
        let mut test_node = node(node_id, "dc1");
        test_node.node_class = "small".to_string();
        state.add_node(test_node);
    }
    let mut test_job = service_job("web", 1);
    test_job.task_groups[0].constraints.push(constraint("${node.class}", "=", "large"));
    let (_, plan) = run(&mut state, test_job);
    assert_eq!(failure(&plan).class_filtered.get("small"), Some(&2));
}

#[test]
fn task_constraints_and_unique_targets_filter() {
    let mut state = state_with_nodes(3);
    let mut test_job = service_job("web", 1);
    test_job.task_groups[0].tasks[0].constraints.push(constraint("${node.unique.name}", "=", "n2"));
    let (_, plan) = run(&mut state, test_job);
    assert_eq!(placed_nodes(&plan), vec!["n2"]);
    assert_eq!(
        plan.placements[0].metrics.constraint_filtered.values().sum::<u64>(),
        plan.placements[0].metrics.nodes_filtered
    );
}

#[test]
fn missing_driver_filters() {
    let mut state = state_with_nodes(2);
    let mut test_job = service_job("web", 1);
    test_job.task_groups[0].tasks[0].driver = "docker".to_string();
    let (_, plan) = run(&mut state, test_job);
    assert!(plan.placements.is_empty());
    assert_eq!(failure(&plan).constraint_filtered.get("missing drivers"), Some(&2));
}

#[test]
fn unhealthy_driver_filters() {
    let mut state = MemoryState::default();
    let mut sick = node("n1", "dc1");
    if let Some(info) = sick.drivers.get_mut("raw_exec") {
        info.healthy = false;
    }
    state.add_node(sick);
    state.add_node(node("n2", "dc1"));
    let (_, plan) = run(&mut state, service_job("web", 1));
    assert_eq!(placed_nodes(&plan), vec!["n2"]);
}

#[test]
fn node_pool_must_match() {
    let mut state = MemoryState::default();
    let mut gpu = node("gpu1", "dc1");
    gpu.node_pool = "gpu".to_string();
    state.add_node(gpu);
    state.add_node(node("n1", "dc1"));
    let mut test_job = service_job("web", 1);
    test_job.node_pool = "gpu".to_string();
    let (_, plan) = run(&mut state, test_job);
    assert_eq!(placed_nodes(&plan), vec!["gpu1"]);
    assert_eq!(plan.placements[0].metrics.nodes_in_pool, 1);

    let mut any_pool = service_job("any", 2);
    any_pool.node_pool = "all".to_string();
    any_pool.constraints.push(constraint("", "distinct_hosts", "true"));
    let (_, plan) = run(&mut state, any_pool);
    assert_eq!(placed_nodes(&plan), vec!["gpu1", "n1"]);
}

/// Schedules one instance of a group asking `resources` and `disk_mb` on
/// two default nodes; expects failure on `dimension`.
fn check_exhausted(resources: Resources, disk_mb: u64, dimension: &str) {
    let mut state = state_with_nodes(2);
    let mut test_job = service_job("big", 1);
    test_job.task_groups[0].tasks[0].resources = resources;
    test_job.task_groups[0].ephemeral_disk = Some(EphemeralDisk { size_mb: disk_mb, ..EphemeralDisk::default() });
    let (_, plan) = run(&mut state, test_job);
    assert!(plan.placements.is_empty(), "{dimension}");
    let metric = failure(&plan);
    assert_eq!(metric.nodes_exhausted, 2, "{dimension}");
    assert_eq!(metric.dimension_exhausted.get(dimension), Some(&2), "{dimension}: {metric:?}");
    assert_eq!(metric.dimension_exhausted.len(), 1, "{dimension}");
}

#[test]
fn resources_exhausted_per_dimension() {
    check_exhausted(Resources { cpu: 5000, memory_mb: 10, disk_mb: 0 }, 10, "cpu");
    check_exhausted(Resources { cpu: 10, memory_mb: 9000, disk_mb: 0 }, 10, "memory");
    check_exhausted(Resources { cpu: 10, memory_mb: 10, disk_mb: 0 }, 200_000, "disk");
}

#[test]
fn fit_counts_existing_usage_and_this_plan() {
    // Each node (4000 MHz) fits two instances of 1500 MHz; one node already runs one.
    let mut state = state_with_nodes(2);
    let mut test_job = service_job("cpu", 4);
    test_job.task_groups[0].tasks[0].resources = Resources { cpu: 1500, memory_mb: 10, disk_mb: 0 };
    let mut other = service_job("other", 1);
    other.task_groups[0].tasks[0].resources = Resources { cpu: 1500, memory_mb: 10, disk_mb: 0 };
    state.add_alloc(crate::testing::running_alloc(&other, "group", 0, "n1"));
    let (_, plan) = run(&mut state, test_job);
    assert_eq!(plan.placements.len(), 3);
    assert_eq!(plan.queued_allocations.get("group"), Some(&1));
    assert_eq!(failure(&plan).dimension_exhausted.get("cpu"), Some(&2));
}

#[test]
fn distinct_hosts() {
    let mut state = state_with_nodes(2);
    let mut test_job = service_job("web", 3);
    test_job.constraints.push(constraint("", "distinct_hosts", "true"));
    let (_, plan) = run(&mut state, test_job);
    assert_eq!(placed_nodes(&plan), vec!["n1", "n2"]);
    assert_eq!(failure(&plan).constraint_filtered.get("distinct_hosts"), Some(&2));

    // Group level, counting an allocation that already runs.
    let mut state = state_with_nodes(3);
    let mut group_job = job("batchy", JobType::Batch, 3);
    group_job.task_groups[0].constraints.push(constraint("", "distinct_hosts", ""));
    let running = crate::testing::running_alloc(&group_job, "group", 0, "n3");
    state.add_alloc(running);
    let (_, plan) = run(&mut state, group_job);
    assert_eq!(placed_nodes(&plan), vec!["n1", "n2"]);
}

#[test]
fn distinct_property() {
    let mut state = MemoryState::default();
    for (node_id, rack) in [("n1", "r1"), ("n2", "r1"), ("n3", "r2")] {
        let mut test_node = node(node_id, "dc1");
        test_node.meta.insert("rack".to_string(), rack.to_string());
        state.add_node(test_node);
    }
    let mut test_job = service_job("web", 3);
    test_job.task_groups[0].constraints.push(constraint("${meta.rack}", "distinct_property", ""));
    let (_, plan) = run(&mut state, test_job);
    assert_eq!(plan.placements.len(), 2);
    let racks: Vec<&str> =
        plan.placements.iter().map(|alloc| state.nodes[&alloc.node_id].meta["rack"].as_str()).collect();
    assert!(racks.contains(&"r1") && racks.contains(&"r2"), "{racks:?}");
}

#[test]
fn not_ready_nodes_get_nothing() {
    let mut state = MemoryState::default();
    let mut down = node("down", "dc1");
    down.status = "down".to_string();
    let mut ineligible = node("ineligible", "dc1");
    ineligible.scheduling_eligibility = "ineligible".to_string();
    let mut draining = node("draining", "dc1");
    draining.drain = true;
    for test_node in [down, ineligible, draining, node("ok", "dc1")] {
        state.add_node(test_node);
    }
    let (_, plan) = run(&mut state, job("b", JobType::Batch, 3));
    assert_eq!(placed_nodes(&plan), vec!["ok", "ok", "ok"]);
    assert_eq!(plan.placements[0].metrics.nodes_available.get("dc1"), Some(&1));
    assert_eq!(plan.placements[0].metrics.nodes_in_pool, 4);
}
