//! The compiled triage engine and `classify`: facts from answers and narrative, then the first
//! matching incident type, then grade raises and qualifiers, each with its reasons.

use super::facts::{BuiltinIndex, FactSet};
use super::text::{Scanner, Scratch};
use crate::domain::{Agency, Contact, Grade, Referral, Triage};

/// A condition over facts: all of `all`, at least one of `any` (when not empty), none of `none`.
#[derive(Clone, Debug, Default)]
pub struct Cond {
    pub all: FactSet,
    pub any: FactSet,
    pub none: FactSet,
}

impl Cond {
    pub fn holds(&self, f: &FactSet) -> bool {
        // `&` rather than `&&`: evaluating all three is cheaper than branching between them.
        f.contains_all(&self.all)
            & (self.any.is_empty() | f.intersects(&self.any))
            & !f.intersects(&self.none)
    }

    /// True for a condition with no terms, which every contact meets.
    pub fn is_always(&self) -> bool {
        self.all.is_empty() && self.any.is_empty() && self.none.is_empty()
    }

    /// The facts of `f` that satisfied this condition, in fact order.
    fn supporting(&self, f: &FactSet) -> impl Iterator<Item = usize> {
        f.and(&self.all.or(&self.any)).iter()
    }
}

pub struct TypeRule {
    pub code: String,
    pub name: String,
    pub agency: Agency,
    pub lead: Agency,
    pub grade: Grade,
    pub referral: Option<Referral>,
    pub cond: Cond,
}

#[derive(Clone, Copy, Debug)]
pub enum Raise {
    To(Grade),
    By(u8),
}

pub struct RaiseRule {
    pub name: String,
    pub cond: Cond,
    pub target: Raise,
    /// Whether the raise applies to each incident type, by index.
    pub applies: Vec<bool>,
}

pub struct QualifierRule {
    pub name: String,
    pub cond: Cond,
}

/// Where a fact came from, for the reasons.
#[derive(Clone, Copy, Debug)]
enum Evidence {
    Answer(&'static str),
    Phrase(usize),
    Derived,
}

/// Compiled rules. Immutable; reloads build a new one and swap it in whole.
pub struct Engine {
    pub(super) facts: Vec<String>,
    pub(super) builtin: BuiltinIndex,
    pub(crate) scanner: Scanner,
    pub(super) defines: Vec<(usize, Cond)>,
    pub(super) types: Vec<TypeRule>,
    pub(super) raises: Vec<RaiseRule>,
    pub(super) qualifiers: Vec<QualifierRule>,
}

thread_local! {
    /// Scratch buffers of `classify` (normalised text when not ASCII, phrases found), kept per thread so a
    /// classification does not allocate them afresh.
    static SCRATCH: std::cell::Cell<Scratch> = const { std::cell::Cell::new(Scratch::new()) };
}

/// Confidence given when only the catch-all type matched.
const CATCH_ALL_CONFIDENCE: f32 = 0.35;

impl Engine {
    /// Number of incident types.
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// Decides agency, grade and type for a contact, with reasons. Pure: no I/O, no clock.
    pub fn classify(&self, contact: &Contact) -> Triage {
        let mut facts = FactSet::default();
        let mut evidence: Vec<(usize, Evidence)> = Vec::with_capacity(16);
        let mut notes: Vec<String> = Vec::new();

        self.builtin.assert_facts(contact, |f, field| {
            if !facts.contains(f) {
                facts.insert(f);
                evidence.push((f, Evidence::Answer(field)));
            }
        });

        let mut scratch = SCRATCH.take();
        self.scanner.scan(&contact.narrative, &mut scratch, |hit| {
            match hit.negated_by {
                None => {
                    if !facts.contains(hit.fact) {
                        facts.insert(hit.fact);
                        evidence.push((hit.fact, Evidence::Phrase(hit.phrase)));
                    }
                }
                Some(neg) => notes.push(format!(
                    "not counted: {:?} negated by {:?}",
                    self.scanner.phrase(hit.phrase),
                    self.scanner.phrase(neg)
                )),
            }
        });

        SCRATCH.set(scratch);

        for (fact, cond) in &self.defines {
            if !facts.contains(*fact) && cond.holds(&facts) {
                facts.insert(*fact);
                evidence.push((*fact, Evidence::Derived));
            }
        }

        let (index, rule) = self
            .types
            .iter()
            .enumerate()
            .find(|(_, t)| t.cond.holds(&facts))
            .expect("the last type has no conditions; compile() checks it");

        let mut reasons = Vec::with_capacity(4 + notes.len());
        let mut first = String::with_capacity(200);
        first.push_str("type ");
        first.push_str(&rule.code);
        first.push_str(" (");
        first.push_str(&rule.name);
        first.push_str("): ");
        first.push_str(&self.describe(&rule.cond, &facts, &evidence));
        reasons.push(first);

        let mut grade = rule.grade;
        for r in &self.raises {
            if !r.applies[index] || !r.cond.holds(&facts) {
                continue;
            }
            let target = match r.target {
                Raise::To(g) => grade.most_urgent(g),
                Raise::By(n) => (0..n).fold(grade, |g, _| g.raised()),
            };
            if target != grade {
                reasons.push(format!(
                    "grade {} -> {} by {:?}: {}",
                    grade.number(),
                    target.number(),
                    r.name,
                    self.describe(&r.cond, &facts, &evidence)
                ));
                grade = target;
            }
        }

        let qualifiers = self
            .qualifiers
            .iter()
            .filter(|q| q.cond.holds(&facts))
            .map(|q| q.name.clone())
            .collect();

        reasons.extend(notes);
        Triage {
            agency: rule.agency,
            lead_agency: rule.lead,
            grade,
            incident_type: rule.code.clone(),
            incident_type_name: rule.name.clone(),
            qualifiers,
            referral: rule.referral,
            confidence: confidence(&rule.cond, &facts, &evidence),
            reasons,
        }
    }

