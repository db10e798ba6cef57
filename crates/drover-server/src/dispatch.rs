//! Dispatching a parameterized job: validate the request against the
//! template, create the child job and its evaluation in one durable write.
//!
//! While the child's class is known to be blocked (an earlier child of the
//! same parent and spec found no room, and capacity has not changed since),
//! its evaluation is written `blocked` with the class's placement failure in
//! that same write and parked in the broker: no scheduler pass and no second
//! write per dispatch while a backlog waits.
//!
//! Checks run in Nomad's order (payload, unpermitted meta, missing meta,
//! priority) with Nomad's messages, but a client's mistake answers 400, not 500.

use std::sync::Arc;

use drover_state::Txn;
use drover_types::api::{JobDispatchRequest, JobDispatchResponse};
use drover_types::{Job, MAX_PRIORITY, eval_status, eval_trigger, now_nanos, payload_requirement};

use crate::children;
use crate::error::ServerError;
use crate::server::Server;

/// Checks a dispatch request against its template; `Err` carries the message.
pub fn validate_dispatch(parent: &Job, request: &JobDispatchRequest, max_payload: usize) -> Result<(), String> {
    let Some(config) = parent.parameterized_job.as_ref().filter(|_| parent.is_parameterized()) else {
        return Err(format!("Specified job {:?} is not a parameterized job", parent.id));
    };
    if parent.stop {
        return Err(format!("Specified job {:?} is stopped", parent.id));
    }
    let payload_len = request.payload.len();
    match config.payload.as_str() {
        payload_requirement::REQUIRED if payload_len == 0 => {
            return Err("Payload is not provided but required by parameterized job".to_string());
        }
        payload_requirement::FORBIDDEN if payload_len > 0 => {
            return Err("Payload provided but forbidden by parameterized job".to_string());
        }
        _ => {}
    }
    if payload_len > max_payload {
        return Err(format!("Payload exceeds maximum size; {payload_len} > {max_payload}"));
    }
    let unpermitted: Vec<&String> = request
        .meta
        .keys()
        .filter(|key| !config.meta_required.contains(key) && !config.meta_optional.contains(key))
        .collect();
    if !unpermitted.is_empty() {
        let mut allowed: Vec<&String> = config.meta_required.iter().chain(config.meta_optional.iter()).collect();
        allowed.sort();
        let allowed_text = if allowed.is_empty() { "none".to_string() } else { join(&allowed) };
        return Err(format!(
            "Dispatch request included unpermitted metadata keys: [{}] (allowed keys: {allowed_text})",
            join(&unpermitted)
        ));
    }
    let missing: Vec<&String> = config.meta_required.iter().filter(|key| !request.meta.contains_key(*key)).collect();
    if !missing.is_empty() {
        return Err(format!("Dispatch did not provide required meta keys: [{}]", join(&missing)));
    }
    if request.priority != 0 && !(1..=MAX_PRIORITY).contains(&request.priority) {
        return Err(format!("dispatch job priority must be between [1, {MAX_PRIORITY}]"));
    }
    validate_id_prefix_template(&request.id_prefix_template)
}

/// Longest `IdPrefixTemplate` accepted.
const MAX_ID_PREFIX_TEMPLATE: usize = 64;

/// The `IdPrefixTemplate` goes into the child's job ID (and so into URLs,
/// file names and log lines): only letters, digits, `-`, `_` and single
/// dots, at most [`MAX_ID_PREFIX_TEMPLATE`] characters.
fn validate_id_prefix_template(template: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if template.chars().count() > MAX_ID_PREFIX_TEMPLATE {
        return Err(format!("IdPrefixTemplate is longer than {MAX_ID_PREFIX_TEMPLATE} characters"));
    }
    if let Some(bad) = template.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "IdPrefixTemplate {template:?} contains {bad:?}: it becomes part of the child job's ID, \
             so only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    if template.contains("..") {
        return Err(format!("IdPrefixTemplate {template:?} contains \"..\""));
    }
    Ok(())
}

