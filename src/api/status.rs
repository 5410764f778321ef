//! The one mapping from the service's [`Error`] to a gRPC [`Status`].

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::Invalid(v) => {
                let mut details = ErrorDetails::new();
                for f in &v.0 {
                    details.add_bad_request_violation(f.field.clone(), f.description.clone());
                }
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid request: {v}"),
                    details,
                )
            }
            Error::NotFound(m) => Status::not_found(m),
            Error::StaleLease(m) | Error::Conflict(m) => Status::failed_precondition(m),
            Error::Unavailable(m) => Status::unavailable(format!(
                "redis unavailable, nothing was written; retrying with the same contact_id is safe ({m})"
            )),
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::PermissionDenied(m) => Status::permission_denied(m),
            Error::Exhausted { why, retry_after } => Status::with_error_details(
                Code::ResourceExhausted,
                why,
                ErrorDetails::with_retry_info(Some(retry_after)),
            ),
            Error::Config(m) => Status::failed_precondition(m),
            Error::Internal(m) => Status::internal(m),
        }
    }
}

impl From<crate::domain::Violations> for Status {
    fn from(v: crate::domain::Violations) -> Status {
        Error::from(v).into()
    }
}
