//! The compiled triage engine and `classify`: facts from answers and narrative, then the first
//! matching incident type, then grade raises and qualifiers, each with its reasons.

use std::sync::Arc;

use arrayvec::ArrayVec;

use super::facts::{BuiltinIndex, FactSet, MAX_FACTS};
use super::model::{Class, Features, Model, Opinion, RulesView, choose};
use super::text::{Scanner, Scratch};
use crate::domain::{Agency, Contact, Grade, Question, Referral, Triage};

/// Whether an answer field is the contact's context (its channel, an online form's category)
/// rather than something a handler, a form or a machine recorded about the incident; an age read
/// from the narrative is not recorded either.
fn is_context(field: &str) -> bool {
    matches!(field, "channel" | "category" | super::facts::AGE)
}

/// The raises whose conditions hold on a contact's structured answers alone (what a handler or
/// a form recorded, or a machine message's fields), one bit each by their index (a rules file
/// has at most 64 raises).
pub(super) type HeldRaises = u64;

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

    /// The facts the condition cannot hold without, as far as the index needs: the first of
    /// its `all` facts, or else its `any` facts; `None` when it needs no fact at all.
    pub fn needs(&self) -> Option<FactSet> {
        match self.all.iter().next() {
            Some(f) => Some(FactSet::one(f)),
            None => (!self.any.is_empty()).then_some(self.any),
        }
    }

    /// The facts of `f` that satisfied this condition, in fact order.
    fn supporting(&self, f: &FactSet) -> impl Iterator<Item = usize> {
        f.and(&self.all.or(&self.any)).iter()
    }
}

pub struct TypeRule {
    pub code: Arc<str>,
    pub name: Arc<str>,
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

impl RaiseRule {
    /// `grade` after this raise (never less urgent).
    fn applied(&self, grade: Grade) -> Grade {
        match self.target {
            Raise::To(g) => grade.most_urgent(g),
            Raise::By(n) => (0..n).fold(grade, |g, _| g.raised()),
        }
    }
}

pub struct QualifierRule {
    pub name: Arc<str>,
    pub cond: Cond,
}

/// Where a fact came from, for the reasons.
#[derive(Clone, Copy, Debug)]
enum Evidence {
    Answer(&'static str),
    Phrase(usize),
    /// By the define of this number.
    Derived(usize),
}

/// The most rules with conditions (defines, types, raises and qualifiers together) a rules
/// file may have: a [`FactSet`] holds a set of them.
pub const MAX_RULES: usize = MAX_FACTS;

/// Which rules can hold given the facts known. Rules are numbered defines first, then types,
/// raises and qualifiers. Each rule is filed under the facts it cannot hold without (see
/// [`Cond::needs`]), so a contact's facts name the few rules worth checking; rules that need
/// no fact are always checked.
pub struct RuleIndex {
    by_fact: Vec<FactSet>,
    always: FactSet,
    /// Number of the first type, raise and qualifier.
    types: usize,
    raises: usize,
    qualifiers: usize,
}

/// The conditions of all the rules, in rule-number order.
fn rule_conds<'a>(
    defines: &'a [(usize, Cond)],
    types: &'a [TypeRule],
    raises: &'a [RaiseRule],
    qualifiers: &'a [QualifierRule],
) -> impl Iterator<Item = &'a Cond> {
    (defines.iter().map(|(_, c)| c))
        .chain(types.iter().map(|t| &t.cond))
        .chain(raises.iter().map(|r| &r.cond))
        .chain(qualifiers.iter().map(|q| &q.cond))
}

impl RuleIndex {
    /// Files the rules' conditions, over `facts` facts.
    pub fn new(
        facts: usize,
        defines: &[(usize, Cond)],
        types: &[TypeRule],
        raises: &[RaiseRule],
        qualifiers: &[QualifierRule],
    ) -> Self {
        let mut by_fact = vec![FactSet::default(); facts];
        let mut always = FactSet::default();
        for (rule, cond) in rule_conds(defines, types, raises, qualifiers).enumerate() {
            match cond.needs() {
                Some(needed) => needed.iter().for_each(|f| by_fact[f].insert(rule)),
                None => always.insert(rule),
            }
        }
        RuleIndex {
            by_fact,
            always,
            types: defines.len(),
            raises: defines.len() + types.len(),
            qualifiers: defines.len() + types.len() + raises.len(),
        }
    }
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
    pub(super) index: RuleIndex,
    /// The learned second opinion, when one is loaded with the rules.
    pub(super) model: Option<Attached>,
    /// FNV-1a of the rules source, to check a model against the rules it was trained beside.
    pub(super) rules_hash: String,
}