fn join(items: &[&String]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

impl Server {
    /// Dispatches a parameterized job.
    pub async fn dispatch_job(
        &self,
        namespace: &str,
        parent_id: &str,
        request: JobDispatchRequest,
    ) -> Result<JobDispatchResponse, ServerError> {
        if parent_id.is_empty() {
            return Err(ServerError::BadRequest("missing parameterized job ID".to_string()));
        }
        // Serialise dispatches that carry a token, so two retries racing each
        // other cannot both create a child.
        let limited = self
            .state
            .snapshot()
            .job(namespace, parent_id)
            .and_then(|p| p.parameterized_job.as_ref().map(|c| c.max_concurrent > 0))
            .unwrap_or(false);
        let _guard =
            if request.idempotency_token.is_empty() && !limited { None } else { Some(self.dispatch_lock.lock().await) };
        let snapshot = self.state.snapshot();
        let parent = snapshot
            .job(namespace, parent_id)
            .ok_or_else(|| ServerError::NotFound(format!("parameterized job not found: {parent_id}")))?;
        let limit = parent.parameterized_job.as_ref().map(|c| c.max_concurrent as usize).unwrap_or(0);
        validate_dispatch(&parent, &request, self.config.max_payload_bytes).map_err(ServerError::BadRequest)?;
        if !request.idempotency_token.is_empty()
            && let Some(existing) =
                snapshot.child_by_idempotency_token(namespace, parent_id, &request.idempotency_token)
        {
            return Ok(JobDispatchResponse {
                dispatched_job_id: existing.id.clone(),
                eval_id: String::new(),
                eval_create_index: 0,
                job_create_index: existing.create_index,
                index: existing.modify_index,
            });
        }
        if !request.idempotency_token.is_empty()
            && let Some(collected_id) =
                crate::gc::remembered_token(&snapshot, namespace, parent_id, &request.idempotency_token, now_nanos())
        {
            // The child was garbage-collected, but its token is still remembered.
            return Ok(JobDispatchResponse {
                dispatched_job_id: collected_id,
                eval_id: String::new(),
                eval_create_index: 0,
                job_create_index: 0,
                index: snapshot.index(),
            });
        }
        let now = now_nanos();
        // Suffixes never repeat within this process, but a restarted server
        // (or another before it) may have used one in the same second: draw
        // again until the ID is free (the precondition below turns any race
        // left into an error, never into one child overwriting another).
        let child_id = children::free_dispatch_id(&snapshot, namespace, parent_id, &request.id_prefix_template, || {
            crate::ordered_ids::CHILD_SUFFIXES.next(now)
        });
        let mut child = children::build_child(&parent, &request, child_id, now);
        child.canonicalize();
        // Every dispatch is a run too, so runs and history are the same for every trigger.
        let run = children::new_run(&parent, &child.id, drover_types::run_trigger::DISPATCH, now, now);
        let mut evals = Vec::new();
        let mut parked_epoch = None;
        let held = limit > 0
            && (self.gate.held_count(namespace, parent_id) > 0
                || crate::concurrency::active_children(self, &snapshot, &parent) >= limit);
        if !child.is_periodic() {
            let mut fresh = drover_types::Evaluation::new_for_job(&child, eval_trigger::JOB_REGISTER, now);
            if held {
                fresh.status = eval_status::BLOCKED.to_string();
                fresh.status_description =
                    format!("{} ({limit} children of {parent_id} running)", drover_types::HELD_DESCRIPTION);
            } else if let Some(class) = self.broker.class_of_child(&child)
                && let Some((block, epoch)) = self.broker.class_block(&class)
            {
                fresh = crate::worker::parked_eval(fresh, &block, now);
                parked_epoch = Some(epoch);
            }
            evals.push(fresh);
        }
        let child_id = child.id.clone();
        let mut txn = Txn::default();
        children::add_new_child(&mut txn, child, &evals, Some(run));
        let index = self.commit_with_evals(txn, &evals).await?;
        if let Some(eval) = evals.first_mut() {
            eval.create_index = index;
            if held {
                self.gate.hold(namespace, parent_id, Arc::new(eval.clone()));
            } else if let Some(epoch) = parked_epoch {
                // A fresh child has no older blocked evaluation to replace.
                let _ = self.broker.block_since(eval, epoch);
            }
        }
        self.metrics.dispatches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(JobDispatchResponse {
            dispatched_job_id: child_id,
            eval_id: evals.first().map(|e| e.id.clone()).unwrap_or_default(),
            eval_create_index: if evals.is_empty() { 0 } else { index },
            job_create_index: index,
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::{build_child, build_periodic_child, dispatched_id, free_dispatch_id};
    use drover_state::Op;
    use drover_types::{JobType, ParameterizedJobConfig};

    fn template(payload: &str, required: &[&str], optional: &[&str]) -> Job {
        let mut job = Job {
            id: "video-encode".to_string(),
            job_type: JobType::Batch,
            parameterized_job: Some(ParameterizedJobConfig {
                payload: payload.to_string(),
                meta_required: required.iter().map(|s| s.to_string()).collect(),
                meta_optional: optional.iter().map(|s| s.to_string()).collect(),
                max_concurrent: 0,
            }),
            ..Job::default()
        };
        job.meta.insert("quality".to_string(), "720p".to_string());
        job
    }

    fn request(payload: &[u8], meta: &[(&str, &str)]) -> JobDispatchRequest {
        JobDispatchRequest {
            payload: payload.to_vec(),
            meta: meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..JobDispatchRequest::default()
        }
    }

    fn check(job: &Job, req: &JobDispatchRequest, expected: Result<(), &str>) {
        assert_eq!(validate_dispatch(job, req, 16384), expected.map_err(str::to_string));
    }

    #[tokio::test]
    async fn a_drawn_child_id_that_is_taken_is_drawn_again() {
        let store = drover_state::StateStore::in_memory();
        let now = 1_795_308_516_000_000_000;
        let taken = Job {
            id: dispatched_id("video-encode", "", now / 1_000_000_000, 7),
            namespace: "default".to_string(),
            ..Job::default()
        };
        store.apply(Txn { preconditions: vec![], ops: vec![Op::UpsertJob(taken)] }).await.expect("applied");
        let second = now / 1_000_000_000;
        let mut draws = [7u64, 7, 8].into_iter().map(|suffix| (second, suffix));
        let id =
            free_dispatch_id(&store.snapshot(), "default", "video-encode", "", || draws.next().unwrap_or((second, 9)));
        assert_eq!(id, dispatched_id("video-encode", "", second, 8));
    }

    #[test]
    fn validation_messages_name_what_is_wrong() {
        let job = template("required", &["codec"], &["quality"]);
        check(&job, &request(b"", &[("codec", "x")]), Err("Payload is not provided but required by parameterized job"));
        check(
            &template("forbidden", &[], &[]),
            &request(b"x", &[]),
            Err("Payload provided but forbidden by parameterized job"),
        );
        check(&job, &request(&[b'a'; 20000], &[("codec", "x")]), Err("Payload exceeds maximum size; 20000 > 16384"));
        check(
            &job,
            &request(b"x", &[("codec", "x"), ("color", "red")]),
            Err("Dispatch request included unpermitted metadata keys: [color] (allowed keys: codec quality)"),
        );
        check(
            &job,
            &request(b"x", &[("quality", "1080p")]),
            Err("Dispatch did not provide required meta keys: [codec]"),
        );
        check(&job, &request(b"x", &[("codec", "x")]), Ok(()));
        let mut plain = job.clone();
        plain.parameterized_job = None;
        check(&plain, &request(b"", &[]), Err("Specified job \"video-encode\" is not a parameterized job"));
    }

    #[test]
    fn id_prefix_templates_are_checked_like_job_ids() {
        let job = template("optional", &[], &[]);
        let with = |prefix: &str| JobDispatchRequest { id_prefix_template: prefix.to_string(), ..request(b"", &[]) };
        check(&job, &with("config1"), Ok(()));
        check(&job, &with("v1.2_x-y"), Ok(()));
        let err = validate_dispatch(&job, &with("a b/../c"), 16384).expect_err("refused");
        assert!(err.contains("IdPrefixTemplate \"a b/../c\" contains ' '"), "{err}");
        let err = validate_dispatch(&job, &with("a/b"), 16384).expect_err("refused");
        assert!(err.contains("contains '/'"), "{err}");
        let err = validate_dispatch(&job, &with(".."), 16384).expect_err("refused");
        assert!(err.contains("contains \"..\""), "{err}");
        let err = validate_dispatch(&job, &with(&"x".repeat(65)), 16384).expect_err("refused");
        assert!(err.contains("longer than 64"), "{err}");
    }

    #[test]
    fn child_ids_and_meta_follow_nomad() {
        assert_eq!(
            dispatched_id("video-encode", "", 1485379325, 0xcb38d00d),
            "video-encode/dispatch-1485379325-cb38d00d"
        );
        assert_eq!(
            dispatched_id("video-encode", "config1", 1485379325, 0xcb38d00d),
            "video-encode/dispatch-config1-1485379325-cb38d00d"
        );
        let parent = template("optional", &["codec"], &["quality", "extra"]);
        let child =
            build_child(&parent, &request(b"p", &[("codec", "webm")]), "video-encode/dispatch-1-0".to_string(), 5);
        assert_eq!(child.parent_id, "video-encode");
        assert!(child.dispatched);
        assert!(!child.is_parameterized());
        assert_eq!(child.meta.get("quality").map(String::as_str), Some("720p"), "parent default kept");
        assert_eq!(child.meta.get("codec").map(String::as_str), Some("webm"));
        assert_eq!(child.meta.get("extra").map(String::as_str), Some(""), "optional keys pre-set");
        assert_eq!(child.payload, b"p");
    }

    #[test]
    fn dispatched_and_periodic_children_share_the_parents_task_groups() {
        let mut parent = template("optional", &[], &[]);
        parent.task_groups = vec![drover_types::TaskGroup { name: "g".to_string(), ..Default::default() }].into();
        parent.canonicalize();
        let mut child = build_child(&parent, &request(b"", &[]), "video-encode/dispatch-1-0".to_string(), 5);
        child.canonicalize();
        assert!(child.task_groups.is_shared_with(&parent.task_groups));
        let periodic = build_periodic_child(&parent, "video-encode/periodic-1", 5);
        assert!(periodic.task_groups.is_shared_with(&parent.task_groups));

        child.task_groups[0].count = 4;
        assert_eq!((parent.task_groups[0].count, child.task_groups[0].count), (1, 4), "a change copies first");
    }
}
