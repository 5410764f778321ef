//! What bluelight decides about a contact: triage (who, how urgent, why) and route (which desks).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::names::named_enum;

named_enum! {
    /// Who attends.
    Agency, "agency" {
        Unspecified = 0 => "UNSPECIFIED",
        Police = 1 => "POLICE",
        Fire = 2 => "FIRE",
        /// Both attend; a lead agency is named.
        Joint = 3 => "JOINT",
        /// Neither attends: graded 4 and referred elsewhere.
        None = 4 => "NONE",
    }
}

named_enum! {
    /// UK National Call Handling Standards grade; 1 is the most urgent.
    Grade, "grade" {
        Unspecified = 0 => "UNSPECIFIED",
        Emergency = 1 => "1",
        Priority = 2 => "2",
        Scheduled = 3 => "3",
        Resolution = 4 => "4",
    }
}

named_enum! {
    /// Where a contact that neither service attends is sent.
    Referral, "referral" {
        Unspecified = 0 => "UNSPECIFIED",
        Ambulance = 1 => "AMBULANCE",
        Council = 2 => "COUNCIL",
        ActionFraud = 3 => "ACTION_FRAUD",
        Utility = 4 => "UTILITY",
        Other = 5 => "OTHER",
    }
}

impl Grade {
    /// The grade as its number, 1 (Emergency) to 4 (Resolution without deployment).
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The grade for a number 1..=4.
    pub const fn from_number(n: u8) -> Option<Grade> {
        match n {
            1 => Some(Grade::Emergency),
            2 => Some(Grade::Priority),
            3 => Some(Grade::Scheduled),
            4 => Some(Grade::Resolution),
            _ => None,
        }
    }

    /// One step more urgent, stopping at Emergency.
    pub const fn raised(self) -> Grade {
        match self {
            Grade::Resolution => Grade::Scheduled,
            Grade::Scheduled => Grade::Priority,
            _ => Grade::Emergency,
        }
    }

    /// The more urgent of two grades.
    pub fn most_urgent(self, other: Grade) -> Grade {
        if other.number() < self.number() {
            other
        } else {
            self
        }
    }

    /// Index 0..4 for per-grade tables.
    pub const fn index(self) -> usize {
        (self as usize).saturating_sub(1)
    }
}

/// The triage decision for one contact, with its reasons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    pub agency: Agency,
    /// POLICE or FIRE; for a single-agency incident, that agency; NONE for referrals.
    pub lead_agency: Agency,
    pub grade: Grade,
    /// Code and name of the incident type, and the qualifiers: shared with the rules that
    /// name them, so a decision does not copy them.
    pub incident_type: Arc<str>,
    pub incident_type_name: Arc<str>,
    pub qualifiers: Vec<Arc<str>>,
    pub referral: Option<Referral>,
    pub confidence: f32,
    pub reasons: Vec<String>,
    /// The evidence is weak, or the rules and the model disagree: the handler should confirm
    /// before relying on the decision.
    #[serde(default)]
    pub needs_confirmation: bool,
    /// The question whose answer would most change the decision, when it needs confirmation.
    #[serde(default)]
    pub next_question: Option<Question>,
}

/// A question for the handler to ask: a structured answer's field and how to put it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The answer's field, as in `Answers` (`trapped`, `fire`, `weapons`, ...).
    pub field: String,
    pub text: String,
}

/// Which desks must act on an incident and why, by name (the form stored and shown).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub area: String,
    pub desks: Vec<String>,
    pub reasons: Vec<String>,
}