/// A model and how its classes map onto the rules' types.
pub(super) struct Attached {
    pub model: Model,
    /// The first type rule of each model class's code.
    pub rule_of_class: Vec<usize>,
    /// The agency of each model class.
    pub agency_of_class: Vec<Agency>,
}

/// What a classification knows so far: facts, the rules they make worth checking, and where
/// each fact came from.
struct Known<'e> {
    facts: FactSet,
    rules: FactSet,
    /// Where each fact came from, in the order they became known: at most one entry a fact,
    /// so never more than [`MAX_FACTS`]. `slot[fact]` is the fact's entry, for known facts.
    evidence: ArrayVec<Evidence, MAX_FACTS>,
    slot: [u8; MAX_FACTS],
    index: &'e RuleIndex,
}

impl Known<'_> {
    /// Records a fact, where it came from and the rules it makes worth checking, unless it is
    /// already known.
    ///
    /// Inlined: called, it receives its evidence through memory, and reading that back right
    /// after the caller wrote it stalls.
    #[inline(always)]
    fn assert(&mut self, fact: usize, from: Evidence) {
        if !self.facts.contains(fact) {
            self.facts.insert(fact);
            self.slot[fact] = self.evidence.len() as u8;
            self.evidence.push(from);
            self.rules = self.rules.or(&self.index.by_fact[fact]);
        }
    }

    /// Where a fact came from, if it is known.
    fn evidence(&self, fact: usize) -> Option<Evidence> {
        self.facts
            .contains(fact)
            .then(|| self.evidence[usize::from(self.slot[fact])])
    }

    /// Numbers of the rules worth checking in `range`, in order.
    fn rules(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = usize> {
        std::iter::successors(self.rules.first_from(range.start), |&r| {
            self.rules.first_from(r + 1)
        })
        .take_while(move |&r| r < range.end)
    }
}

thread_local! {
    /// Scratch buffers of `classify` (the text read, the automaton's states, phrases found),
    /// kept per thread so a classification does not allocate them afresh. Borrowed where they
    /// are, not moved out and back: moving them costs more than it seems.
    static SCRATCH: std::cell::RefCell<Scratch> = const { std::cell::RefCell::new(Scratch::new()) };
    /// The model's features of the contact being classified, kept per thread likewise.
    static FEATURES: std::cell::RefCell<Features> = std::cell::RefCell::new(Features::default());
}

/// A question the handler can be prompted to ask: the answer's field, how to put it, and the
/// answers worth trying.
struct Q {
    field: &'static str,
    text: &'static str,
    values: &'static [&'static str],
}

