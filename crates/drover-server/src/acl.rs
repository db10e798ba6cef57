//! Capabilities and who has them.
//!
//! Every API request needs one Nomad [`Capability`] (`list-jobs` to list or
//! look jobs up by prefix, `read-job` to read a job, its evaluations and
//! allocations (what a monitor does), `submit-job` to change jobs,
//! `dispatch-job` to dispatch, `read-logs`, `alloc-lifecycle`); which one a
//! request needs, and its token, are read by the HTTP layer (`http/acl.rs`),
//! whose middleware asks the server's [`Authorizer`] whether the token has
//! it in the request's namespace. With ACLs disabled the authorizer is
//! [`AllowAll`]; the security work plugs real policies in behind the same
//! trait. A refusal is `403 Permission denied`.

/// A namespace capability, named as in Nomad's ACL policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// List jobs, look jobs up by prefix.
    ListJobs,
    /// Read a job and its evaluations, allocations, versions, runs.
    ReadJob,
    /// Register, update, plan, stop, evaluate jobs; manage schedules and runs.
    SubmitJob,
    /// Dispatch a parameterized job.
    DispatchJob,
    /// Read task logs.
    ReadLogs,
    /// Stop or restart allocations.
    AllocLifecycle,
}

impl Capability {
    /// The policy name (`dispatch-job`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::ListJobs => "list-jobs",
            Capability::ReadJob => "read-job",
            Capability::SubmitJob => "submit-job",
            Capability::DispatchJob => "dispatch-job",
            Capability::ReadLogs => "read-logs",
            Capability::AllocLifecycle => "alloc-lifecycle",
        }
    }
}

/// Decides whether a token may use a capability in a namespace.
pub trait Authorizer: Send + Sync {
    /// Whether `token` (empty = anonymous) has `capability` in `namespace`.
    fn allowed(&self, token: &str, namespace: &str, capability: Capability) -> bool;
}

/// ACLs disabled: everything is allowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn allowed(&self, _token: &str, _namespace: &str, _capability: Capability) -> bool {
        true
    }
}
