//! The placement stack: picks a node for one instance of a task group.
//!
//! [`Placer`] is built once per eval: the snapshot's node list (ordered by
//! ID, shared by every eval of a batch) narrowed to the nodes that are ready,
//! in the job's pool and in one of its datacenters, then shuffled with the
//! eval's seeded RNG. Each placement walks that list
//! from a cursor that continues where the previous placement stopped
//! (wrapping), runs the checkers on each node (class-level results cached per
//! computed class), keeps the first `limit` nodes that are feasible and fit,
//! and takes the best-scoring one. Per-placement work is O(limit) when most
//! nodes fit; a group that fails once is not searched again in the same eval.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use drover_types::{AllocMetric, Allocation, Constraint, Job, JobType, Node, NodeScoreMeta, TaskGroup};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::feasible::{
    ConstraintChecker, ConstraintKind, FILTER_DATACENTER, FILTER_DRIVERS, constraint_key, constraint_kind,
    datacenter_matches, drivers_present, effective_pool, group_drivers, pool_matches, resolve_target,
    target_is_node_unique,
};
use crate::rank::{Usage, anti_affinity_penalty, binpack_score, exhausted_dimension, group_ask, thousandths};
use crate::{AllocIds, StateView};

/// How many scored nodes are kept in `AllocMetric::score_meta_data`.
const MAX_SCORE_META: usize = 5;

/// Why a node cannot take an instance, or its score if it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeCheck {
    /// Filtered by a constraint, driver or datacenter; the metric key.
    Filtered(String),
    /// Feasible but out of a resource; the dimension.
    Exhausted(&'static str),
    /// Feasible and fits, with its scores.
    Fits(NodeScore),
}

/// One node's scores for one placement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeScore {
    /// Bin-pack score, 0..=1.
    pub(crate) binpack: f64,
    /// Anti-affinity penalty, if the node already runs the group.
    pub(crate) anti_affinity: Option<f64>,
    /// The final normalised score.
    pub(crate) norm: f64,
}

/// A `distinct_property` constraint prepared for one group.
#[derive(Debug, Clone)]
struct DistinctProperty {
    /// The property target, e.g. `${meta.rack}`.
    l_target: String,
    /// Allocations allowed per property value.
    limit: u32,
    /// Key into `Placer::property_counts`.
    scope: String,
    /// Metric key.
    key: String,
}

/// One task group prepared for placement within an eval.
#[derive(Debug)]
pub(crate) struct GroupPlacement {
    /// The group's name.
    pub(crate) name: String,
    /// Resources one instance asks for.
    pub(crate) ask: Usage,
    /// The group's count, for the anti-affinity penalty.
    desired_count: u32,
    drivers: Vec<String>,
    /// Constraints decided by the computed class alone.
    class_constraints: Vec<(Constraint, String)>,
    /// Constraints that read `unique.` targets.
    node_constraints: Vec<(Constraint, String)>,
    distinct_hosts_job: Option<String>,
    distinct_hosts_group: Option<String>,
    distinct_properties: Vec<DistinctProperty>,
    /// Per computed class: `None` passes, `Some(key)` filters.
    class_cache: HashMap<u32, Option<String>>,
    anti_affinity: bool,
    /// Nodes kept per placement.
    limit: usize,
    /// Set after the first failed placement: later ones are coalesced.
    pub(crate) failed: bool,
}