/// The questions, most useful first (the first wins a tie).
const QUESTIONS: &[Q] = &[
    Q {
        field: "trapped",
        text: "Is anyone trapped or unable to get out?",
        values: &[
            "NONE",
            "BUILDING",
            "VEHICLE",
            "WATER",
            "HEIGHT",
            "LOCKED_IN",
            "MACHINERY",
        ],
    },
    Q {
        field: "fire",
        text: "Can you see flames or smoke?",
        values: &["FLAMES", "SMOKE", "NONE"],
    },
    Q {
        field: "weapons",
        text: "Has anyone got a weapon, or threatened to use one?",
        values: &["NONE", "KNIFE", "FIREARM"],
    },
    Q {
        field: "happening",
        text: "Is it happening now?",
        values: &["IN_PROGRESS", "PAST"],
    },
    Q {
        field: "self_harm",
        text: "Has anyone said they will harm themselves, or started to?",
        values: &["NONE", "THREAT", "ATTEMPT_IN_PROGRESS"],
    },
    Q {
        field: "injuries",
        text: "Is anyone hurt, and how badly?",
        values: &["NONE", "SERIOUS", "LIFE_THREATENING"],
    },
    Q {
        field: "suspect",
        text: "Is the person responsible still there?",
        values: &["PRESENT", "LEFT"],
    },
    Q {
        field: "access",
        text: "Can anyone get to them, or is the door locked with no answer?",
        values: &["OK", "LOCKED_NO_ANSWER", "SOUNDS_OF_DISTRESS"],
    },
    Q {
        field: "building",
        text: "What kind of place is it: a home, a block of flats, a care home or hotel, a business, open land?",
        values: &[
            "DWELLING",
            "HIGH_RISE",
            "SLEEPING_RISK",
            "COMMERCIAL",
            "OPEN_LAND",
        ],
    },
    Q {
        field: "vulnerability",
        text: "Is anyone involved a child, elderly, disabled or otherwise vulnerable?",
        values: &["CHILD", "ELDERLY", "MENTAL_HEALTH"],
    },
    Q {
        field: "deliberate",
        text: "Was it done deliberately?",
        values: &["YES", "NO"],
    },
    Q {
        field: "hazards",
        text: "Are gas cylinders, chemicals, fuel or a suspicious item involved?",
        values: &["GAS", "CHEMICALS", "SUSPICIOUS_ITEM"],
    },
    Q {
        field: "road",
        text: "Is it on a road, and is the road blocked?",
        values: &["NONE", "ROAD_BLOCKED", "MOTORWAY_LIVE_LANE"],
    },
    Q {
        field: "alarm",
        text: "Has anyone seen a fire, or is it the alarm alone?",
        values: &["AFA_CONFIRMED", "AFA_UNCONFIRMED"],
    },
];

/// Below this confidence a rules-only decision needs confirming.
const WEAK_CONFIDENCE: f32 = 0.65;

/// Confidence given when only the catch-all type matched.
const CATCH_ALL_CONFIDENCE: f32 = 0.35;

