//! Drover's domain model: the objects every other crate talks about.
//!
//! A [`Job`] is what a user submits: one or more [`TaskGroup`]s, each a set of
//! [`Task`]s run together on one node. Every change that can alter placements
//! creates an [`Evaluation`]; the scheduler answers an evaluation with a plan of
//! [`Allocation`]s (one task group instance placed on one [`Node`]). Clients run
//! allocations and report [`TaskState`]s back.
//!
//! The types carry Nomad's JSON field names (`ID`, `TaskGroups`, `MemoryMB`, ...)
//! because they are both the storage format and the wire format of the
//! Nomad-compatible API: one set of names means one compatibility promise.
//! Durations are nanoseconds, times are Unix nanoseconds, as in Nomad's API.
//!
//! This crate does no I/O. Validation ([`Job::validate`]) and defaults
//! ([`Job::canonicalize`]) live here so every entry point (HCL, JSON, Metronome
//! JSON, the UI) gets the same rules.
//!
//! ```
//! use drover_types::{Job, JobType};
//! let mut job: Job = serde_json::from_str(
//!     r#"{"ID":"x","Type":"batch","TaskGroups":[{"Name":"g","Tasks":[
//!         {"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}"#,
//! ).unwrap();
//! job.canonicalize();
//! assert!(job.validate().is_ok());
//! assert_eq!(job.job_type, JobType::Batch);
//! assert_eq!(job.task_groups[0].count, 1);
//! ```

#![warn(unreachable_pub)]

mod alloc;
pub mod api;
mod ending;
mod eval;
mod ids;
mod job;
mod node;
mod run;
mod schedule;
mod time;
mod validate;

pub use alloc::*;
pub use ending::*;
pub use eval::*;
pub use ids::*;
pub use job::*;
pub use node::*;
pub use run::*;
pub use schedule::*;
pub use time::*;
pub use validate::*;