impl GroupPlacement {
    /// Prepares a group of `job` for placement.
    pub(crate) fn new(job: &Job, group: &TaskGroup, n_candidates: usize) -> GroupPlacement {
        let mut placement = GroupPlacement {
            name: group.name.clone(),
            ask: group_ask(group),
            desired_count: group.count,
            drivers: group_drivers(group),
            class_constraints: Vec::new(),
            node_constraints: Vec::new(),
            distinct_hosts_job: None,
            distinct_hosts_group: None,
            distinct_properties: Vec::new(),
            class_cache: HashMap::new(),
            anti_affinity: job.job_type == JobType::Service,
            limit: placement_limit(job.job_type, n_candidates),
            failed: false,
        };
        let job_level = job.constraints.iter().map(|constraint| (constraint, true));
        let group_level = group.constraints.iter().map(|constraint| (constraint, false));
        let task_level =
            group.tasks.iter().flat_map(|task| task.constraints.iter()).map(|constraint| (constraint, false));
        for (constraint, is_job_level) in job_level.chain(group_level).chain(task_level) {
            let key = constraint_key(constraint);
            match constraint_kind(constraint) {
                ConstraintKind::DistinctHosts => {
                    if constraint.r_target.trim().eq_ignore_ascii_case("false") {
                        continue;
                    }
                    if is_job_level {
                        placement.distinct_hosts_job = Some(key);
                    } else {
                        placement.distinct_hosts_group = Some(key);
                    }
                }
                ConstraintKind::DistinctProperty => {
                    let limit = constraint.r_target.trim().parse::<u32>().unwrap_or(1).max(1);
                    let scope = if is_job_level {
                        format!("job\u{1}{}", constraint.l_target)
                    } else {
                        format!("group\u{1}{}\u{1}{}", group.name, constraint.l_target)
                    };
                    placement.distinct_properties.push(DistinctProperty {
                        l_target: constraint.l_target.clone(),
                        limit,
                        scope,
                        key,
                    });
                }
                ConstraintKind::Node => {
                    let unique =
                        target_is_node_unique(&constraint.l_target) || target_is_node_unique(&constraint.r_target);
                    if unique {
                        placement.node_constraints.push((constraint.clone(), key));
                    } else {
                        placement.class_constraints.push((constraint.clone(), key));
                    }
                }
            }
        }
        placement
    }
}

/// How many feasible nodes are scored per placement: 2 for batch,
/// `max(2, ceil(log2(n)))` otherwise.
pub(crate) fn placement_limit(job_type: JobType, n_candidates: usize) -> usize {
    match job_type {
        JobType::Batch | JobType::Sysbatch => 2,
        JobType::Service | JobType::System => {
            let log2_ceil = usize::BITS - n_candidates.saturating_sub(1).leading_zeros();
            (log2_ceil as usize).max(2)
        }
    }
}

/// A chosen node and the metric of the placement.
#[derive(Debug)]
pub(crate) struct Selected {
    /// Position of the node in [`Placer::node`].
    pub(crate) node_pos: usize,
    /// The placement's metric.
    pub(crate) metric: AllocMetric,
}

/// Per-eval placement state: shuffled nodes, caches, and what the plan uses.
pub(crate) struct Placer<'a> {
    state: &'a dyn StateView,
    job: &'a Job,
    /// Every node ordered by ID (shared with the snapshot); positions index it.
    nodes: Arc<[Arc<Node>]>,
    candidates: Vec<usize>,
    cursor: usize,
    /// Class index per node position, for the nodes looked at so far (most
    /// evaluations look at a handful of nodes, so no per-node table is made).
    class_of: HashMap<usize, u32>,
    classes: HashMap<String, u32>,
    /// Resources used per node position, for the nodes looked at so far.
    usage: HashMap<usize, Usage>,
    base_metric: AllocMetric,
    dc_filtered: u64,
    checker: ConstraintChecker,
    /// Node ID → live allocations of the job (existing kept + placed by this plan).
    job_counts: HashMap<String, u32>,
    /// Group → node ID → live allocations of the group.
    group_counts: HashMap<String, HashMap<String, u32>>,
    /// Distinct-property scope → property value → allocations.
    property_counts: HashMap<String, HashMap<String, u32>>,
    /// The eval's RNG: shuffles nodes, then draws allocation IDs.
    rng: StdRng,
    /// Where new allocations' IDs come from.
    alloc_ids: AllocIds,
}