impl Engine {
    /// Number of incident types.
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// The distinct incident type codes, in rules order.
    pub fn type_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = Vec::new();
        for t in &self.types {
            if !codes.iter().any(|c| **c == *t.code) {
                codes.push(t.code.to_string());
            }
        }
        codes
    }

    /// The first type rule of each of `codes`.
    pub(super) fn rules_of(&self, codes: &[String]) -> Result<Vec<usize>, String> {
        codes
            .iter()
            .map(|code| {
                self.types
                    .iter()
                    .position(|t| *t.code == **code)
                    .ok_or_else(|| format!("the model knows type {code}, which the rules do not"))
            })
            .collect()
    }

    /// The agency of each of these type codes (`UNSPECIFIED` for a code the rules lack).
    pub fn agencies_of(&self, codes: &[String]) -> Vec<Agency> {
        codes
            .iter()
            .map(|c| {
                self.types
                    .iter()
                    .find(|t| *t.code == **c)
                    .map_or(Agency::Unspecified, |t| t.agency)
            })
            .collect()
    }

    /// The names of a set of facts.
    pub(super) fn fact_names<'a>(&'a self, facts: &FactSet) -> impl Iterator<Item = &'a str> {
        facts.iter().map(|i| self.facts[i].as_str())
    }

    /// The model loaded with these rules, if any.
    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref().map(|m| &m.model)
    }

    /// Whether the model was trained beside exactly these rules.
    pub fn model_matches_rules(&self) -> bool {
        self.model
            .as_ref()
            .is_none_or(|m| m.model.header.training.rules_hash == self.rules_hash)
    }

    /// These rules with `model` as their second opinion. Every type the model knows must be a
    /// type of the rules.
    pub fn with_model(mut self, model: Model) -> Result<Engine, String> {
        let rule_of_class = self.rules_of(&model.header.types)?;
        let agency_of_class = self.agencies_of(&model.header.types);
        self.model = Some(Attached {
            model,
            rule_of_class,
            agency_of_class,
        });
        Ok(self)
    }

    /// Decides agency, grade and type for a contact, with reasons: the rules first, then the
    /// model's second opinion when one is loaded, and whether the decision needs confirming.
    /// Pure: no I/O, no clock.
    pub fn classify(&self, contact: &Contact) -> Triage {
        match &self.model {
            Some(m) => FEATURES.with_borrow_mut(|f| {
                let (mut t, held) = self.by_rules_with_features(contact, m.model.header.bits, f);
                let op = m.model.predict(f);
                self.second_opinion(m, &op, f, held, &mut t);
                t
            }),
            None => {
                let (mut t, _, _) = self.by_rules(contact);
                t.needs_confirmation = t.confidence < WEAK_CONFIDENCE;
                t
            }
        }
    }

    /// As [`Engine::classify`], and when the decision needs confirming, the question whose
    /// answer would most change it. Asking tries each unanswered question's answers in turn, a
    /// few dozen classifications: for a handler's preview while the caller is on the line, not
    /// for every submit.
    pub fn classify_and_ask(&self, contact: &Contact) -> Triage {
        let mut t = self.classify(contact);
        if t.needs_confirmation {
            t.next_question = self.next_question(contact, &t);
        }
        t
    }

    /// The unanswered question whose possible answers would change the decision most: each
    /// answer is tried in turn, and the question whose answers spread agency, grade and type
    /// widest wins (the first in [`QUESTIONS`] on a tie). `None` when no answer would change it.
    fn next_question(&self, contact: &Contact, t: &Triage) -> Option<Question> {
        let mut best: Option<(u32, &Q)> = None;
        let mut trial = contact.clone();
        for q in QUESTIONS {
            if !contact.answers.is_unknown(q.field) {
                continue;
            }
            let (mut lo, mut hi) = (t.grade.number(), t.grade.number());
            let (mut agencies, mut types) = (vec![t.agency], vec![t.incident_type.clone()]);
            for value in q.values {
                trial.answers.clone_from(&contact.answers);
                trial.answers.set(q.field, value);
                let d = self.classify(&trial);
                lo = lo.min(d.grade.number());
                hi = hi.max(d.grade.number());
                if !agencies.contains(&d.agency) {
                    agencies.push(d.agency);
                }
                if !types.contains(&d.incident_type) {
                    types.push(d.incident_type);
                }
            }
            let spread =
                2 * u32::from(hi - lo) + 2 * (agencies.len() as u32 - 1) + (types.len() as u32 - 1);
            if spread > best.map_or(0, |b| b.0) {
                best = Some((spread, q));
            }
        }
        best.map(|(_, q)| Question {
            field: q.field.to_owned(),
            text: q.text.to_owned(),
        })
    }

    /// The rules' decision alone, and the facts it rested on.
    pub(super) fn by_rules(&self, contact: &Contact) -> (Triage, FactSet, HeldRaises) {
        let index = &self.index;
        let mut known = Known {
            facts: FactSet::default(),
            rules: index.always,
            evidence: ArrayVec::new(),
            slot: [0; MAX_FACTS],
            index,
        };
        // The type's and raises' reasons come first, then notes of negated cues: the notes,
        // found first, go in now, and the others are inserted before them.
        let mut reasons: Vec<String> = Vec::with_capacity(8);

        // Whether anything was answered beyond the channel and the category: if not, no raise
        // can rest on answers, and none is looked at for it.
        let mut answered = false;
        self.builtin.assert_facts(contact, |f, field| {
            answered |= !is_context(field);
            known.assert(f, Evidence::Answer(field));
        });

        SCRATCH.with_borrow_mut(|scratch| {
            self.scanner
                .scan(&contact.narrative, scratch, |hit| match hit.negated_by {
                    None => {
                        known.assert(hit.fact, Evidence::Phrase(hit.phrase));
                    }
                    Some(neg) => {
                        let mut note = String::with_capacity(64);
                        note.push_str("not counted: \"");
                        note.push_str(self.scanner.phrase(hit.phrase));
                        note.push_str("\" negated by \"");
                        note.push_str(self.scanner.phrase(neg));
                        note.push('"');
                        reasons.push(note);
                    }
                })
        });
        let notes = reasons.len();

        // Defines in order; one can make a later one worth checking.
        let mut next = 0;
        while let Some(rule) = known.rules.first_from(next).filter(|&r| r < index.types) {
            let (fact, cond) = &self.defines[rule];
            if cond.holds(&known.facts) {
                known.assert(*fact, Evidence::Derived(rule));
            }
            next = rule + 1;
        }
        let facts = &known.facts;

        let (type_index, rule) = known
            .rules(index.types..index.raises)
            .map(|r| (r - index.types, &self.types[r - index.types]))
            .find(|(_, t)| t.cond.holds(facts))
            .expect("the last type has no conditions; compile() checks it");

        let mut first = String::with_capacity(200);
        first.push_str("type ");
        first.push_str(&rule.code);
        first.push_str(" (");
        first.push_str(&rule.name);
        first.push_str("): ");
        self.describe(&rule.cond, &known, &mut first);
        reasons.insert(reasons.len() - notes, first);

        let mut grade = rule.grade;
        let mut held: HeldRaises = 0;
        for r in known.rules(index.raises..index.qualifiers) {
            let i = r - index.raises;
            let r = &self.raises[i];
            if !r.cond.holds(facts) {
                continue;
            }
            if answered && self.holds_on_answers(&r.cond, &known, 0) {
                held |= 1 << i;
            }
            if !r.applies[type_index] {
                continue;
            }
            let target = r.applied(grade);
            if target != grade {
                let mut reason = format!(
                    "grade {} -> {} by {:?}: ",
                    grade.number(),
                    target.number(),
                    r.name
                );
                self.describe(&r.cond, &known, &mut reason);
                reasons.insert(reasons.len() - notes, reason);
                grade = target;
            }
        }

        let qualifiers = known
            .rules(index.qualifiers..usize::MAX)
            .map(|q| &self.qualifiers[q - index.qualifiers])
            .filter(|q| q.cond.holds(facts))
            .map(|q| q.name.clone())
            .collect();

        let t = Triage {
            agency: rule.agency,
            lead_agency: rule.lead,
            grade,
            incident_type: rule.code.clone(),
            incident_type_name: rule.name.clone(),
            qualifiers,
            referral: rule.referral,
            confidence: confidence(&rule.cond, &known),
            reasons,
            needs_confirmation: false,
            next_question: None,
        };
        (t, known.facts, held)
    }

    /// Whether `cond` holds on structured answers alone: each of its `all` facts, and one of
    /// its `any` facts, answered, or derived by a define that holds on answers alone. The
    /// channel and the online category are no answers here.
    fn holds_on_answers(&self, cond: &Cond, known: &Known, depth: usize) -> bool {
        let answered = |f: usize| match known.evidence(f) {
            Some(Evidence::Answer(field)) => !is_context(field),
            Some(Evidence::Derived(rule)) if depth < 4 => {
                self.holds_on_answers(&self.defines[rule].1, known, depth + 1)
            }
            _ => false,
        };
        // A condition with no facts to hold (only `none`) rests on nothing.
        !(cond.all.is_empty() && cond.any.is_empty())
            && cond.all.iter().all(answered)
            && (cond.any.is_empty() || cond.any.and(&known.facts).iter().any(answered))
    }

    /// The grade the raises that hold on answers (`held`) give type rule `rule` from `base`,
    /// and the name of the last raise that changed it: the rules' policy on urgency (a weapon,
    /// a suspect still there, a serious injury, as recorded) for a type the model took.
    pub(super) fn raised(
        &self,
        held: HeldRaises,
        rule: usize,
        base: Grade,
    ) -> (Grade, Option<&str>) {
        let (mut grade, mut by) = (base, None);
        let mut bits = held;
        while bits != 0 {
            let r = &self.raises[bits.trailing_zeros() as usize];
            bits &= bits - 1;
            if !r.applies[rule] {
                continue;
            }
            let target = r.applied(grade);
            if target != grade {
                (grade, by) = (target, Some(r.name.as_str()));
            }
        }
        (grade, by)
    }

    /// [`Engine::raised`]'s grade as [`choose`] asks for it: grades as numbers.
    pub(super) fn raised_number(&self, held: HeldRaises, rule: usize, base: u8) -> u8 {
        let base = Grade::from_number(base).unwrap_or(Grade::Resolution);
        self.raised(held, rule, base).0.number()
    }

    /// The rules' decision, with the model's features of the contact (`bits` of hash) taken
    /// beside it into `f`: what classification and training both start from.
    pub(super) fn by_rules_with_features(
        &self,
        contact: &Contact,
        bits: u32,
        f: &mut Features,
    ) -> (Triage, HeldRaises) {
        let (t, facts, held) = self.by_rules(contact);
        f.extract(bits, contact, self.fact_names(&facts), &t.incident_type);
        (t, held)
    }

    /// Combines the model's opinion into the rules' decision `t`, saying what it changed.
    fn second_opinion(
        &self,
        m: &Attached,
        op: &Opinion,
        f: &Features,
        held: HeldRaises,
        t: &mut Triage,
    ) {
        let view = RulesView::of(t, &m.model.header.types);
        let h = &m.model.header;
        let raised = |class: usize, base| self.raised_number(held, m.rule_of_class[class], base);
        let c = choose(
            &h.knobs,
            &view,
            op,
            &m.agency_of_class,
            &h.type_grades,
            raised,
        );
        if let Some(class) = c.take {
            let rule = &self.types[m.rule_of_class[class]];
            let words = m
                .model
                .weighed_most(f, Class::Type(class), 4)
                .join("\", \"");
            t.reasons.insert(
                0,
                format!(
                    "type {} ({}) by the model, {:.0}% likely, over the rules' {} at confidence {:.2}: weighed most \"{words}\"",
                    rule.code,
                    rule.name,
                    op.types[class] * 100.0,
                    t.incident_type,
                    t.confidence
                ),
            );
            t.agency = rule.agency;
            t.lead_agency = rule.lead;
            t.incident_type = rule.code.clone();
            t.incident_type_name = rule.name.clone();
            // A referral the rules named for a reason (fraud: Action Fraud) says more than
            // the model's "other".
            t.referral = match (rule.referral, t.referral) {
                (Some(Referral::Other), Some(named)) => Some(named),
                (taken, _) => taken,
            };
            t.grade = Grade::from_number(c.base_grade).unwrap_or(rule.grade);
        }
        if let (true, Some(class)) = (c.raised_by_rules, c.take) {
            let (g, by) = self.raised(held, m.rule_of_class[class], t.grade);
            t.reasons.insert(
                1.min(t.reasons.len()),
                format!(
                    "grade {} -> {} by {:?}, a rules' raise, for the model's type",
                    t.grade.number(),
                    g.number(),
                    by.unwrap_or("")
                ),
            );
            t.grade = g;
        }
        if c.grade != t.grade.number() {
            let (weighed, why) = if c.grade < t.grade.number() {
                let g12 = op.grades[0] + op.grades[1];
                (
                    Class::Grade(1),
                    format!(
                        "grade 1 {:.0}% likely, grade 1 or 2 {:.0}%",
                        op.grades[0] * 100.0,
                        g12 * 100.0
                    ),
                )
            } else {
                let less: f32 = op.grades[usize::from(t.grade.number())..].iter().sum();
                (
                    Class::Grade(c.grade),
                    format!("a less urgent grade {:.0}% likely", less * 100.0),
                )
            };
            let words = m.model.weighed_most(f, weighed, 4).join("\", \"");
            t.reasons.insert(
                1.min(t.reasons.len()),
                format!(
                    "grade {} -> {} by the model: {why}: weighed most \"{words}\"",
                    t.grade.number(),
                    c.grade
                ),
            );
            t.grade = Grade::from_number(c.grade).unwrap_or(t.grade);
        }
        t.confidence = c.confidence;
        t.needs_confirmation = c.needs_confirmation;
    }

    /// Appends what satisfied `cond` to `out`: "fire.flames [said "on fire"], building.dwelling
    /// [answer building]".
    fn describe(&self, cond: &Cond, known: &Known, out: &mut String) {
        let start = out.len();
        for f in cond.supporting(&known.facts) {
            if out.len() > start {
                out.push_str(", ");
            }
            self.describe_fact(f, known, 0, out);
        }
        if out.len() == start {
            out.push_str("no specific evidence; default for the contact");
        }
    }

    /// One fact and where it came from; a derived fact shows the facts that made it true.
    fn describe_fact(&self, f: usize, known: &Known, depth: usize, out: &mut String) {
        out.push_str(&self.facts[f]);
        match known.evidence(f) {
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
            Some(Evidence::Derived(rule)) if depth < 3 => {
                out.push_str(" (");
                for (i, g) in self.defines[rule].1.supporting(&known.facts).enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.describe_fact(g, known, depth + 1, out);
                }
                out.push(')');
            }
            _ => {}
        }
    }
}

