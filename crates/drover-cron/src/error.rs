//! The one error type of this crate.

use thiserror::Error;

/// Why a schedule's expression or time zone was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CronError {
    /// The expression does not parse; `reason` is croner's message (or ours for
    /// the field count and unknown macros).
    #[error("invalid cron expression {expression:?}: {reason}")]
    InvalidExpression {
        /// The expression as given.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The expression parses but matches no date, e.g. `0 0 31 2 *`.
    #[error("cron expression {expression:?} never fires")]
    NeverFires {
        /// The expression as given.
        expression: String,
    },
    /// The time zone is not in the IANA database.
    #[error("unknown time zone {name:?}: expected an IANA name such as America/New_York")]
    UnknownTimeZone {
        /// The name as given.
        name: String,
    },
}
