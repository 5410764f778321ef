//! Evaluation against a labelled corpus: agency and grade accuracy, the agency confusion matrix,
//! and the rates that matter for safety: under-triage (gold grade 1 given a lower grade) and
//! over-triage (graded more urgent than gold).

use std::fmt;

use super::Engine;
use crate::domain::{Agency, Contact, Grade};

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

/// The figures of a corpus run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub total: usize,
    pub agency_correct: usize,
    pub grade_correct: usize,
    pub type_correct: usize,
    pub gold_grade1: usize,
    pub under_triaged_grade1: usize,
    pub over_triaged: usize,
    /// `confusion[gold][decided]`, agencies in [`AGENCIES`] order.
    pub confusion: [[usize; 4]; 4],
    pub misses: Vec<Miss>,
}

/// Row and column order of the confusion matrix.
pub const AGENCIES: [Agency; 4] = [Agency::Police, Agency::Fire, Agency::Joint, Agency::None];

fn index(a: Agency) -> usize {
    AGENCIES.iter().position(|x| *x == a).unwrap_or(3)
}

impl Report {
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
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Classifies every (id, contact, gold) and tallies the figures.
pub fn evaluate<'a>(
    engine: &Engine,
    cases: impl IntoIterator<Item = (&'a str, &'a Contact, &'a Gold)>,
) -> Report {
    let mut r = Report::default();
    for (id, contact, gold) in cases {
        let t = engine.classify(contact);
        let grade = t.grade.number();
        r.total += 1;
        r.confusion[index(gold.agency)][index(t.agency)] += 1;
        let agency_ok = t.agency == gold.agency;
        let grade_ok = grade == gold.grade;
        let type_ok = *t.incident_type == *gold.incident_type;
        r.agency_correct += usize::from(agency_ok);
        r.grade_correct += usize::from(grade_ok);
        r.type_correct += usize::from(type_ok);
        if gold.grade == Grade::Emergency.number() {
            r.gold_grade1 += 1;
            r.under_triaged_grade1 += usize::from(grade > 1);
        }
        r.over_triaged += usize::from(grade < gold.grade);
        if !(agency_ok && grade_ok && type_ok) {
            r.misses.push(Miss {
                id: id.to_owned(),
                gold: gold.clone(),
                agency: t.agency,
                grade,
                incident_type: t.incident_type.to_string(),
                narrative: contact.narrative.clone(),
            });
        }
    }
    r
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |x: f64| x * 100.0;
        writeln!(f, "contacts            {}", self.total)?;
        writeln!(
            f,
            "agency accuracy     {:.1}%  ({}/{})",
            pct(self.agency_accuracy()),
            self.agency_correct,
            self.total
        )?;
        writeln!(
            f,
            "exact grade         {:.1}%  ({}/{})",
            pct(self.grade_accuracy()),
            self.grade_correct,
            self.total
        )?;
        writeln!(
            f,
            "incident type       {:.1}%  ({}/{})",
            pct(self.type_accuracy()),
            self.type_correct,
            self.total
        )?;
        writeln!(
            f,
            "grade-1 under-triage {:.1}%  ({} of {} gold grade 1 given a lower grade)",
            pct(self.under_triage()),
            self.under_triaged_grade1,
            self.gold_grade1
        )?;
        writeln!(
            f,
            "over-triage         {:.1}%  ({} graded more urgent than gold)",
            pct(self.over_triage()),
            self.over_triaged
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
