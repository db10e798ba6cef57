//! The evaluation broker: pending evaluations wait here, by priority, until a
//! scheduler worker takes them.
//!
//! Invariants: at most one evaluation per job is handed out at a time (later
//! ones for the same job wait behind it, so a job's plans never race each
//! other); blocked evaluations wait apart until capacity changes, released in
//! order (priority, then age); delayed evaluations (`WaitUntil`) wait until
//! their time. The broker is in memory only: on start the server refills it
//! from the state store.
//!
//! Parked evaluations: the broker keeps of a blocked evaluation only what
//! orders it and finds it again ([`Parked`]: its ID and job, ~250 bytes),
//! not the evaluation. When one is handed to a worker, the broker reads it
//! from the state through its [`EvalSource`] and skips it if it is gone or
//! no longer `blocked`; so a backlog of a million waiting dispatches costs
//! the broker a few hundred megabytes at most, and the evaluation itself may
//! live only on disk.
//!
//! Blocked classes: when an evaluation of a fresh dispatched or periodic child
//! blocks, its [`BlockedClass`] (parent plus a fingerprint of the placement
//! spec) is remembered with the placement failure, once per class. Later
//! evaluations of the same class are parked in the blocked set without a
//! scheduler pass until capacity changes ([`EvalBroker::unblock_all`] forgets
//! every class). Each capacity change also advances a [`CapacityEpoch`]; a
//! class found blocked against a snapshot older than the latest change is not
//! remembered, so a class never outlives the capacity it was blocked on.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use drover_types::{AllocMetric, Evaluation, JobKey, eval_status};

use crate::class::{BlockedClass, ClassFingerprints};

/// Reads an evaluation by ID from the newest state: how the broker finds a
/// parked evaluation again when it releases it.
pub(crate) type EvalSource = Arc<dyn Fn(&str) -> Option<Arc<Evaluation>> + Send + Sync>;

/// A job, held once per parked evaluation and shared by the broker's indexes.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JobRef {
    namespace: Box<str>,
    job_id: Box<str>,
}

impl JobRef {
    fn of(namespace: &str, job_id: &str) -> JobRef {
        JobRef { namespace: namespace.into(), job_id: job_id.into() }
    }

    fn key(&self) -> JobKey {
        (self.namespace.to_string(), self.job_id.to_string())
    }
}

/// What the broker keeps of a parked (blocked) evaluation: its ID, job and
/// priority. Its age is in its place in the line ([`BlockOrder`]).
#[derive(Debug, Clone)]
struct Parked {
    eval_id: Box<str>,
    job: Arc<JobRef>,
    priority: i32,
}

impl Parked {
    fn of(eval: &Evaluation) -> Parked {
        Parked {
            eval_id: eval.id.as_str().into(),
            job: Arc::new(JobRef::of(&eval.namespace, &eval.job_id)),
            priority: eval.priority,
        }
    }
}

/// An evaluation as a queue holds it: whole (pending work), or parked (a
/// released blocked evaluation, read from the state when handed out).
#[derive(Debug, Clone)]
enum Held {
    Whole(Arc<Evaluation>),
    Parked(Parked),
}

impl Held {
    fn id(&self) -> &str {
        match self {
            Held::Whole(eval) => &eval.id,
            Held::Parked(parked) => &parked.eval_id,
        }
    }

    fn priority(&self) -> i32 {
        match self {
            Held::Whole(eval) => eval.priority,
            Held::Parked(parked) => parked.priority,
        }
    }

    fn namespace(&self) -> &str {
        match self {
            Held::Whole(eval) => &eval.namespace,
            Held::Parked(parked) => &parked.job.namespace,
        }
    }

    fn job_key(&self) -> JobKey {
        match self {
            Held::Whole(eval) => job_key(eval),
            Held::Parked(parked) => parked.job.key(),
        }
    }

    fn into_parked(self) -> Parked {
        match self {
            Held::Whole(eval) => Parked::of(&eval),
            Held::Parked(parked) => parked,
        }
    }
}

/// A ready evaluation, ordered by priority (high first), then age (old
/// first), then when it became ready.
#[derive(Debug, Clone)]
struct Ready {
    priority: i32,
    age: u64,
    seq: u64,
    eval: Held,
}

impl PartialEq for Ready {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority && self.age == other.age && self.seq == other.seq
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority.cmp(&other.priority).then_with(|| other.age.cmp(&self.age)).then_with(|| other.seq.cmp(&self.seq))
    }
}

/// The age an evaluation waits by: its create index, or last of its
/// priority when it has none yet.
fn age_of(eval: &Evaluation) -> u64 {
    if eval.create_index > 0 { eval.create_index } else { u64::MAX }
}

/// The age a blocked evaluation waits by. One created for a job's queued
/// allocations continues the work of the job version it names, so it waits
/// at that version's index, not at its own (later) create index; any other
/// waits at its create index. The same rule applies after a restart.
pub(crate) fn blocked_age(eval: &Evaluation) -> u64 {
    let own = age_of(eval);
    if eval.triggered_by == drover_types::eval_trigger::QUEUED_ALLOCS && eval.job_modify_index > 0 {
        return own.min(eval.job_modify_index);
    }
    own
}

/// Where a blocked evaluation waits: priority (high first), age (old first),
/// then a sequence number that keeps two evaluations of one age apart.
type BlockOrder = (std::cmp::Reverse<i32>, u64, u64);