impl<'a> Placer<'a> {
    /// Narrows the nodes to the candidates and shuffles them, once for this eval.
    pub(crate) fn new(state: &'a dyn StateView, job: &'a Job, seed: u64, alloc_ids: AllocIds) -> Placer<'a> {
        let mut rng = StdRng::seed_from_u64(seed);
        let nodes = state.nodes();
        let eligible = state.eligible_nodes(&job.node_pool, &job.datacenters);
        let base_metric = AllocMetric {
            node_pool: effective_pool(&job.node_pool).to_string(),
            nodes_in_pool: eligible.nodes_in_pool,
            nodes_available: eligible.nodes_available.clone(),
            ..Default::default()
        };
        let dc_filtered = eligible.dc_filtered;
        let mut candidates = eligible.positions.clone();
        candidates.shuffle(&mut rng);
        Placer {
            state,
            job,
            candidates,
            cursor: 0,
            class_of: HashMap::new(),
            classes: HashMap::new(),
            usage: HashMap::new(),
            nodes,
            base_metric,
            dc_filtered,
            checker: ConstraintChecker::default(),
            job_counts: HashMap::new(),
            group_counts: HashMap::new(),
            property_counts: HashMap::new(),
            rng,
            alloc_ids,
        }
    }

    /// The ID of the next allocation this eval places.
    pub(crate) fn new_alloc_id(&mut self) -> String {
        crate::ids::new_alloc_id(self.alloc_ids, &mut self.rng)
    }

    /// How many nodes are ready, in the pool and in a job datacenter.
    pub(crate) fn n_candidates(&self) -> usize {
        self.candidates.len()
    }

    /// Candidate node positions, in shuffled order.
    pub(crate) fn candidates(&self) -> &[usize] {
        &self.candidates
    }

    /// The node at a position.
    pub(crate) fn node(&self, node_pos: usize) -> &Arc<Node> {
        &self.nodes[node_pos]
    }

    /// The position of a node by ID (the nodes are ordered by ID).
    pub(crate) fn position_of(&mut self, node_id: &str) -> Option<usize> {
        self.nodes.binary_search_by(|node| node.id.as_str().cmp(node_id)).ok()
    }

    /// The metric every placement of this eval starts from.
    pub(crate) fn base_metric(&self) -> AllocMetric {
        self.base_metric.clone()
    }

    /// Adds the datacenter filter to a failure's metric, where it explains the failure.
    pub(crate) fn finish_failure_metric(&self, metric: &mut AllocMetric) {
        if self.dc_filtered > 0 {
            metric.nodes_evaluated += self.dc_filtered;
            metric.nodes_filtered += self.dc_filtered;
            *metric.constraint_filtered.entry(FILTER_DATACENTER.to_string()).or_insert(0) += self.dc_filtered;
        }
    }

    /// Counts an allocation that keeps running (for distinct_hosts,
    /// distinct_property and anti-affinity).
    pub(crate) fn record_existing(&mut self, alloc: &Allocation) {
        let node = match self.position_of(&alloc.node_id) {
            Some(node_pos) => Some(Arc::clone(&self.nodes[node_pos])),
            None => self.state.node(&alloc.node_id),
        };
        self.record(&alloc.node_id, &alloc.task_group, node.as_deref());
    }

    /// Counts a placement made by this plan and reserves its resources.
    pub(crate) fn commit(&mut self, group: &GroupPlacement, node_pos: usize) {
        let node = Arc::clone(&self.nodes[node_pos]);
        let mut used = self.node_usage(node_pos);
        used.add(group.ask);
        self.usage.insert(node_pos, used);
        self.record(&node.id, &group.name, Some(&node));
    }

    fn record(&mut self, node_id: &str, group_name: &str, node: Option<&Node>) {
        count_in(&mut self.job_counts, node_id);
        match self.group_counts.get_mut(group_name) {
            Some(by_node) => count_in(by_node, node_id),
            None => {
                self.group_counts.insert(group_name.to_string(), HashMap::from([(node_id.to_string(), 1)]));
            }
        }
        let Some(node) = node else { return };
        let job = self.job;
        for constraint in job.constraints.iter().filter(|c| constraint_kind(c) == ConstraintKind::DistinctProperty) {
            let scope = format!("job\u{1}{}", constraint.l_target);
            self.count_property(scope, node, &constraint.l_target);
        }
        let Some(group) = job.task_group(group_name) else { return };
        let group_constraints =
            group.constraints.iter().chain(group.tasks.iter().flat_map(|task| task.constraints.iter()));
        for constraint in group_constraints.filter(|c| constraint_kind(c) == ConstraintKind::DistinctProperty) {
            let scope = format!("group\u{1}{}\u{1}{}", group.name, constraint.l_target);
            self.count_property(scope, node, &constraint.l_target);
        }
    }

    fn count_property(&mut self, scope: String, node: &Node, l_target: &str) {
        let Some(value) = resolve_target(node, l_target) else { return };
        *self.property_counts.entry(scope).or_default().entry(value.to_string()).or_insert(0) += 1;
    }

    fn node_usage(&mut self, node_pos: usize) -> Usage {
        *self
            .usage
            .entry(node_pos)
            .or_insert_with(|| Usage::from_triple(self.state.node_used(&self.nodes[node_pos].id)))
    }

    fn class_index(&mut self, node_pos: usize) -> u32 {
        if let Some(known) = self.class_of.get(&node_pos) {
            return *known;
        }
        let class_text = self.nodes[node_pos].computed_class();
        let next_idx = self.classes.len() as u32;
        let class_idx = *self.classes.entry(class_text).or_insert(next_idx);
        self.class_of.insert(node_pos, class_idx);
        class_idx
    }

    /// Whether the node passes the group's node-only checks (drivers and
    /// constraints), without readiness, plan-dependent checks or fit. Used to
    /// decide whether an existing allocation may be updated in place.
    pub(crate) fn node_feasible(&mut self, group: &mut GroupPlacement, node: &Node) -> Option<String> {
        if !drivers_present(node, &group.drivers) {
            return Some(FILTER_DRIVERS.to_string());
        }
        for (constraint, key) in group.class_constraints.iter().chain(group.node_constraints.iter()) {
            if !self.checker.holds(node, constraint) {
                return Some(key.clone());
            }
        }
        None
    }

    /// Runs every checker and the fit on one node.
    pub(crate) fn check_node(&mut self, group: &mut GroupPlacement, node_pos: usize) -> NodeCheck {
        let node = Arc::clone(&self.nodes[node_pos]);
        let class_idx = self.class_index(node_pos);
        let class_result = match group.class_cache.get(&class_idx) {
            Some(result) => result.clone(),
            None => {
                let result = self.class_check(group, &node);
                group.class_cache.insert(class_idx, result.clone());
                result
            }
        };
        if let Some(key) = class_result {
            return NodeCheck::Filtered(key);
        }
        for (constraint, key) in &group.node_constraints {
            if !self.checker.holds(&node, constraint) {
                return NodeCheck::Filtered(key.clone());
            }
        }
        if let Some(key) = &group.distinct_hosts_job
            && self.job_counts.get(&node.id).is_some_and(|count| *count > 0)
        {
            return NodeCheck::Filtered(key.clone());
        }
        let group_collisions =
            self.group_counts.get(&group.name).and_then(|by_node| by_node.get(&node.id)).copied().unwrap_or(0);
        if let Some(key) = &group.distinct_hosts_group
            && group_collisions > 0
        {
            return NodeCheck::Filtered(key.clone());
        }
        for property in &group.distinct_properties {
            let Some(value) = resolve_target(&node, &property.l_target) else {
                return NodeCheck::Filtered(property.key.clone());
            };
            let used = self
                .property_counts
                .get(&property.scope)
                .and_then(|by_value| by_value.get(value))
                .copied()
                .unwrap_or(0);
            if used >= property.limit {
                return NodeCheck::Filtered(property.key.clone());
            }
        }
        let allocatable = Usage::from_triple(node.allocatable());
        let used = self.node_usage(node_pos);
        if let Some(dimension) = exhausted_dimension(allocatable, used, group.ask) {
            return NodeCheck::Exhausted(dimension);
        }
        let binpack = binpack_score(allocatable, used, group.ask);
        let anti_affinity =
            if group.anti_affinity { anti_affinity_penalty(group_collisions, group.desired_count) } else { None };
        let norm = match anti_affinity {
            Some(penalty) => (binpack + penalty) / 2.0,
            None => binpack,
        };
        NodeCheck::Fits(NodeScore { binpack, anti_affinity, norm })
    }

    fn class_check(&mut self, group: &GroupPlacement, node: &Node) -> Option<String> {
        if !drivers_present(node, &group.drivers) {
            return Some(FILTER_DRIVERS.to_string());
        }
        for (constraint, key) in &group.class_constraints {
            if !self.checker.holds(node, constraint) {
                return Some(key.clone());
            }
        }
        None
    }

    /// Picks a node for one instance of the group: walks the shuffled
    /// candidates from the cursor, keeps the first `limit` that fit, returns
    /// the best. `Err` carries the metric of a failed placement.
    pub(crate) fn select(&mut self, group: &mut GroupPlacement) -> Result<Selected, Box<AllocMetric>> {
        let mut metric = self.base_metric.clone();
        let n_candidates = self.candidates.len();
        let mut scored: Vec<(usize, NodeScore)> = Vec::with_capacity(group.limit);
        let mut n_visited = 0;
        while n_visited < n_candidates && scored.len() < group.limit {
            let node_pos = self.candidates[self.cursor];
            self.cursor = (self.cursor + 1) % n_candidates;
            n_visited += 1;
            metric.nodes_evaluated += 1;
            match self.check_node(group, node_pos) {
                NodeCheck::Filtered(key) => record_filtered(&mut metric, &self.nodes[node_pos], key),
                NodeCheck::Exhausted(dimension) => record_exhausted(&mut metric, &self.nodes[node_pos], dimension),
                NodeCheck::Fits(score) => scored.push((node_pos, score)),
            }
        }
        let mut best_idx: Option<usize> = None;
        for (scored_idx, (_, score)) in scored.iter().enumerate() {
            match best_idx {
                Some(best) if scored[best].1.norm >= score.norm => {}
                _ => best_idx = Some(scored_idx),
            }
        }
        let Some(best_idx) = best_idx else {
            self.finish_failure_metric(&mut metric);
            return Err(Box::new(metric));
        };
        let node_pos = scored[best_idx].0;
        let mut ranked: Vec<&(usize, NodeScore)> = scored.iter().collect();
        ranked.sort_by(|left, right| right.1.norm.total_cmp(&left.1.norm));
        metric.score_meta_data = ranked
            .into_iter()
            .take(MAX_SCORE_META)
            .map(|(scored_pos, score)| score_meta(&self.nodes[*scored_pos].id, score))
            .collect();
        Ok(Selected { node_pos, metric })
    }
}

