//! Evaluation against a labelled corpus: agency and grade accuracy, the agency confusion matrix,
//! and the rates that matter for safety: under-triage (gold grade 1 given a lower grade) and
//! over-triage (graded more urgent than gold).

use std::fmt;

use super::Engine;
use crate::domain::{Agency, Answers, Channel, Contact, Grade, Triage};

/// The gold label of one contact.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Gold {
    pub agency: Agency,
    pub grade: u8,
    pub incident_type: String,
}

/// One contact that triage got wrong in some way.
#[derive(Clone, Debug)]
pub struct Miss {
    pub id: String,
    pub gold: Gold,
    pub agency: Agency,
    pub grade: u8,
    pub incident_type: String,
    pub narrative: String,
}

/// "id: gold agency grade type -> decided agency grade type".
impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {} {} -> {} {} {}",
            self.id,
            self.gold.agency,
            self.gold.grade,
            self.gold.incident_type,
            self.agency,
            self.grade,
            self.incident_type
        )
    }
}

/// One labelled contact: what was received, the gold label, and (when the writer gave it) the
/// true answer to every question, as the caller would have answered it.
#[derive(Clone, Debug)]
pub struct Labelled {
    pub id: String,
    pub contact: Contact,
    pub gold: Gold,
    pub truth: Option<Answers>,
}

/// Counts over some contacts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub total: usize,
    pub agency_correct: usize,
    pub grade_correct: usize,
    pub type_correct: usize,
    pub gold_grade1: usize,
    pub under_triaged_grade1: usize,
    pub over_triaged: usize,
}

impl Tally {
    pub fn agency_accuracy(&self) -> f64 {
        ratio(self.agency_correct, self.total)
    }
    pub fn grade_accuracy(&self) -> f64 {
        ratio(self.grade_correct, self.total)
    }
    pub fn type_accuracy(&self) -> f64 {
        ratio(self.type_correct, self.total)
    }
    /// Of the contacts whose gold grade is 1, the share given a lower grade.
    pub fn under_triage(&self) -> f64 {
        ratio(self.under_triaged_grade1, self.gold_grade1)
    }
    /// Of all contacts, the share graded more urgent than gold.
    pub fn over_triage(&self) -> f64 {
        ratio(self.over_triaged, self.total)
    }

    fn add(&mut self, gold: &Gold, t: &Triage) {
        let grade = t.grade.number();
        self.total += 1;
        self.agency_correct += usize::from(t.agency == gold.agency);
        self.grade_correct += usize::from(grade == gold.grade);
        self.type_correct += usize::from(*t.incident_type == *gold.incident_type);
        if gold.grade == Grade::Emergency.number() {
            self.gold_grade1 += 1;
            self.under_triaged_grade1 += usize::from(grade > 1);
        }
        self.over_triaged += usize::from(grade < gold.grade);
    }
}

/// The figures of a corpus run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub all: Tally,
    /// By gold agency, in [`AGENCIES`] order.
    pub by_agency: [Tally; 4],
    /// By channel, in channel order; channels with no contact are left out.
    pub by_channel: Vec<(Channel, Tally)>,
    /// `confusion[gold][decided]`, agencies in [`AGENCIES`] order.
    pub confusion: [[usize; 4]; 4],
    /// Decisions flagged as needing confirmation, and how many of those were wrong.
    pub flagged: usize,
    pub flagged_wrong: usize,
    /// Wrong decisions, how many named a question the truth answers, and how many of those
    /// the true answer turned right (agency and grade).
    pub wrong: usize,
    pub asked: usize,
    pub fixed_by_answer: usize,
    pub misses: Vec<Miss>,
}

/// Row and column order of the confusion matrix.
pub const AGENCIES: [Agency; 4] = [Agency::Police, Agency::Fire, Agency::Joint, Agency::None];