/// Why a class is blocked: the placement failure of the evaluation that found
/// it so, kept once per class and written onto the evaluations parked
/// behind it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassBlock {
    /// The evaluation whose scheduler pass found the class blocked.
    pub eval_id: String,
    /// Its placement failures per task group.
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    /// Its allocations still to place per task group.
    pub queued_allocations: BTreeMap<String, u64>,
}

/// A count of capacity changes. Whatever was decided from a snapshot taken
/// at epoch `e` about the lack of capacity holds only while the epoch is `e`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct CapacityEpoch(u64);

/// Ready evaluations taken at once by one worker, with the capacity epoch
/// read before the worker looks at state.
#[derive(Debug)]
pub struct EvalBatch {
    /// In dequeue order (priority, then age); at most one per job.
    pub evals: Vec<Arc<Evaluation>>,
    /// The capacity epoch when the batch was taken.
    pub epoch: CapacityEpoch,
}

#[derive(Default)]
struct BrokerState {
    seq: u64,
    ready: BinaryHeap<Ready>,
    /// Jobs with an evaluation in `ready` (so a push checks in O(1), not by
    /// scanning the heap: that scan was most of the server's CPU under a
    /// dispatch load).
    ready_jobs: HashSet<JobKey>,
    /// Jobs with an evaluation handed out.
    in_flight: HashSet<JobKey>,
    /// Evaluations waiting for their job's in-flight one to finish.
    waiting_on_job: HashMap<JobKey, VecDeque<(Held, u64)>>,
    /// Every eval ID the broker holds in any queue (dedup).
    known: HashSet<String>,
    /// Blocked evaluations in release order: priority (high first), then age.
    blocked: BTreeMap<BlockOrder, Parked>,
    /// Where each job's one blocked evaluation sits in `blocked` (the key
    /// is shared with the entry there).
    blocked_by_job: HashMap<Arc<JobRef>, BlockOrder>,
    /// Blocked evaluations released and not yet finished (they re-block or place).
    released: HashSet<String>,
    /// How many more blocked evaluations may be released in this wave.
    release_budget: usize,
    /// Most evaluations a capacity change releases at once.
    wave_size: usize,
    /// Delayed evaluations by due time.
    delayed: BTreeMap<(i64, u64), Arc<Evaluation>>,
    /// Classes known to be blocked since the last capacity change.
    blocked_classes: HashMap<BlockedClass, Arc<ClassBlock>>,
    /// Capacity changes so far.
    epoch: CapacityEpoch,
    closed: bool,
}

/// Counts for metrics and the queue view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Ready to be taken.
    pub ready: usize,
    /// Handed out, not yet acknowledged.
    pub unacked: usize,
    /// Waiting behind another evaluation of the same job.
    pub pending_on_job: usize,
    /// Waiting for capacity.
    pub blocked: usize,
    /// Waiting for their time.
    pub delayed: usize,
}

/// The broker. Cheap to clone.
#[derive(Clone)]
pub struct EvalBroker {
    state: Arc<Mutex<BrokerState>>,
    notify: Arc<Notify>,
    source: EvalSource,
    fingerprints: ClassFingerprints,
}

fn job_key(eval: &Evaluation) -> JobKey {
    (eval.namespace.clone(), eval.job_id.clone())
}