/// Adds one to `key`'s count; the key is copied only the first time it is counted.
fn count_in(counts: &mut HashMap<String, u32>, key: &str) {
    match counts.get_mut(key) {
        Some(count) => *count += 1,
        None => {
            counts.insert(key.to_string(), 1);
        }
    }
}

impl crate::EligibleNodes {
    /// Lists them from `nodes` (ordered by ID) for a job's pool and datacenters.
    pub fn list(nodes: &[Arc<Node>], node_pool: &str, datacenters: &[String]) -> crate::EligibleNodes {
        let mut eligible = crate::EligibleNodes::default();
        for datacenter in datacenters {
            if !datacenter.contains('*') {
                eligible.nodes_available.entry(datacenter.clone()).or_insert(0);
            }
        }
        let mut datacenter_cache: HashMap<&str, bool> = HashMap::new();
        for (node_pos, node) in nodes.iter().enumerate() {
            if !pool_matches(node_pool, &node.node_pool) {
                continue;
            }
            eligible.nodes_in_pool += 1;
            if !node.ready_for_work() {
                continue;
            }
            let in_datacenter = *datacenter_cache
                .entry(node.datacenter.as_str())
                .or_insert_with(|| datacenter_matches(datacenters, &node.datacenter));
            if !in_datacenter {
                eligible.dc_filtered += 1;
                continue;
            }
            match eligible.nodes_available.get_mut(&node.datacenter) {
                Some(count) => *count += 1,
                None => {
                    eligible.nodes_available.insert(node.datacenter.clone(), 1);
                }
            }
            eligible.positions.push(node_pos);
        }
        eligible
    }
}