fn index(a: Agency) -> usize {
    AGENCIES.iter().position(|x| *x == a).unwrap_or(3)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Classifies every labelled contact and tallies the figures. A wrong decision that names a
/// next question is classified again with the true answer to it, when the truth gives one.
pub fn evaluate<'a>(engine: &Engine, cases: impl IntoIterator<Item = &'a Labelled>) -> Report {
    let mut r = Report::default();
    for case in cases {
        let (contact, gold) = (&case.contact, &case.gold);
        let t = engine.classify_and_ask(contact);
        r.all.add(gold, &t);
        r.by_agency[index(gold.agency)].add(gold, &t);
        match r.by_channel.iter_mut().find(|(c, _)| *c == contact.channel) {
            Some((_, tally)) => tally.add(gold, &t),
            None => {
                let mut tally = Tally::default();
                tally.add(gold, &t);
                r.by_channel.push((contact.channel, tally));
            }
        }
        r.confusion[index(gold.agency)][index(t.agency)] += 1;
        let right = t.agency == gold.agency && t.grade.number() == gold.grade;
        r.flagged += usize::from(t.needs_confirmation);
        r.flagged_wrong += usize::from(t.needs_confirmation && !right);
        if !right {
            r.wrong += 1;
            if let (Some(q), Some(truth)) = (&t.next_question, &case.truth) {
                let mut answered = contact.clone();
                if answered.answers.take_field(truth, &q.field) {
                    r.asked += 1;
                    let again = engine.classify(&answered);
                    r.fixed_by_answer += usize::from(
                        again.agency == gold.agency && again.grade.number() == gold.grade,
                    );
                }
            }
        }
        if !(right && *t.incident_type == *gold.incident_type) {
            r.misses.push(Miss {
                id: case.id.clone(),
                gold: gold.clone(),
                agency: t.agency,
                grade: t.grade.number(),
                incident_type: t.incident_type.to_string(),
                narrative: contact.narrative.clone(),
            });
        }
    }
    r.by_channel.sort_by_key(|(c, _)| c.code());
    r
}

impl Report {
    pub fn agency_accuracy(&self) -> f64 {
        self.all.agency_accuracy()
    }
    pub fn grade_accuracy(&self) -> f64 {
        self.all.grade_accuracy()
    }
    pub fn under_triage(&self) -> f64 {
        self.all.under_triage()
    }
    pub fn over_triage(&self) -> f64 {
        self.all.over_triage()
    }
}

/// One row of the figures table.
fn row(f: &mut fmt::Formatter<'_>, name: &str, t: &Tally) -> fmt::Result {
    let pct = |x: f64| x * 100.0;
    writeln!(
        f,
        "{name:<24}{:>6}{:>9.1}%{:>9.1}%{:>9.1}%{:>8.1}% ({}/{}){:>8.1}%",
        t.total,
        pct(t.agency_accuracy()),
        pct(t.grade_accuracy()),
        pct(t.type_accuracy()),
        pct(t.under_triage()),
        t.under_triaged_grade1,
        t.gold_grade1,
        pct(t.over_triage()),
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<24}{:>6}{:>10}{:>10}{:>10}{:>18}{:>9}",
            "", "n", "agency", "grade", "type", "G1 under-triage", "over"
        )?;
        row(f, "all", &self.all)?;
        for (i, t) in self.by_agency.iter().enumerate() {
            if t.total > 0 {
                row(f, &format!("gold {}", AGENCIES[i].as_str()), t)?;
            }
        }
        for (c, t) in &self.by_channel {
            row(f, &format!("channel {}", c.as_str()), t)?;
        }
        writeln!(
            f,
            "\nneeds confirmation      {} of {} decisions, {} of them wrong",
            self.flagged, self.all.total, self.flagged_wrong
        )?;
        writeln!(
            f,
            "next question           {} of {} wrong decisions asked a question the truth answers; the answer put {} right",
            self.asked, self.wrong, self.fixed_by_answer
        )?;
        writeln!(f, "\nagency confusion (rows gold, columns decided)")?;
        write!(f, "{:>8}", "")?;
        for a in AGENCIES {
            write!(f, "{:>8}", a.as_str())?;
        }
        writeln!(f)?;
        for (i, row) in self.confusion.iter().enumerate() {
            write!(f, "{:>8}", AGENCIES[i].as_str())?;
            for n in row {
                write!(f, "{n:>8}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
