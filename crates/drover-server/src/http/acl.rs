//! Which capability a request needs and which token it carries: the HTTP
//! side of the namespace ACLs (`crate::acl` holds the capabilities and the
//! [`Authorizer`](crate::Authorizer) that decides).
//!
//! Tokens are read from `X-Nomad-Token`, `Authorization: Bearer <token>` and
//! Metronome's `Authorization: token=<token>`.

use axum::http::{HeaderMap, Method};

use crate::acl::Capability;

/// The token a request carries ("" when none).
pub(crate) fn request_token(headers: &HeaderMap) -> String {
    if let Some(token) = headers.get("X-Nomad-Token").and_then(|v| v.to_str().ok()) {
        return token.trim().to_string();
    }
    let Some(auth) = headers.get("Authorization").and_then(|v| v.to_str().ok()) else { return String::new() };
    let auth = auth.trim();
    if let Some(token) = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")) {
        return token.trim().to_string();
    }
    if let Some(token) = auth.strip_prefix("token=") {
        return token.trim().to_string();
    }
    String::new()
}

/// The capability a request needs, or `None` for requests outside namespace
/// ACLs (the client protocol authenticates with node secrets; node, agent and
/// status endpoints belong to other policy blocks).
pub fn required_capability(method: &Method, path: &str) -> Option<Capability> {
    let read = method == Method::GET || method == Method::HEAD;
    if path == "/v1/jobs" {
        return Some(if read { Capability::ListJobs } else { Capability::SubmitJob });
    }
    if path == "/v1/jobs/parse" {
        return None;
    }
    if let Some(rest) = path.strip_prefix("/v1/job/") {
        if rest.ends_with("/dispatch") || rest.ends_with("/dispatch/payload") {
            return Some(Capability::DispatchJob);
        }
        return Some(if read { Capability::ReadJob } else { Capability::SubmitJob });
    }
    if path.starts_with("/v1/evaluation") || path == "/v1/queue" {
        return Some(Capability::ReadJob);
    }
    if path == "/v1/allocations" {
        return Some(Capability::ReadJob);
    }
    if let Some(rest) = path.strip_prefix("/v1/allocation/") {
        return Some(if read && !rest.ends_with("/stop") { Capability::ReadJob } else { Capability::AllocLifecycle });
    }
    if path.starts_with("/v1/client/fs/") {
        return Some(Capability::ReadLogs);
    }
    if path.starts_with("/v1/client/allocation/") {
        return Some(Capability::AllocLifecycle);
    }
    if let Some(rest) = path.strip_prefix("/service/metronome/v1/jobs") {
        if rest.is_empty() || rest == "/" {
            return Some(if read { Capability::ListJobs } else { Capability::SubmitJob });
        }
        if rest.contains("/runs") && !read {
            // Starting or stopping a run launches work like a dispatch.
            return Some(Capability::DispatchJob);
        }
        return Some(if read { Capability::ReadJob } else { Capability::SubmitJob });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_nomads_capabilities() {
        let check = |method: Method, path: &str, expected: Option<Capability>| {
            assert_eq!(required_capability(&method, path), expected, "{method} {path}");
        };
        check(Method::GET, "/v1/jobs", Some(Capability::ListJobs));
        check(Method::PUT, "/v1/jobs", Some(Capability::SubmitJob));
        check(Method::GET, "/v1/job/example", Some(Capability::ReadJob));
        check(Method::GET, "/v1/job/video/dispatch-1-ab/allocations", Some(Capability::ReadJob));
        check(Method::DELETE, "/v1/job/example", Some(Capability::SubmitJob));
        check(Method::POST, "/v1/job/video-encode/dispatch", Some(Capability::DispatchJob));
        check(Method::GET, "/v1/evaluation/abc", Some(Capability::ReadJob));
        check(Method::GET, "/v1/allocation/abc", Some(Capability::ReadJob));
        check(Method::POST, "/v1/allocation/abc/stop", Some(Capability::AllocLifecycle));
        check(Method::GET, "/v1/client/fs/logs/abc", Some(Capability::ReadLogs));
        check(Method::POST, "/v1/client/allocation/abc/restart", Some(Capability::AllocLifecycle));
        check(Method::POST, "/service/metronome/v1/jobs/myjob/runs", Some(Capability::DispatchJob));
        check(Method::GET, "/service/metronome/v1/jobs", Some(Capability::ListJobs));
        check(Method::PUT, "/v1/node/register", None);
        check(Method::GET, "/v1/node/abc/client-allocs", None);
        check(Method::GET, "/v1/status/leader", None);
    }

    #[test]
    fn tokens_come_from_every_header_form() {
        let token = |name: &str, value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                value.parse().expect("header value"),
            );
            request_token(&headers)
        };
        assert_eq!(token("X-Nomad-Token", "s3cret"), "s3cret");
        assert_eq!(token("Authorization", "Bearer s3cret"), "s3cret");
        assert_eq!(token("Authorization", "token=s3cret"), "s3cret");
        assert_eq!(request_token(&HeaderMap::new()), "");
    }
}