/// The `NodeScoreMeta` of one scored node.
pub(crate) fn score_meta(node_id: &str, score: &NodeScore) -> NodeScoreMeta {
    let mut scores = BTreeMap::new();
    scores.insert("binpack".to_string(), thousandths(score.binpack));
    if let Some(penalty) = score.anti_affinity {
        scores.insert("job-anti-affinity".to_string(), thousandths(penalty));
    }
    NodeScoreMeta { node_id: node_id.to_string(), scores, norm_score: thousandths(score.norm) }
}

/// Counts a filtered node in a metric.
pub(crate) fn record_filtered(metric: &mut AllocMetric, node: &Node, key: String) {
    metric.nodes_filtered += 1;
    *metric.constraint_filtered.entry(key).or_insert(0) += 1;
    if !node.node_class.is_empty() {
        *metric.class_filtered.entry(node.node_class.clone()).or_insert(0) += 1;
    }
}

/// Counts an exhausted node in a metric.
pub(crate) fn record_exhausted(metric: &mut AllocMetric, node: &Node, dimension: &str) {
    metric.nodes_exhausted += 1;
    *metric.dimension_exhausted.entry(dimension.to_string()).or_insert(0) += 1;
    if !node.node_class.is_empty() {
        *metric.class_exhausted.entry(node.node_class.clone()).or_insert(0) += 1;
    }
}
