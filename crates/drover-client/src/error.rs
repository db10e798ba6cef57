//! The client's error type: one enum for everything the agent can fail at.

use std::path::PathBuf;

/// Why the client agent (or one of its parts) failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A file or directory could not be read or written.
    #[error("error accessing {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A state or spec file did not decode.
    #[error("error decoding {path}: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// The configuration is unusable (no servers, bad address).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// No server accepted the node registration.
    #[error("error registering node: {0}")]
    Register(String),
    /// The client's HTTP listener could not be bound.
    #[error("error binding client HTTP listener on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl ClientError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ClientError {
        ClientError::Io { path: path.into(), source }
    }
}
