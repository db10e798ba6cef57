//! Errors from API calls.

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Nothing answered at the address (server not running, wrong port).
    #[error("error connecting to {address}: {message}")]
    Connect {
        /// The address tried.
        address: String,
        /// The transport's message.
        message: String,
    },
    /// The server answered with an error status.
    #[error("unexpected response code {status}: {message}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The server's message (the body).
        message: String,
    },
    /// The reply did not decode.
    #[error("error decoding response from {path}: {message}")]
    Decode {
        /// The request path.
        path: String,
        /// The decoder's message.
        message: String,
    },
    /// The client could not be set up (bad address, unreadable certificate).
    #[error("{0}")]
    Config(String),
}

impl ApiError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}
