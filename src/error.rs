//! The one error type of the service. `api::status` maps it to a gRPC status in one place.

use crate::domain::Violations;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is wrong; nothing was changed.
    #[error("invalid request: {0}")]
    Invalid(#[from] Violations),
    /// No such incident, desk or task.
    #[error("{0}")]
    NotFound(String),
    /// A lease token that is no longer current: someone else holds the task, or it was requeued.
    #[error("{0}")]
    StaleLease(String),
    /// The request conflicts with the incident's state: for example a claim on a task someone
    /// else already holds.
    #[error("{0}")]
    Conflict(String),
    /// Redis could not be reached or did not answer in time; nothing was half-written, and a
    /// retry of the same request is safe.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// No identity, or one that cannot be verified (a bad, expired or foreign token).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's roles do not allow the request; says which role would.
    #[error("{0}")]
    PermissionDenied(String),
    /// Over a rate limit, or shed under load: try again after `retry_after`.
    #[error("{why}")]
    Exhausted {
        why: String,
        retry_after: std::time::Duration,
    },
    /// A configuration, rules or desks file that cannot be used.
    #[error("{0}")]
    Config(String),
    /// A bug or an unexpected answer from Redis.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
