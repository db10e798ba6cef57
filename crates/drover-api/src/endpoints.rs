//! One thin method per HTTP endpoint the command line uses, typed with
//! `drover-types`: every request and reply body is a `drover_types::api`
//! type (or a domain object), the same the server writes.

use std::time::Duration;

use bytes::Bytes;
use drover_types::api::{
    AgentSelf, AllocListStub, AllocRestartRequest, AllocStopResponse, DrainSpec, JobDeregisterResponse,
    JobDispatchRequest, JobDispatchResponse, JobEvaluateRequest, JobListStub, JobOutcome, JobPlanRequest,
    JobPlanResponse, JobRegisterRequest, JobRegisterResponse, JobSummary, JobVersionsResponse, NodeDrainRequest,
    NodeDrainResponse, NodeEligibilityRequest, NodeListStub, NodeModifyResponse, QueuedDispatch, SearchRequest,
    SearchResponse, SystemGcResponse,
};
use drover_types::{Allocation, Evaluation, Job, Node};
use futures_util::{Stream, StreamExt};

use crate::client::{Client, QueryMeta, encode_component};
use crate::error::ApiError;

/// Which log stream of a task to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogType {
    fn as_str(self) -> &'static str {
        match self {
            LogType::Stdout => "stdout",
            LogType::Stderr => "stderr",
        }
    }
}

/// What part of a task's log to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRequest {
    /// Full allocation ID.
    pub alloc_id: String,
    /// Task name.
    pub task: String,
    /// Stdout or stderr.
    pub log_type: LogType,
    /// Keep the stream open and send new output as it is written.
    pub follow: bool,
    /// Count `offset` from the end of the log instead of its start.
    pub from_end: bool,
    /// Byte offset from the origin.
    pub offset: u64,
}

/// A long time, used as the timeout of streams that may stay open for hours.
const STREAM_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

fn path_id(id: &str) -> String {
    encode_component(id)
}

impl Client {
    // ---- jobs ----

    /// `PUT /v1/jobs`: registers or updates a job.
    pub async fn job_register(&self, request: &JobRegisterRequest) -> Result<JobRegisterResponse, ApiError> {
        self.write_json(reqwest::Method::PUT, "/v1/jobs", &[], Some(request)).await
    }

    /// `GET /v1/job/:id`: the job.
    pub async fn job_get(&self, job_id: &str) -> Result<Job, ApiError> {
        Ok(self.get_json(&format!("/v1/job/{}", path_id(job_id)), &[]).await?.0)
    }

    /// `GET /v1/job/:id` as raw JSON, for `job inspect`.
    pub async fn job_get_raw(&self, job_id: &str) -> Result<serde_json::Value, ApiError> {
        Ok(self.get_json(&format!("/v1/job/{}", path_id(job_id)), &[]).await?.0)
    }

    /// `GET /v1/job/:id/versions[?diffs=true]`: every kept version, newest first.
    pub async fn job_versions(&self, job_id: &str, diffs: bool) -> Result<JobVersionsResponse, ApiError> {
        let query = if diffs { vec![("diffs", "true".to_string())] } else { vec![] };
        Ok(self.get_json(&format!("/v1/job/{}/versions", path_id(job_id)), &query).await?.0)
    }

    /// `GET /v1/job/:id/summary`: allocation counts per task group.
    pub async fn job_summary(&self, job_id: &str) -> Result<JobSummary, ApiError> {
        Ok(self.get_json(&format!("/v1/job/{}/summary", path_id(job_id)), &[]).await?.0)
    }

    /// `GET /v1/job/:id/allocations[?all=true]`.
    pub async fn job_allocations(&self, job_id: &str, all: bool) -> Result<Vec<AllocListStub>, ApiError> {
        let query = if all { vec![("all", "true".to_string())] } else { vec![] };
        Ok(self.get_json(&format!("/v1/job/{}/allocations", path_id(job_id)), &query).await?.0)
    }

    /// `GET /v1/job/:id/evaluations`.
    pub async fn job_evaluations(&self, job_id: &str) -> Result<Vec<Evaluation>, ApiError> {
        Ok(self.get_json(&format!("/v1/job/{}/evaluations", path_id(job_id)), &[]).await?.0)
    }

