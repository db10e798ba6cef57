//! `/v1/event/stream`: newline-delimited JSON of state changes, with Nomad's
//! topics (Job, Evaluation, Allocation, Node) and `?topic=Topic:Key` filters.
//! A `{}` line is sent every 10 seconds so idle connections stay open.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use drover_state::{Change, ChangedObject};
use drover_types::api::{DeletedJob, DeletedNode, EventPayload, StreamEvent, StreamEvents};

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/event/stream", get(stream))
}

/// Topic filters: topic -> keys (`*` = any key). Empty = everything.
#[derive(Debug, Default)]
pub(crate) struct TopicFilter(BTreeMap<String, Vec<String>>);

impl TopicFilter {
    pub(crate) fn parse(query: &str) -> TopicFilter {
        let mut filter = BTreeMap::new();
        for pair in query.split('&') {
            let Some(value) = pair.strip_prefix("topic=") else { continue };
            let value = value.replace("%3A", ":").replace("%3a", ":").replace("%2A", "*");
            let (topic, key) = value.split_once(':').unwrap_or((value.as_str(), "*"));
            filter.entry(topic.to_string()).or_insert_with(Vec::new).push(key.to_string());
        }
        TopicFilter(filter)
    }

    pub(crate) fn allows(&self, topic: &str, key: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let matches = |keys: &Vec<String>| keys.iter().any(|k| k == "*" || k == key);
        self.0.get(topic).is_some_and(matches) || self.0.get("*").is_some_and(matches)
    }
}

/// The stream event of a state change.
pub(crate) fn to_event(change: &Change) -> StreamEvent {
    let (topic, event_type, key, namespace, payload) = match &change.object {
        ChangedObject::Job(job) => {
            ("Job", "JobRegistered", job.id.clone(), job.namespace.clone(), EventPayload::Job { job: job.clone() })
        }
        ChangedObject::JobDeleted { namespace, job_id } => (
            "Job",
            "JobDeregistered",
            job_id.clone(),
            namespace.clone(),
            EventPayload::JobDeleted { job: DeletedJob { id: job_id.clone(), namespace: namespace.clone() } },
        ),
        ChangedObject::Eval(eval) => (
            "Evaluation",
            "EvaluationUpdated",
            eval.id.clone(),
            eval.namespace.clone(),
            EventPayload::Evaluation { eval: eval.clone() },
        ),
        ChangedObject::Alloc(alloc) => (
            "Allocation",
            "AllocationUpdated",
            alloc.id.clone(),
            alloc.namespace.clone(),
            EventPayload::Allocation { alloc: alloc.clone() },
        ),
        ChangedObject::Node(node) => {
            let mut node = (**node).clone();
            node.secret_id.clear();
            ("Node", "NodeRegistration", node.id.clone(), String::new(), EventPayload::Node { node: Arc::new(node) })
        }
        ChangedObject::NodeDeleted(id) => (
            "Node",
            "NodeDeregistration",
            id.clone(),
            String::new(),
            EventPayload::NodeDeleted { node: DeletedNode { id: id.clone() } },
        ),
        ChangedObject::Run(run) => {
            ("Run", "RunUpdated", run.id.clone(), run.namespace.clone(), EventPayload::Run { run: run.clone() })
        }
        ChangedObject::JobHistory(history) => (
            "Job",
            "JobHistoryUpdated",
            history.job_id.clone(),
            history.namespace.clone(),
            EventPayload::History { history: history.clone() },
        ),
    };
    StreamEvent {
        topic: topic.to_string(),
        event_type: event_type.to_string(),
        key,
        namespace,
        index: change.index,
        payload,
    }
}

async fn stream(State(server): State<AppState>, uri: Uri) -> Response {
    let filter = TopicFilter::parse(uri.query().unwrap_or(""));
    let mut changes = server.state.subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut heartbeat = tokio::time::interval(Duration::from_secs(10));
        heartbeat.tick().await;
        loop {
            let line = tokio::select! {
                received = changes.recv() => match received {
                    Ok(batch) => {
                        let events: Vec<StreamEvent> = batch
                            .iter()
                            .map(to_event)
                            .filter(|e| filter.allows(&e.topic, &e.key))
                            .collect();
                        if events.is_empty() {
                            continue;
                        }
                        let index = events.iter().map(|e| e.index).max().unwrap_or(0);
                        match serde_json::to_vec(&StreamEvents { index, events }) {
                            Ok(mut line) => {
                                line.push(b'\n');
                                line
                            }
                            Err(_) => continue,
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "event stream reader fell behind; events were dropped");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = heartbeat.tick() => b"{}\n".to_vec(),
            };
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    ([("content-type", "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::TopicFilter;

    #[test]
    fn topic_filters_match_topic_and_key() {
        let filter = TopicFilter::parse("topic=Job:example&topic=Allocation:*&index=3");
        assert!(filter.allows("Job", "example"));
        assert!(!filter.allows("Job", "other"));
        assert!(filter.allows("Allocation", "anything"));
        assert!(!filter.allows("Node", "n1"));
        assert!(TopicFilter::parse("").allows("Node", "n1"));
    }
}