/// How strongly the evidence supports the type: answers count fully, phrases a little less,
/// derived facts count through what derived them. The catch-all type is a guess.
fn confidence(cond: &Cond, known: &Known) -> f32 {
    if cond.is_always() {
        return CATCH_ALL_CONFIDENCE;
    }
    let weight: f32 = cond
        .supporting(&known.facts)
        .map(|f| match known.evidence(f) {
            Some(Evidence::Answer(_)) => 1.0,
            Some(Evidence::Phrase(_)) => 0.7,
            _ => 0.8,
        })
        .sum();
    (0.5 + 0.16 * weight).min(0.98)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Channel;
    use proptest::prelude::*;

    /// The shipped rules' decision alone (no model): agency, grade and type.
    fn by_rules(channel: Channel, narrative: &str) -> (Agency, u8, String) {
        let (agency, grade, code, _) = by_rules_why(channel, narrative);
        (agency, grade, code)
    }

    /// Asserts that the rules decide none of `narratives` (on `channel`) as type `code`.
    fn never_type(channel: Channel, code: &str, narratives: &[&str]) {
        for narrative in narratives {
            let (_, _, t) = by_rules(channel, narrative);
            assert_ne!(t, code, "{narrative}");
        }
    }

    #[test]
    fn a_raise_on_recorded_answers_holds_for_any_type_and_one_on_words_does_not() {
        let engine = Engine::default_rules();
        let held = |narrative: &str, answers: &[(&str, &str)]| {
            let mut contact = Contact {
                channel: Channel::Phone999,
                narrative: narrative.into(),
                ..Default::default()
            };
            for (field, value) in answers {
                assert!(contact.answers.set(field, value), "{field}={value}");
            }
            engine.by_rules(&contact).2
        };
        let robbery = engine.rules_of(&["P05".into()]).unwrap()[0];
        let raise = |held| engine.raised(held, robbery, Grade::Scheduled).0;
        // A knife the handler recorded makes a robbery grade 1, whatever type decided it.
        let recorded = held("he took the till money", &[("weapons", "KNIFE")]);
        assert_eq!(raise(recorded), Grade::Emergency);
        // A knife only in the words does not carry over to another type.
        let said = held("he took the till money, he had a knife", &[]);
        assert_eq!(raise(said), Grade::Scheduled);
    }

    /// As [`by_rules`], with the reasons.
    fn by_rules_why(channel: Channel, narrative: &str) -> (Agency, u8, String, String) {
        static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
        let engine = ENGINE.get_or_init(Engine::default_rules);
        let contact = Contact {
            channel,
            narrative: narrative.into(),
            ..Default::default()
        };
        let (t, _, _) = engine.by_rules(&contact);
        let why = t.reasons.join("; ");
        (t.agency, t.grade.number(), t.incident_type.to_string(), why)
    }

    #[test]
    fn what_is_heard_on_a_silent_calls_open_line_decides_its_grade() {
        let heard = by_rules(
            Channel::Phone999,
            "silent 999, line open, a man yelling and a woman sobbing, something thrown",
        );
        assert_eq!(heard, (Agency::Police, 1, "P27".into()));
        let nothing = by_rules(
            Channel::Phone999,
            "silent 999, line open, traffic noise only",
        );
        assert_eq!(nothing, (Agency::Police, 2, "P27".into()));
    }

    #[test]
    fn a_medicine_taken_in_an_excessive_amount_is_an_overdose() {
        let overdose = by_rules(
            Channel::Phone101,
            "my dad has swallowed a whole packet of his co-codamol, he's drowsy, I'm with him",
        );
        assert_eq!(overdose, (Agency::Police, 1, "P15".into()));
        // Medicines without an amount no one takes by mistake, or not taken, are not.
        for narrative in [
            "my nan has taken her tablets but seems confused, can someone check on her",
            "my dad had a fall, he's on a lot of tablets for his heart",
            "a shoplifter took boxes of paracetamol from Boots and ran off",
            "my partner took all his things and his tablets and left",
        ] {
            let (.., why) = by_rules_why(Channel::Phone101, narrative);
            assert!(!why.contains("overdose"), "{narrative}: {why}");
        }
    }

    #[test]
    fn a_threat_to_burn_with_fuel_at_hand_is_arson_now() {
        let threat = by_rules(
            Channel::OnlineForm,
            "he said he'll burn my house down and now he's pouring something from a petrol can \
             along my fence",
        );
        assert_eq!(threat, (Agency::Joint, 1, "J02".into()));
        // Fuel pouring out of a tank, or a torch in the dark, is no threat to burn.
        never_type(
            Channel::Phone999,
            "J02",
            &[
                "a lorry has split its tank and is pouring fuel across the roundabout",
                "a man with a torch the last half hour by the vans, think he's siphoning diesel",
            ],
        );
    }

    #[test]
    fn a_young_child_alone_and_a_person_among_traffic_are_at_risk_now() {
        let child = by_rules(
            Channel::Webchat,
            "the little lad from next door is at the window on his own crying, no car there",
        );
        assert_eq!(child, (Agency::Police, 1, "P12".into()));
        let (_, grade, _) = by_rules(
            Channel::Phone999,
            "a man shouting that people are after him is running in and out of the traffic",
        );
        assert_eq!(grade, 1);
        // Hours and adults are not young children alone.
        never_type(
            Channel::Phone101,
            "P12",
            &[
                "my husband went out about four hours ago and hasn't come home",
                "my ex won't leave me alone, keeps messaging about seeing our little girl",
            ],
        );
    }

    #[test]
    fn a_garden_fire_reaching_for_the_shed_is_an_emergency() {
        let (agency, grade, _) = by_rules(
            Channel::Phone999,
            "my garden fire has spread into the hedge and the flames are getting close to the shed",
        );
        assert_eq!((agency, grade), (Agency::Fire, 1));
    }

    #[test]
    fn power_lines_down_are_emergencies_and_phone_lines_are_not() {
        let cable = by_rules(
            Channel::Phone999,
            "the storm has brought the power line down outside the school, it's sparking",
        );
        assert_eq!(cable, (Agency::Fire, 1, "F16".into()));
        let (_, grade, t) = by_rules(
            Channel::Phone101,
            "the BT pole has snapped in the wind and the phone line is down across the lane",
        );
        assert!(t != "F16" || grade > 1, "{t} {grade}");
    }

    proptest! {
        /// Every rule that holds for a set of facts is among those the index names for it, so
        /// checking only those decides exactly as checking all would.
        #[test]
        fn the_index_names_every_rule_that_can_hold(
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
            seeds in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
            let engine = ENGINE.get_or_init(Engine::default_rules);
            let conds: Vec<&Cond> =
                rule_conds(&engine.defines, &engine.types, &engine.raises, &engine.qualifiers)
                    .collect();
            // Random facts, and the facts some rules need, so that rules do hold.
            let mut facts = FactSet::default();
            for p in &picks {
                facts.insert(p.index(engine.facts.len()));
            }
            for s in &seeds {
                let cond = conds[s.index(conds.len())];
                facts = facts.or(&cond.all);
                if let Some(f) = cond.any.iter().next() {
                    facts.insert(f);
                }
            }
            let index = &engine.index;
            let named = facts.iter().fold(index.always, |rules, f| rules.or(&index.by_fact[f]));
            for (rule, cond) in conds.iter().enumerate() {
                prop_assert!(!cond.holds(&facts) || named.contains(rule), "rule {rule} holds but is not named");
            }
        }
    }
}
