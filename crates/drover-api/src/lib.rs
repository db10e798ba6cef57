//! A typed HTTP client for Drover's API, used by the CLI and the client agent
//! (its simulated clients too).
//!
//! [`Client`] wraps one server address plus the general options every request
//! carries (token, namespace, region, TLS). Each endpoint is one method
//! returning the wire types of [`drover_types::api`] or domain objects. Errors
//! are [`ApiError`]: a connection failure (the server is not running), an HTTP
//! status with the server's message, or a reply that does not decode.
//!
//! ```no_run
//! # async fn demo() -> Result<(), drover_api::ApiError> {
//! let client = drover_api::Client::new(drover_api::ClientConfig::default())?;
//! let jobs = client.jobs_list("").await?;
//! # let _ = jobs; Ok(()) }
//! ```

#![warn(unreachable_pub)]

mod client;
mod endpoints;
mod error;

pub use client::{Client, ClientConfig, QueryMeta};
pub use drover_types::api::{AllocOutcome, AllocStopResponse, JobOutcome, JobVersionsResponse, QueuedDispatch};
pub use endpoints::{LogType, LogsRequest};
pub use error::ApiError;
