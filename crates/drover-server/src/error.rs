//! Errors of server operations; every one maps to an HTTP status.

use drover_state::StateError;

/// Why a server operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The request is wrong (400): the message says what and where.
    #[error("{0}")]
    BadRequest(String),
    /// Not allowed (403).
    #[error("Permission denied")]
    PermissionDenied,
    /// The object does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// A conditional write lost (409).
    #[error("{0}")]
    Conflict(String),
    /// Too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// Something broke inside; the detail is logged, not shown (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StateError> for ServerError {
    fn from(err: StateError) -> Self {
        match err {
            StateError::Conflict(msg) => ServerError::Conflict(msg),
            StateError::NotFound(msg) => ServerError::NotFound(msg),
            other => ServerError::Internal(other.to_string()),
        }
    }
}

impl ServerError {
    /// The HTTP status code.
    pub fn status_code(&self) -> u16 {
        match self {
            ServerError::BadRequest(_) => 400,
            ServerError::PermissionDenied => 403,
            ServerError::NotFound(_) => 404,
            ServerError::Conflict(_) => 409,
            ServerError::TooLarge(_) => 413,
            ServerError::Internal(_) => 500,
        }
    }
}
