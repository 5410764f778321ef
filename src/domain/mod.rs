//! Plain data of the contact centre: contacts, answers, decisions, incidents. No proto, Redis or
//! I/O types in here; conversions live at the edges.

pub(crate) mod names;

mod contact;
mod decision;
mod incident;
mod message;
mod validation;

pub use contact::*;
pub use decision::*;
pub use incident::*;
pub use message::{public_message, spoken_reference};
pub use names::UnknownName;
pub use validation::{FieldViolation, Violations};