    /// `POST /v1/job/:id/plan`: a scheduler dry run of `request.job`.
    pub async fn job_plan(&self, job_id: &str, request: &JobPlanRequest) -> Result<JobPlanResponse, ApiError> {
        self.write_json(reqwest::Method::POST, &format!("/v1/job/{}/plan", path_id(job_id)), &[], Some(request)).await
    }

    /// `DELETE /v1/job/:id?purge=`: stops (and with `purge` forgets) a job.
    pub async fn job_deregister(&self, job_id: &str, purge: bool) -> Result<JobDeregisterResponse, ApiError> {
        let query = [("purge", purge.to_string())];
        self.write_json::<(), _>(reqwest::Method::DELETE, &format!("/v1/job/{}", path_id(job_id)), &query, None).await
    }

    /// `DELETE /v1/job/:id?children=true&purge=`: stops (and with `purge`
    /// forgets) a parent job and all its children in one write. The reply's
    /// `Warnings` says how many children were stopped.
    pub async fn job_deregister_family(&self, job_id: &str, purge: bool) -> Result<JobDeregisterResponse, ApiError> {
        let query = [("children", "true".to_string()), ("purge", purge.to_string())];
        self.write_json::<(), _>(reqwest::Method::DELETE, &format!("/v1/job/{}", path_id(job_id)), &query, None).await
    }

    /// `POST /v1/job/:id/dispatch`: creates a child of a parameterized job.
    /// A repeated idempotency token answers the existing child with an empty `EvalID`.
    pub async fn job_dispatch(
        &self,
        job_id: &str,
        request: &JobDispatchRequest,
    ) -> Result<JobDispatchResponse, ApiError> {
        self.write_json(reqwest::Method::POST, &format!("/v1/job/{}/dispatch", path_id(job_id)), &[], Some(request))
            .await
    }

    /// `GET /v1/job/:id/children?<filters>`: a parent's children, newest
    /// first, with their meta. Filters are `status`, `meta.<key>`, `since`, `before`.
    pub async fn job_children(&self, job_id: &str, filters: &[(String, String)]) -> Result<Vec<JobListStub>, ApiError> {
        let query: Vec<(&str, String)> = filters.iter().map(|(key, value)| (key.as_str(), value.clone())).collect();
        Ok(self.get_json(&format!("/v1/job/{}/children", path_id(job_id)), &query).await?.0)
    }

    /// `GET /v1/job/:id/queue`: the dispatches of a parent held by `max_concurrent`, in order.
    pub async fn job_queue(&self, job_id: &str) -> Result<Vec<QueuedDispatch>, ApiError> {
        let (queue, _): (Option<Vec<QueuedDispatch>>, _) =
            self.get_json(&format!("/v1/job/{}/queue", path_id(job_id)), &[]).await?;
        Ok(queue.unwrap_or_default())
    }

