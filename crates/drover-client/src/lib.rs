//! Drover's client agent: it fingerprints the machine, registers it as a node,
//! heartbeats, watches the allocations placed on it and runs them.
//!
//! [`start`] takes a [`ClientConfig`] and returns a [`ClientHandle`] once the
//! node is registered. Inside, one alloc runner per allocation
//! (`alloc_runner`) runs one task runner per task (`task_runner`), which drives
//! a [`driver::Driver`] (`raw_exec` through an executor process, `mock`
//! in-process). Restart decisions are a pure function ([`restart::decide`]);
//! the task environment ([`env`]) and `${...}` interpolation ([`interpolate`])
//! are pure too. Task states go to the servers in coalesced batches; what is
//! needed to re-attach after a client restart is kept on disk ([`state`]).
//!
//! Key decisions:
//! - raw_exec tasks run under the client's executor ([`executor_main`]: one
//!   long-lived process, the small `drover-executor` binary, or `drover
//!   executor` when only the one binary is installed) in its own session, so
//!   a client restart does not kill them; the exit status is a file the next
//!   client can read.
//! - A task start costs few file-system operations and no process but the
//!   task (the client's cost when it runs many short tasks): the client state
//!   is one append-only journal, the executor gets each spec over its socket,
//!   log files appear on first output.
//! - Nothing is started twice: persisted allocations are re-attached before the
//!   node registers, the watch loop only starts allocations it has no runner
//!   for, and a task whose start was never recorded (the client died right
//!   after it) is found by the status file its executor wrote in the task dir
//!   and re-attached.
//!
//! ```no_run
//! # async fn demo(config: drover_client::ClientConfig) -> Result<(), drover_client::ClientError> {
//! let client = drover_client::start(config).await?;
//! println!("node {} serves logs on {}", client.node_id, client.http_addr);
//! client.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(unreachable_pub)]

mod agent;
mod alloc_runner;
mod dir_pool;
pub mod driver;
pub mod env;
mod error;
pub mod executor;
pub mod fingerprint;
mod http;
pub mod interpolate;
pub mod logs;
pub mod node_identity;
mod reporter;
pub mod restart;
mod servers;
pub mod sim;
pub mod state;
mod task_runner;

pub use agent::{ClientConfig, ClientHandle, start};
pub use error::ClientError;
pub use executor::executor_main;
pub use task_runner::payload_path;