    /// "fire.flames [said "on fire"], building.dwelling [answer building]"
    fn describe(&self, cond: &Cond, facts: &FactSet, evidence: &[(usize, Evidence)]) -> String {
        let mut out = String::with_capacity(160);
        for f in cond.supporting(facts) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            self.describe_fact(f, facts, evidence, 0, &mut out);
        }
        if out.is_empty() {
            out.push_str("no specific evidence; default for the contact");
        }
        out
    }

    /// One fact and where it came from; a derived fact shows the facts that made it true.
    fn describe_fact(
        &self,
        f: usize,
        facts: &FactSet,
        evidence: &[(usize, Evidence)],
        depth: usize,
        out: &mut String,
    ) {
        out.push_str(&self.facts[f]);
        match evidence.iter().find(|(e, _)| *e == f).map(|(_, e)| *e) {
            Some(Evidence::Answer(field)) => {
                out.push_str(" [answer ");
                out.push_str(field);
                out.push(']');
            }
            // Phrases are normalised: lower-case letters, digits and single spaces, nothing to
            // escape.
            Some(Evidence::Phrase(p)) => {
                out.push_str(" [said \"");
                out.push_str(self.scanner.phrase(p));
                out.push_str("\"]");
            }
            Some(Evidence::Derived) if depth < 3 => {
                if let Some((_, cond)) = self.defines.iter().find(|(d, _)| *d == f) {
                    out.push_str(" (");
                    for (i, g) in cond.supporting(facts).enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        self.describe_fact(g, facts, evidence, depth + 1, out);
                    }
                    out.push(')');
                }
            }
            _ => {}
        }
    }
}

/// How strongly the evidence supports the type: answers count fully, phrases a little less,
/// derived facts count through what derived them. The catch-all type is a guess.
fn confidence(cond: &Cond, facts: &FactSet, evidence: &[(usize, Evidence)]) -> f32 {
    if cond.is_always() {
        return CATCH_ALL_CONFIDENCE;
    }
    let weight: f32 = cond
        .supporting(facts)
        .map(
            |f| match evidence.iter().find(|(e, _)| *e == f).map(|(_, e)| *e) {
                Some(Evidence::Answer(_)) => 1.0,
                Some(Evidence::Phrase(_)) => 0.7,
                _ => 0.8,
            },
        )
        .sum();
    (0.5 + 0.16 * weight).min(0.98)
}