impl EvalBroker {
    /// An empty broker that reads parked evaluations back through `source`
    /// (the state store's newest snapshot).
    pub(crate) fn new(source: EvalSource) -> EvalBroker {
        EvalBroker {
            state: Arc::new(Mutex::new(BrokerState::default())),
            notify: Arc::new(Notify::new()),
            source,
            fingerprints: ClassFingerprints::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BrokerState> {
        // A poisoned lock means a panic mid-update elsewhere; the queues are
        // still structurally valid, so keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The class a child job's evaluations belong to (see
    /// [`crate::class::class_of_child`]), its fingerprint computed once per
    /// parent spec.
    pub(crate) fn class_of_child(&self, job: &drover_types::Job) -> Option<BlockedClass> {
        self.fingerprints.class_of_child(job)
    }

    /// Adds a pending evaluation. Duplicates (same ID already held) are
    /// ignored, and so is every evaluation while the broker is disabled (it
    /// is durable in the state, and the next leadership refills the broker
    /// from there).
    pub fn enqueue(&self, eval: Arc<Evaluation>, now: i64) {
        let mut state = self.lock();
        if state.closed || !state.known.insert(eval.id.clone()) {
            return;
        }
        if eval.wait_until > now {
            let seq = next_seq(&mut state);
            state.delayed.insert((eval.wait_until, seq), eval);
            drop(state);
            self.notify.notify_waiters();
            return;
        }
        let age = age_of(&eval);
        push_ready(&mut state, Held::Whole(eval), age);
        drop(state);
        self.notify.notify_one();
    }

    /// Holds a blocked evaluation (as stored: status `blocked`) until
    /// [`EvalBroker::unblock_all`]. A newer blocked evaluation of the same
    /// job replaces the older one, which is returned (read from the state)
    /// so the caller can cancel it. It waits in line by [`blocked_age`].
    pub fn block(&self, eval: &Evaluation) -> Option<Arc<Evaluation>> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let replaced = self.block_locked(&mut state, eval)?;
        drop(state);
        (self.source)(&replaced)
    }

    /// [`EvalBroker::block`] under the lock; returns the replaced evaluation's ID.
    fn block_locked(&self, state: &mut BrokerState, eval: &Evaluation) -> Option<Box<str>> {
        let was_released = state.released.remove(&eval.id);
        let parked = Parked::of(eval);
        let order = (std::cmp::Reverse(eval.priority), blocked_age(eval), next_seq(state));
        let old = match state.blocked_by_job.insert(parked.job.clone(), order) {
            Some(old_order) => state.blocked.remove(&old_order),
            None => None,
        };
        state.blocked.insert(order, parked);
        if was_released {
            // It found no room: this wave has met a full cluster; stop
            // releasing, and put the wave's younger evaluations not taken yet
            // back in line, so the next capacity starts from the oldest again.
            state.release_budget = 0;
            recall_released(state);
        }
        match old {
            Some(old) if *old.eval_id != *eval.id => Some(old.eval_id),
            _ => None,
        }
    }

    /// The current capacity epoch (read it before taking the snapshot a
    /// decision about blocking is made from).
    pub fn capacity_epoch(&self) -> CapacityEpoch {
        self.lock().epoch
    }

    /// Remembers that `class` is blocked, unless capacity changed since
    /// `seen` (then the finding may already be stale). Returns whether it was
    /// remembered.
    pub fn mark_class_blocked(&self, class: BlockedClass, block: ClassBlock, seen: CapacityEpoch) -> bool {
        let mut state = self.lock();
        if state.epoch != seen {
            return false;
        }
        state.blocked_classes.insert(class, Arc::new(block));
        true
    }

    /// Why `class` is blocked, if it is, with the epoch the answer holds for.
    pub fn class_block(&self, class: &BlockedClass) -> Option<(Arc<ClassBlock>, CapacityEpoch)> {
        let state = self.lock();
        state.blocked_classes.get(class).map(|block| (block.clone(), state.epoch))
    }

    /// [`EvalBroker::block`] for an evaluation found blocked (or parked
    /// behind its class) from a snapshot taken at capacity epoch `seen`. If
    /// capacity changed since, the finding may be stale: the head of the
    /// blocked line is released too, so this evaluation (or older work) is
    /// scheduled again against the new capacity, in order, and a last
    /// capacity change can never leave the line stalled. Returns the job's
    /// older blocked evaluation it replaced, if any, for the caller to cancel.
    pub fn block_since(&self, eval: &Evaluation, seen: CapacityEpoch) -> Option<Arc<Evaluation>> {
        let mut state = self.lock();
        let replaced = self.block_locked(&mut state, eval);
        let mut released = 0;
        if state.epoch != seen {
            // Capacity changed since the finding: release the head of the
            // line (this evaluation, or older ones), keeping the order.
            state.release_budget = state.release_budget.max(1);
            released = release(&mut state);
        }
        drop(state);
        if released > 0 {
            self.notify.notify_waiters();
        }
        (self.source)(&replaced?)
    }

    /// Forgets the blocked evaluation of a job (job stopped or purged) and
    /// returns it, read from the state.
    pub fn unblock_job(&self, namespace: &str, job_id: &str) -> Option<Arc<Evaluation>> {
        let parked = {
            let mut state = self.lock();
            let order = state.blocked_by_job.remove(&JobRef::of(namespace, job_id))?;
            state.blocked.remove(&order)?
        };
        (self.source)(&parked.eval_id)
    }

    /// Sets how many blocked evaluations one capacity change releases at once.
    pub fn set_wave_size(&self, wave_size: usize) {
        self.lock().wave_size = wave_size.max(1);
    }

    /// Capacity changed: blocked evaluations are released in order (priority,
    /// then age), a wave at a time. Each one that places what it waited for
    /// releases the next; one that still finds no room ends the wave. So a
    /// large backlog drains in order at the rate capacity appears, without
    /// re-scheduling the whole backlog on every change. Returns how many were released.
    pub fn unblock_all(&self) -> usize {
        let mut state = self.lock();
        state.epoch.0 += 1;
        state.blocked_classes.clear();
        let wave = if state.wave_size == 0 { 8 } else { state.wave_size };
        state.release_budget = state.release_budget.max(wave);
        let released = release(&mut state);
        drop(state);
        if released > 0 {
            self.notify.notify_waiters();
        }
        released
    }

    /// A released blocked evaluation finished without re-blocking: release the next one.
    fn released_done(state: &mut BrokerState, eval_id: &str) -> usize {
        if state.released.remove(eval_id) {
            state.release_budget += 1;
            return release(state);
        }
        0
    }

    /// Moves delayed evaluations whose time has come to the ready queue; returns
    /// the next due time, if any.
    pub fn promote_due(&self, now: i64) -> Option<i64> {
        let mut state = self.lock();
        let mut promoted = false;
        while let Some(((due, _), _)) = state.delayed.first_key_value() {
            if *due > now {
                break;
            }
            let Some((_, eval)) = state.delayed.pop_first() else { break };
            let age = age_of(&eval);
            push_ready(&mut state, Held::Whole(eval), age);
            promoted = true;
        }
        let next = state.delayed.first_key_value().map(|((due, _), _)| *due);
        drop(state);
        if promoted {
            self.notify.notify_waiters();
        }
        next
    }

    /// Takes the highest-priority ready evaluation, waiting for one.
    /// Returns `None` once the broker is closed.
    ///
    /// # Cancel safety
    /// Safe: an evaluation is only removed from the queue in the same
    /// synchronous step that returns it (a parked one is read from the state
    /// without awaiting).
    pub async fn dequeue(&self) -> Option<Arc<Evaluation>> {
        let batch = self.dequeue_batch(1).await?;
        batch.evals.into_iter().next()
    }

    /// Takes up to `max` ready evaluations at once (waiting for the first),
    /// in dequeue order, at most one per job. A released parked evaluation
    /// is read from the state; one that is gone or no longer blocked is
    /// skipped (and finished as if acknowledged). Returns `None` once the
    /// broker is closed.
    ///
    /// # Cancel safety
    /// Safe: evaluations are only removed from the queue in the same
    /// synchronous step that returns them.
    pub async fn dequeue_batch(&self, max: usize) -> Option<EvalBatch> {
        loop {
            let notified = self.notify.notified();
            let (taken, epoch) = {
                let mut state = self.lock();
                if state.closed {
                    return None;
                }
                let mut taken = Vec::new();
                while taken.len() < max.max(1) {
                    let Some(ready) = state.ready.pop() else { break };
                    let key = ready.eval.job_key();
                    state.ready_jobs.remove(&key);
                    state.in_flight.insert(key);
                    taken.push(ready.eval);
                }
                if !taken.is_empty() && !state.ready.is_empty() {
                    // More work left: let another idle worker take it.
                    self.notify.notify_one();
                }
                (taken, state.epoch)
            };
            let evals: Vec<Arc<Evaluation>> = taken.into_iter().filter_map(|held| self.resolve(held)).collect();
            if !evals.is_empty() {
                return Some(EvalBatch { evals, epoch });
            }
            if self.lock().ready.is_empty() {
                notified.await;
            }
        }
    }

    /// The evaluation a handed-out entry stands for. A parked one is read
    /// from the state; if it is gone or no longer blocked there is nothing
    /// to schedule, and it is finished here as its worker's ack would.
    fn resolve(&self, held: Held) -> Option<Arc<Evaluation>> {
        let parked = match held {
            Held::Whole(eval) => return Some(eval),
            Held::Parked(parked) => parked,
        };
        let stored = (self.source)(&parked.eval_id).filter(|eval| eval.status == eval_status::BLOCKED);
        if stored.is_none() {
            self.finish(&parked.eval_id, parked.job.key());
        }
        stored
    }

    /// The worker finished with an evaluation (whatever the outcome): the next
    /// evaluation of the same job, if any, becomes ready.
    pub fn ack(&self, eval: &Evaluation) {
        self.finish(&eval.id, job_key(eval));
    }

    fn finish(&self, eval_id: &str, key: JobKey) {
        let mut state = self.lock();
        // Blocked (or parked) by its worker and released again before this
        // ack: the new copy waits behind this one and stays known.
        let requeued = state.waiting_on_job.get(&key).is_some_and(|queue| queue.iter().any(|(e, _)| e.id() == eval_id));
        let mut notify_all = false;
        if !requeued {
            state.known.remove(eval_id);
            notify_all = EvalBroker::released_done(&mut state, eval_id) > 0;
        }
        state.in_flight.remove(&key);
        let next = state.waiting_on_job.get_mut(&key).and_then(VecDeque::pop_front);
        if state.waiting_on_job.get(&key).is_some_and(VecDeque::is_empty) {
            state.waiting_on_job.remove(&key);
        }
        let promoted = next.is_some();
        if let Some((next, age)) = next {
            push_ready(&mut state, next, age);
        }
        drop(state);
        if notify_all {
            self.notify.notify_waiters();
        } else if promoted {
            self.notify.notify_one();
        }
    }

    /// Stops every `dequeue`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }

    /// Disables the broker when leadership is revoked: every `dequeue`
    /// returns `None` (the workers end after the batch in hand), and every
    /// queue is emptied. Nothing is lost: each evaluation is durable in the
    /// state, and [`EvalBroker::enable`] plus a restore refill it from there.
    pub fn disable(&self) {
        self.reset(true);
        self.notify.notify_waiters();
    }

    /// Enables an emptied broker for a new leadership (refilled by the
    /// server's restore from the state).
    pub fn enable(&self) {
        self.reset(false);
    }

    /// Whether the broker hands out evaluations (this server leads).
    pub fn is_enabled(&self) -> bool {
        !self.lock().closed
    }

    /// Empties every queue; the wave size stays, and the capacity epoch
    /// moves on (a decision made before the reset is stale after it).
    fn reset(&self, closed: bool) {
        let mut state = self.lock();
        let fresh = BrokerState {
            wave_size: state.wave_size,
            epoch: CapacityEpoch(state.epoch.0 + 1),
            seq: state.seq,
            closed,
            ..BrokerState::default()
        };
        *state = fresh;
    }

    /// Queue depths.
    pub fn stats(&self) -> BrokerStats {
        let state = self.lock();
        BrokerStats {
            ready: state.ready.len(),
            unacked: state.in_flight.len(),
            pending_on_job: state.waiting_on_job.values().map(VecDeque::len).sum(),
            blocked: state.blocked.len(),
            delayed: state.delayed.len(),
        }
    }

    /// The evaluations waiting in any queue, ready ones first in dequeue order,
    /// then those behind another of their job, then delayed, then blocked
    /// (parked ones read from the state; any gone from it are left out).
    /// The server lists them through [`EvalBroker::waiting_first`].
    #[cfg(test)]
    pub fn waiting(&self) -> Vec<(Arc<Evaluation>, &'static str)> {
        self.waiting_first(None, usize::MAX).0
    }

    /// The first `limit` of [`EvalBroker::waiting`] (of `namespace` only,
    /// when given) and how many there are in all. Only the ones returned are
    /// read from the state, so counting a million parked evaluations reads
    /// none of them.
    pub fn waiting_first(
        &self,
        namespace: Option<&str>,
        limit: usize,
    ) -> (Vec<(Arc<Evaluation>, &'static str)>, usize) {
        let held: Vec<(Held, &'static str)> = {
            let state = self.lock();
            let mut ready: Vec<Ready> = state.ready.iter().cloned().collect();
            ready.sort_by(|a, b| b.cmp(a));
            let mut out: Vec<(Held, &'static str)> =
                ready.into_iter().map(|r| (r.eval, "waiting for a scheduler worker")).collect();
            for queue in state.waiting_on_job.values() {
                out.extend(queue.iter().map(|(e, _)| (e.clone(), "waiting for an earlier evaluation of the same job")));
            }
            out.extend(state.delayed.values().map(|e| (Held::Whole(e.clone()), "delayed until its reschedule time")));
            out.extend(state.blocked.values().map(|p| (Held::Parked(p.clone()), "waiting for capacity")));
            out
        };
        let mut seen: HashSet<&str> = HashSet::new();
        let in_scope: Vec<&(Held, &'static str)> = held
            .iter()
            .filter(|(held, _)| namespace.is_none_or(|namespace| held.namespace() == namespace))
            .filter(|(held, _)| seen.insert(held.id()))
            .collect();
        let first = in_scope
            .iter()
            .filter_map(|(held, why)| match held {
                Held::Whole(eval) => Some((Arc::clone(eval), *why)),
                Held::Parked(parked) => (self.source)(&parked.eval_id).map(|eval| (eval, *why)),
            })
            .take(limit)
            .collect();
        (first, in_scope.len())
    }
}

/// Moves blocked evaluations to the ready queue while the wave's budget lasts.
fn release(state: &mut BrokerState) -> usize {
    let mut released = 0;
    while state.release_budget > 0 {
        let Some(((_, age, _), parked)) = state.blocked.pop_first() else { break };
        state.blocked_by_job.remove(&parked.job);
        state.release_budget -= 1;
        // An evaluation its worker has blocked but not acknowledged yet is
        // still known: it is released all the same and waits behind that
        // worker's copy (dropping it here would lose it).
        state.known.insert(parked.eval_id.to_string());
        state.released.insert(parked.eval_id.to_string());
        // Released work keeps its age, so it goes ahead of younger ready work.
        push_ready(state, Held::Parked(parked), age);
        released += 1;
    }
    released
}

/// Moves released evaluations still in the ready queue back to the blocked
/// line, at their age (a wave that met a full cluster must not let its
/// younger members overtake the older ones it re-blocked).
fn recall_released(state: &mut BrokerState) {
    if state.released.is_empty() || state.ready.is_empty() {
        return;
    }
    let mut keep = Vec::with_capacity(state.ready.len());
    let mut promote = Vec::new();
    for ready in std::mem::take(&mut state.ready).into_vec() {
        let key = ready.eval.job_key();
        let job = JobRef::of(&key.0, &key.1);
        let recallable = state.released.contains(ready.eval.id()) && !state.blocked_by_job.contains_key(&job);
        if !recallable {
            keep.push(ready);
            continue;
        }
        state.released.remove(ready.eval.id());
        state.known.remove(ready.eval.id());
        state.ready_jobs.remove(&key);
        if let Some(next) = state.waiting_on_job.get_mut(&key).and_then(VecDeque::pop_front) {
            promote.push(next);
        }
        if state.waiting_on_job.get(&key).is_some_and(VecDeque::is_empty) {
            state.waiting_on_job.remove(&key);
        }
        let order = (std::cmp::Reverse(ready.priority), ready.age, next_seq(state));
        let parked = ready.eval.into_parked();
        state.blocked_by_job.insert(parked.job.clone(), order);
        state.blocked.insert(order, parked);
    }
    state.ready = keep.into();
    for (eval, age) in promote {
        push_ready(state, eval, age);
    }
}

fn next_seq(state: &mut BrokerState) -> u64 {
    state.seq += 1;
    state.seq
}

fn push_ready(state: &mut BrokerState, eval: Held, age: u64) {
    let key = eval.job_key();
    if state.in_flight.contains(&key) || state.ready_jobs.contains(&key) {
        state.waiting_on_job.entry(key).or_default().push_back((eval, age));
        return;
    }
    state.ready_jobs.insert(key);
    let seq = next_seq(state);
    state.ready.push(Ready { priority: eval.priority(), age, seq, eval });
}
/// A broker over a stand-in for the state store, for the tests here and in
/// other modules.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The stored evaluations the test broker reads back.
    #[derive(Clone, Default)]
    pub(crate) struct StoredEvals(Arc<Mutex<HashMap<String, Arc<Evaluation>>>>);

    impl StoredEvals {
        /// Stores (or replaces) an evaluation.
        pub(crate) fn put(&self, eval: Evaluation) {
            self.0.lock().expect("not poisoned").insert(eval.id.clone(), Arc::new(eval));
        }

        /// Removes an evaluation (as a purge would).
        pub(crate) fn remove(&self, eval_id: &str) {
            self.0.lock().expect("not poisoned").remove(eval_id);
        }
    }

    /// An [`EvalBroker`] whose `block` and `block_since` first store the
    /// evaluation as `blocked`, as the server writes it before blocking it.
    pub(crate) struct TestBroker {
        pub(crate) broker: EvalBroker,
        pub(crate) stored: StoredEvals,
    }

    impl TestBroker {
        pub(crate) fn new() -> TestBroker {
            let stored = StoredEvals::default();
            let source = stored.clone();
            let broker =
                EvalBroker::new(Arc::new(move |id: &str| source.0.lock().expect("not poisoned").get(id).cloned()));
            TestBroker { broker, stored }
        }

        fn store_blocked(&self, eval: &Evaluation) {
            let mut stored = eval.clone();
            stored.status = eval_status::BLOCKED.to_string();
            self.stored.put(stored);
        }

        pub(crate) fn block(&self, eval: Arc<Evaluation>) -> Option<Arc<Evaluation>> {
            self.store_blocked(&eval);
            self.broker.block(&eval)
        }

        pub(crate) fn block_since(&self, eval: Arc<Evaluation>, seen: CapacityEpoch) -> Option<Arc<Evaluation>> {
            self.store_blocked(&eval);
            self.broker.block_since(&eval, seen)
        }
    }

    impl std::ops::Deref for TestBroker {
        type Target = EvalBroker;
        fn deref(&self) -> &EvalBroker {
            &self.broker
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(id: &str, job: &str, priority: i32) -> Arc<Evaluation> {
        Arc::new(Evaluation {
            id: id.to_string(),
            namespace: "default".to_string(),
            job_id: job.to_string(),
            priority,
            ..Evaluation::default()
        })
    }

    #[tokio::test]
    async fn dequeues_by_priority_then_age_one_per_job() {
        let broker = test_support::TestBroker::new();
        broker.enqueue(eval("a", "j1", 50), 0);
        broker.enqueue(eval("b", "j2", 70), 0);
        broker.enqueue(eval("c", "j1", 90), 0);
        broker.enqueue(eval("d", "j3", 50), 0);
        let first = broker.dequeue().await.expect("open");
        assert_eq!(first.id, "b");
        let second = broker.dequeue().await.expect("open");
        assert_eq!(second.id, "a", "c waits behind a (same job) even though its priority is higher");
        let third = broker.dequeue().await.expect("open");
        assert_eq!(third.id, "d");
        assert_eq!(broker.stats().pending_on_job, 1);
        broker.ack(&second);
        let fourth = broker.dequeue().await.expect("open");
        assert_eq!(fourth.id, "c");
    }

    #[tokio::test]
    async fn blocked_and_delayed_wait_apart() {
        let broker = test_support::TestBroker::new();
        assert!(broker.block(eval("x", "j", 50)).is_none());
        let replaced = broker.block(eval("y", "j", 50)).expect("older blocked eval handed back");
        assert_eq!(replaced.id, "x");
        let mut delayed = (*eval("z", "k", 50)).clone();
        delayed.wait_until = 100;
        broker.enqueue(Arc::new(delayed), 10);
        assert_eq!(broker.stats(), BrokerStats { blocked: 1, delayed: 1, ..BrokerStats::default() });
        assert_eq!(broker.promote_due(50), Some(100));
        assert_eq!(broker.promote_due(100), None);
        assert_eq!(broker.unblock_all(), 1);
        assert_eq!(broker.stats().blocked, 0);
        let ids = [broker.dequeue().await.expect("open").id.clone(), broker.dequeue().await.expect("open").id.clone()];
        assert!(ids.contains(&"y".to_string()) && ids.contains(&"z".to_string()), "{ids:?}");
    }
}

#[cfg(test)]
mod backlog_tests {
    use super::*;

    /// A blocked evaluation of job `job-<id>`.
    pub(super) fn blocked(id: &str, priority: i32, create_index: u64) -> Arc<Evaluation> {
        Arc::new(Evaluation {
            id: id.to_string(),
            namespace: "default".to_string(),
            job_id: format!("job-{id}"),
            priority,
            create_index,
            status: "blocked".to_string(),
            ..Evaluation::default()
        })
    }

    #[tokio::test]
    async fn backlog_drains_in_order_a_wave_at_a_time() {
        let broker = test_support::TestBroker::new();
        broker.set_wave_size(2);
        for (idx, priority) in [50, 50, 80, 50, 50].iter().enumerate() {
            broker.block(blocked(&format!("e{idx}"), *priority, idx as u64 + 1));
        }
        assert_eq!(broker.unblock_all(), 2, "one wave");
        let first = broker.dequeue().await.expect("open");
        let second = broker.dequeue().await.expect("open");
        assert_eq!((first.id.as_str(), second.id.as_str()), ("e2", "e0"), "priority first, then age");
        // e2 placed its work: the next in line is released.
        broker.ack(&first);
        let third = broker.dequeue().await.expect("open");
        assert_eq!(third.id, "e1");
        // e0 still found no room: it goes back to its place and the wave ends.
        broker.block(second.clone());
        broker.ack(&second);
        broker.ack(&third);
        assert_eq!(broker.stats().ready, 1, "e1's success releases the head of the line again");
        let fourth = broker.dequeue().await.expect("open");
        assert_eq!(fourth.id, "e0", "strict order: the oldest waiting evaluation goes first");
        broker.block(fourth.clone());
        broker.ack(&fourth);
        assert_eq!(broker.stats().ready, 0, "a failure ends the wave");
        assert_eq!(broker.stats().blocked, 3);
        let waiting: Vec<String> = broker.waiting().iter().map(|(e, _)| e.id.clone()).collect();
        assert_eq!(waiting, vec!["e0", "e3", "e4"], "the line keeps its order");
    }
}

#[cfg(test)]
mod class_tests {
    use super::*;

    /// A blocked evaluation of the dispatched child `parent/dispatch-<id>`.
    fn child_eval(id: &str, priority: i32, create_index: u64) -> Arc<Evaluation> {
        let mut eval = Evaluation::clone(&super::backlog_tests::blocked(id, priority, create_index));
        eval.job_id = format!("parent/dispatch-{id}");
        Arc::new(eval)
    }

    fn class() -> BlockedClass {
        BlockedClass { namespace: "default".to_string(), parent_id: "parent".to_string(), spec_fingerprint: 7 }
    }

    fn block() -> ClassBlock {
        ClassBlock { eval_id: "first".to_string(), ..ClassBlock::default() }
    }

    #[tokio::test]
    async fn parked_evaluations_wait_with_the_blocked_and_leave_in_order() {
        let broker = test_support::TestBroker::new();
        broker.set_wave_size(10);
        let epoch = broker.capacity_epoch();
        assert!(broker.class_block(&class()).is_none(), "no class is blocked at first");
        assert!(broker.mark_class_blocked(class(), block(), epoch));
        let (found, seen) = broker.class_block(&class()).expect("class remembered");
        assert_eq!((found.eval_id.as_str(), seen), ("first", epoch));
        for (id, priority, create_index) in [("a", 50, 3), ("b", 50, 1), ("c", 80, 5), ("d", 50, 2)] {
            assert!(broker.block_since(child_eval(id, priority, create_index), seen).is_none());
        }
        assert_eq!(broker.stats(), BrokerStats { blocked: 4, ..BrokerStats::default() }, "parked, none ready");
        let waiting: Vec<(String, &str)> = broker.waiting().iter().map(|(e, why)| (e.id.clone(), *why)).collect();
        assert_eq!(
            waiting,
            vec![
                ("c".to_string(), "waiting for capacity"),
                ("b".to_string(), "waiting for capacity"),
                ("d".to_string(), "waiting for capacity"),
                ("a".to_string(), "waiting for capacity"),
            ]
        );
        let (first, total) = broker.waiting_first(None, 2);
        let first: Vec<&str> = first.iter().map(|(e, _)| e.id.as_str()).collect();
        assert_eq!((first, total), (vec!["c", "b"], 4), "the first two, and the count of all");
        let (elsewhere, total) = broker.waiting_first(Some("other"), 10);
        assert!(elsewhere.is_empty());
        assert_eq!(total, 0, "none of another namespace");

        // Capacity changed: the class is forgotten and the parked leave by priority, then age.
        assert_eq!(broker.unblock_all(), 4);
        assert!(broker.class_block(&class()).is_none(), "a capacity change clears every class");
        let batch = broker.dequeue_batch(64).await.expect("open");
        let order: Vec<&str> = batch.evals.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(order, vec!["c", "b", "d", "a"]);
        assert_ne!(batch.epoch, epoch, "the batch carries the new epoch");
    }

    #[tokio::test]
    async fn a_finding_older_than_a_capacity_change_is_not_kept() {
        let broker = test_support::TestBroker::new();
        let before = broker.capacity_epoch();
        broker.unblock_all();
        assert!(!broker.mark_class_blocked(class(), block(), before), "stale: capacity changed since");
        assert!(broker.class_block(&class()).is_none());
        // Parking on a stale finding schedules the evaluation for real instead.
        assert!(broker.block_since(child_eval("late", 50, 9), before).is_none());
        assert_eq!(broker.stats(), BrokerStats { ready: 1, ..BrokerStats::default() });
        let batch = broker.dequeue_batch(64).await.expect("open");
        assert_eq!(batch.evals[0].id, "late");
    }

    #[tokio::test]
    async fn a_parked_evaluation_is_cancelled_with_its_job() {
        let broker = test_support::TestBroker::new();
        let epoch = broker.capacity_epoch();
        broker.mark_class_blocked(class(), block(), epoch);
        broker.block_since(child_eval("x", 50, 4), epoch);
        broker.block_since(child_eval("y", 50, 5), epoch);
        let canceled = broker.unblock_job("default", "parent/dispatch-x").expect("parked evaluation handed back");
        assert_eq!(canceled.id, "x");
        assert_eq!(broker.stats().blocked, 1);
        assert_eq!(broker.unblock_all(), 1, "only y is left to release");
    }

    #[test]
    fn evaluations_of_one_age_both_wait() {
        let broker = test_support::TestBroker::new();
        let epoch = broker.capacity_epoch();
        broker.mark_class_blocked(class(), block(), epoch);
        // A blocked evaluation made for queued allocations waits at its job
        // version's age (2, not its own 6), which a parked evaluation may share.
        let mut continued = (*child_eval("first-blocked", 50, 6)).clone();
        continued.job_id = "parent/dispatch-first".to_string();
        continued.triggered_by = drover_types::eval_trigger::QUEUED_ALLOCS.to_string();
        continued.job_modify_index = 2;
        broker.block(Arc::new(continued));
        broker.block_since(child_eval("second", 50, 2), epoch);
        broker.block_since(child_eval("third", 50, 1), epoch);
        let waiting: Vec<String> = broker.waiting().iter().map(|(e, _)| e.id.clone()).collect();
        assert_eq!(waiting, vec!["third", "first-blocked", "second"]);
    }

    #[tokio::test]
    async fn a_wave_that_meets_a_full_cluster_goes_back_in_line() {
        let broker = test_support::TestBroker::new();
        broker.set_wave_size(4);
        for (id, create_index) in [("w1", 1), ("w2", 2), ("w3", 3), ("w4", 4)] {
            broker.block(child_eval(id, 50, create_index));
        }
        assert_eq!(broker.unblock_all(), 4);
        let first = broker.dequeue_batch(1).await.expect("open");
        // w1 finds no room: w2..w4, released but not taken, go back in line.
        broker.block(first.evals[0].clone());
        broker.ack(&first.evals[0]);
        assert_eq!(broker.stats(), BrokerStats { blocked: 4, ..BrokerStats::default() });
        assert_eq!(broker.unblock_all(), 4);
        let again = broker.dequeue_batch(64).await.expect("open");
        let order: Vec<&str> = again.evals.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(order, vec!["w1", "w2", "w3", "w4"], "the oldest goes first again");
    }

    #[tokio::test]
    async fn capacity_between_a_block_and_its_ack_loses_nothing() {
        let broker = test_support::TestBroker::new();
        broker.enqueue(child_eval("p", 50, 3), 0);
        let taken = broker.dequeue_batch(64).await.expect("open");
        let epoch = taken.epoch;
        broker.mark_class_blocked(class(), block(), epoch);
        // The worker parks it, capacity appears before the worker's ack.
        broker.block_since(taken.evals[0].clone(), epoch);
        assert_eq!(broker.unblock_all(), 1);
        broker.ack(&taken.evals[0]);
        let again = broker.dequeue_batch(64).await.expect("open");
        assert_eq!(again.evals[0].id, "p", "released again, not dropped");
        broker.ack(&again.evals[0]);
        assert_eq!(broker.stats(), BrokerStats::default());
    }

    #[tokio::test]
    async fn a_batch_takes_ready_evaluations_in_order_one_per_job() {
        let broker = test_support::TestBroker::new();
        for (id, job, priority) in [("a", "j1", 50), ("b", "j1", 90), ("c", "j2", 50), ("d", "j3", 70), ("e", "j4", 50)]
        {
            broker.enqueue(
                Arc::new(Evaluation {
                    id: id.to_string(),
                    namespace: "default".to_string(),
                    job_id: job.to_string(),
                    priority,
                    ..Evaluation::default()
                }),
                0,
            );
        }
        let batch = broker.dequeue_batch(3).await.expect("open");
        let ids: Vec<&str> = batch.evals.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["d", "a", "c"], "b waits behind a; at most 3");
        let rest = broker.dequeue_batch(64).await.expect("open");
        let ids: Vec<&str> = rest.evals.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["e"]);
        for eval in batch.evals.iter().chain(rest.evals.iter()) {
            broker.ack(eval);
        }
        let last = broker.dequeue_batch(64).await.expect("open");
        assert_eq!(last.evals[0].id, "b");
    }

    #[tokio::test]
    async fn a_released_evaluation_is_read_from_the_state_and_skipped_if_gone_or_done() {
        let broker = test_support::TestBroker::new();
        broker.set_wave_size(2);
        for (id, create_index) in [("gone", 1), ("done", 2), ("kept", 3), ("next", 4)] {
            broker.block(child_eval(id, 50, create_index));
        }
        let mut kept = (*child_eval("kept", 50, 3)).clone();
        kept.status = eval_status::BLOCKED.to_string();
        kept.status_description = "as stored now".to_string();
        broker.stored.put(kept);
        broker.stored.remove("gone");
        let mut done = (*child_eval("done", 50, 2)).clone();
        done.status = eval_status::COMPLETE.to_string();
        broker.stored.put(done);

        // A wave of two: "gone" and "done" leave nothing to schedule, and
        // each frees its place in the wave for the next in line.
        assert_eq!(broker.unblock_all(), 2);
        let batch = broker.dequeue_batch(64).await.expect("open");
        let taken: Vec<(&str, &str)> =
            batch.evals.iter().map(|e| (e.id.as_str(), e.status_description.as_str())).collect();
        assert_eq!(taken, vec![("kept", "as stored now"), ("next", "")], "the stored copies, in order");
        for eval in &batch.evals {
            broker.ack(eval);
        }
        assert_eq!(broker.stats(), BrokerStats::default(), "nothing held for the skipped ones");
    }

    #[test]
    fn cancelling_and_replacing_hand_back_the_stored_evaluation() {
        let broker = test_support::TestBroker::new();
        broker.block(child_eval("old", 50, 1));
        let mut newer = (*child_eval("new", 50, 2)).clone();
        newer.job_id = "parent/dispatch-old".to_string();
        let replaced = broker.block(Arc::new(newer)).expect("the job's older blocked evaluation");
        assert_eq!((replaced.id.as_str(), replaced.status.as_str()), ("old", eval_status::BLOCKED));
        let canceled = broker.unblock_job("default", "parent/dispatch-old").expect("the job's blocked evaluation");
        assert_eq!(canceled.id, "new");
        assert_eq!(broker.stats(), BrokerStats::default());
    }
}