    /// `GET /v1/job/:id/outcome?wait=`: blocks until the job is dead (at
    /// most `wait`), then says how it ended; `finished` is false on timeout.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn job_outcome(&self, job_id: &str, wait: Duration) -> Result<JobOutcome, ApiError> {
        let path = format!("/v1/job/{}/outcome", path_id(job_id));
        let query = [("wait", format!("{}s", wait.as_secs().max(1)))];
        let resp =
            self.send_raw(reqwest::Method::GET, &path, &query, None, Some(wait + Duration::from_secs(30))).await?;
        let address = self.address().to_string();
        let bytes = resp.bytes().await.map_err(|e| ApiError::Connect { address, message: innermost_message(&e) })?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode { path, message: e.to_string() })
    }

    /// `POST /v1/job/:id/evaluate`: forces a new evaluation.
    pub async fn job_evaluate(&self, job_id: &str) -> Result<JobRegisterResponse, ApiError> {
        let body = JobEvaluateRequest { job_id: job_id.to_string(), ..JobEvaluateRequest::default() };
        self.write_json(reqwest::Method::POST, &format!("/v1/job/{}/evaluate", path_id(job_id)), &[], Some(&body)).await
    }

    // ---- allocations ----

    /// `GET /v1/allocations?prefix=`.
    pub async fn allocations_list(&self, prefix: &str) -> Result<Vec<AllocListStub>, ApiError> {
        Ok(self.get_json("/v1/allocations", &prefix_query(prefix)).await?.0)
    }

    /// `GET /v1/allocation/:id`: the full allocation.
    pub async fn allocation_get(&self, alloc_id: &str) -> Result<Allocation, ApiError> {
        Ok(self.get_json(&format!("/v1/allocation/{}", path_id(alloc_id)), &[]).await?.0)
    }

    /// `POST /v1/allocation/:id/stop`: stops an allocation (it is replaced).
    pub async fn allocation_stop(&self, alloc_id: &str) -> Result<AllocStopResponse, ApiError> {
        self.write_json::<(), _>(
            reqwest::Method::POST,
            &format!("/v1/allocation/{}/stop", path_id(alloc_id)),
            &[],
            None,
        )
        .await
    }

    /// `POST /v1/client/allocation/:id/restart`: restarts one task, or all
    /// tasks when `task` is empty.
    pub async fn allocation_restart(&self, alloc_id: &str, task: &str) -> Result<(), ApiError> {
        let body = AllocRestartRequest { task_name: task.to_string() };
        let path = format!("/v1/client/allocation/{}/restart", path_id(alloc_id));
        let _: serde_json::Value = self.write_json(reqwest::Method::POST, &path, &[], Some(&body)).await?;
        Ok(())
    }

    /// `GET /v1/client/fs/logs/:alloc_id` with `plain=true`: the log bytes as
    /// they arrive. With `follow` the stream stays open until the task's log
    /// ends or the caller drops it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream closes the connection; no data is lost that was
    /// not already yielded.
    pub async fn logs_stream(
        &self,
        request: &LogsRequest,
    ) -> Result<impl Stream<Item = Result<Bytes, ApiError>> + use<>, ApiError> {
        let query = vec![
            ("task", request.task.clone()),
            ("type", request.log_type.as_str().to_string()),
            ("plain", "true".to_string()),
            ("follow", request.follow.to_string()),
            ("origin", if request.from_end { "end" } else { "start" }.to_string()),
            ("offset", request.offset.to_string()),
        ];
        let path = format!("/v1/client/fs/logs/{}", path_id(&request.alloc_id));
        let timeout = if request.follow { STREAM_TIMEOUT } else { self.config().timeout };
        let resp = self.send_raw(reqwest::Method::GET, &path, &query, None, Some(timeout)).await?;
        let address = self.address().to_string();
        Ok(resp.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| ApiError::Connect { address: address.clone(), message: innermost_message(&e) })
        }))
    }

    // ---- evaluations ----

    /// `GET /v1/evaluations?prefix=`.
    pub async fn evaluations_list(&self, prefix: &str) -> Result<Vec<Evaluation>, ApiError> {
        Ok(self.get_json("/v1/evaluations", &prefix_query(prefix)).await?.0)
    }

    /// `GET /v1/evaluation/:id`.
    pub async fn evaluation_get(&self, eval_id: &str) -> Result<Evaluation, ApiError> {
        Ok(self.get_json(&format!("/v1/evaluation/{}", path_id(eval_id)), &[]).await?.0)
    }

    /// `GET /v1/evaluation/:id?index=&wait=`: blocks until the state index
    /// passes `index` (at most `wait`); `index == 0` answers at once.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn evaluation_get_blocking(
        &self,
        eval_id: &str,
        index: u64,
        wait: Duration,
    ) -> Result<(Evaluation, QueryMeta), ApiError> {
        let wait = if index == 0 { None } else { Some((index, wait)) };
        self.get_json_blocking(&format!("/v1/evaluation/{}", path_id(eval_id)), &[], wait).await
    }

    /// `GET /v1/evaluation/:id/allocations`.
    pub async fn evaluation_allocations(&self, eval_id: &str) -> Result<Vec<AllocListStub>, ApiError> {
        Ok(self.get_json(&format!("/v1/evaluation/{}/allocations", path_id(eval_id)), &[]).await?.0)
    }

    // ---- nodes ----

    /// `GET /v1/nodes?prefix=`.
    pub async fn nodes_list(&self, prefix: &str) -> Result<Vec<NodeListStub>, ApiError> {
        Ok(self.get_json("/v1/nodes", &prefix_query(prefix)).await?.0)
    }

    /// `GET /v1/node/:id`.
    pub async fn node_get(&self, node_id: &str) -> Result<Node, ApiError> {
        Ok(self.get_json(&format!("/v1/node/{}", path_id(node_id)), &[]).await?.0)
    }

    /// `GET /v1/node/:id/allocations`: the allocations on a node.
    pub async fn node_allocations(&self, node_id: &str) -> Result<Vec<Allocation>, ApiError> {
        Ok(self.get_json(&format!("/v1/node/{}/allocations", path_id(node_id)), &[]).await?.0)
    }

    /// `POST /v1/node/:id/drain`: starts a drain with a deadline (ns, 0 = none)
    /// when `deadline` is `Some`, ends it (and marks the node eligible again)
    /// when `None`.
    pub async fn node_drain(&self, node_id: &str, deadline: Option<i64>) -> Result<NodeDrainResponse, ApiError> {
        let body = NodeDrainRequest {
            drain_spec: deadline.map(|deadline| DrainSpec { deadline, ignore_system_jobs: false }),
            mark_eligible: deadline.is_none(),
        };
        self.write_json(reqwest::Method::POST, &format!("/v1/node/{}/drain", path_id(node_id)), &[], Some(&body)).await
    }

    /// `POST /v1/node/:id/eligibility`: marks a node (in)eligible for new work.
    pub async fn node_eligibility(&self, node_id: &str, eligible: bool) -> Result<NodeModifyResponse, ApiError> {
        let value = if eligible { "eligible" } else { "ineligible" };
        let body = NodeEligibilityRequest { eligibility: value.to_string() };
        self.write_json(reqwest::Method::POST, &format!("/v1/node/{}/eligibility", path_id(node_id)), &[], Some(&body))
            .await
    }

    // ---- misc ----

    /// `GET /v1/search?prefix=&context=` (falls back to `PUT /v1/search` with
    /// a body when the server only has Nomad's form).
    pub async fn search(&self, prefix: &str, context: &str) -> Result<SearchResponse, ApiError> {
        let query = [("prefix", prefix.to_string()), ("context", context.to_string())];
        match self.get_json("/v1/search", &query).await {
            Ok((resp, _)) => Ok(resp),
            Err(err) if matches!(err.status(), Some(404 | 405)) => {
                let body = SearchRequest { prefix: prefix.to_string(), context: context.to_string() };
                self.write_json(reqwest::Method::PUT, "/v1/search", &[], Some(&body)).await
            }
            Err(err) => Err(err),
        }
    }

    /// `PUT /v1/system/gc`: forces a garbage collection (dead dispatched
    /// children past the threshold, terminal evaluations and allocations).
    pub async fn system_gc(&self) -> Result<(), ApiError> {
        let _: SystemGcResponse = self.write_json::<(), _>(reqwest::Method::PUT, "/v1/system/gc", &[], None).await?;
        Ok(())
    }

    /// `GET /v1/agent/self`: the parts of the agent's self description the
    /// command line uses.
    pub async fn agent_self(&self) -> Result<AgentSelf, ApiError> {
        Ok(self.get_json("/v1/agent/self", &[]).await?.0)
    }
}

fn prefix_query(prefix: &str) -> Vec<(&'static str, String)> {
    if prefix.is_empty() { vec![] } else { vec![("prefix", prefix.to_string())] }
}

fn innermost_message(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_reply_accepts_null_diffs() {
        let resp: JobVersionsResponse =
            serde_json::from_str(r#"{"Versions":[{"ID":"example","Version":1}],"Diffs":null}"#).expect("decodes");
        assert_eq!(resp.versions.len(), 1);
        assert!(resp.diffs.is_empty());
    }
}
