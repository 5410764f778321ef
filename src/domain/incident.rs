//! An incident: the thing that happened, with every contact about it and each desk's task.

use serde::{Deserialize, Serialize};

use super::contact::{Caller, Channel, Location};
use super::decision::{Route, Triage};
use super::names::named_enum;

named_enum! {
    /// Where an incident, or one desk's task on it, stands.
    IncidentState, "incident state" {
        Unspecified = 0 => "UNSPECIFIED",
        Queued = 1 => "QUEUED",
        Claimed = 2 => "CLAIMED",
        Completed = 3 => "COMPLETED",
    }
}

/// One desk's part in an incident. A JOINT incident has a task on a police and a fire desk,
/// each worked and completed by that desk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskTask {
    pub desk: String,
    pub state: IncidentState,
    pub dispatcher: String,
    pub lease_expires_at_ms: i64,
    pub outcome: String,
}

/// What the desks see of an incident, caller details included so they can call back.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub reference: String,
    pub triage: Triage,
    pub route: Route,
    pub channel: Channel,
    pub location: Location,
    pub caller: Caller,
    pub contact_ids: Vec<String>,
    /// The authenticated identities whose contacts made or joined the incident (a portal may
    /// read only these); empty when the service runs open.
    pub submitted_by: Vec<String>,
    pub tasks: Vec<DeskTask>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Incident {
    /// Queued while any desk still waits for it, completed when every desk has finished,
    /// claimed otherwise.
    pub fn state(&self) -> IncidentState {
        if self.tasks.iter().any(|t| t.state == IncidentState::Queued) {
            IncidentState::Queued
        } else if self
            .tasks
            .iter()
            .all(|t| t.state == IncidentState::Completed)
        {
            IncidentState::Completed
        } else {
            IncidentState::Claimed
        }
    }
}

/// A dispatcher's hold on one desk task; `token` fences out anyone holding an older lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub reference: String,
    pub desk: String,
    pub dispatcher: String,
    pub token: u64,
    pub expires_at_ms: i64,
}

/// One line of a desk's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub reference: String,
    pub grade: crate::domain::Grade,
    pub incident_type: String,
    pub agency: crate::domain::Agency,
    pub queued_at_ms: i64,
    pub wait_ms: i64,
}

/// Depth and oldest wait of one desk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskStats {
    pub desk: String,
    pub open: bool,
    pub depth: u64,
    pub oldest_wait_ms: i64,
}

/// What is stored of an incident besides its state: the first contact's decision and details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentBody {
    pub triage: Triage,
    pub route: Route,
    pub channel: Channel,
    pub location: Location,
    pub caller: Caller,
}

/// Something that happened on a desk, from its event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskEvent {
    /// Stream id, for resuming.
    pub id: String,
    pub kind: String,
    pub reference: String,
    pub at_ms: i64,
    pub details: Vec<(String, String)>,
}

/// What became of a submitted contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new incident was opened and queued.
    New,
    /// The contact id had been submitted before; nothing was written.
    Replayed,
    /// The contact repeats an open incident and was recorded on it.
    Linked,
}
