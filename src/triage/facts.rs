//! Facts: the named, yes-or-no things triage knows about a contact. Answers, the channel, the
//! online category and narrative phrases all assert facts; rules are written against facts.

use crate::domain::Contact;

/// The most facts a rules file may name.
pub const MAX_FACTS: usize = 256;

/// A set of facts, by index into the engine's fact table. The engine also keeps sets of rules
/// in it, by rule number (see `RuleIndex`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FactSet([u64; MAX_FACTS / 64]);

impl FactSet {
    /// The set of just `fact`.
    pub fn one(fact: usize) -> FactSet {
        let mut set = FactSet::default();
        set.insert(fact);
        set
    }

    pub fn insert(&mut self, fact: usize) {
        self.0[fact / 64] |= 1 << (fact % 64);
    }

    pub fn contains(&self, fact: usize) -> bool {
        self.0[fact / 64] & (1 << (fact % 64)) != 0
    }

    /// Every fact of `other` is here. Whole words at a time, no early exit: rules are
    /// checked by the hundred per contact, and straight-line code is faster than branches.
    pub fn contains_all(&self, other: &FactSet) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0, |missing, (a, b)| missing | (b & !a))
            == 0
    }

    /// At least one fact of `other` is here.
    pub fn intersects(&self, other: &FactSet) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0, |common, (a, b)| common | (a & b))
            != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().fold(0, |bits, w| bits | w) == 0
    }

    /// Indices of the facts in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        self.0.into_iter().enumerate().flat_map(|(w, word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + b
                })
            })
        })
    }

    /// The least member that is at least `from`.
    pub fn first_from(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut bits = *self.0.get(w)? & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
            w += 1;
            bits = *self.0.get(w)?;
        }
    }

    /// The facts in both sets.
    pub fn and(&self, other: &FactSet) -> FactSet {
        let mut out = *self;
        for (o, b) in out.0.iter_mut().zip(other.0.iter()) {
            *o &= b;
        }
        out
    }

    /// The facts in either set.
    pub fn or(&self, other: &FactSet) -> FactSet {
        let mut out = *self;
        for (o, b) in out.0.iter_mut().zip(other.0.iter()) {
            *o |= b;
        }
        out
    }
}

/// Every fact the structured parts of a contact can assert, by name. Rules files may use these
/// names; narrative cues may assert them too (a narrative "flames everywhere" asserts
/// `fire.flames` just as the answer does).
pub fn builtin_names() -> Vec<String> {
    use crate::domain::*;
    let mut names = Vec::new();
    let mut add = |prefix: &str, values: &[&str], skip_first: bool| {
        for v in values.iter().skip(usize::from(skip_first)) {
            names.push(format!("{prefix}.{}", v.to_ascii_lowercase()));
        }
    };
    add("channel", Channel::NAMES, true);
    add("category", OnlineCategory::NAMES, true);
    add("happening", Happening::NAMES, true);
    add("injuries", Injuries::NAMES, true);
    add("fire", FireSeen::NAMES, true);
    add("trapped", Trapped::NAMES, true);
    add("weapons", Weapons::NAMES, true);
    add("suspect", Suspect::NAMES, true);
    add("deliberate", Deliberate::NAMES, true);
    add("self_harm", SelfHarm::NAMES, true);
    add("vulnerability", Vulnerability::NAMES, true);
    add("access", Access::NAMES, true);
    add("hazards", Hazard::NAMES, true);
    add("road", Road::NAMES, true);
    add("building", Building::NAMES, true);
    add("alarm", Alarm::NAMES, true);
    add("other_agency", OtherAgencyRequest::NAMES, true);
    names.push("casualties.any".into());
    names.push("casualties.multiple".into());
    names.push("narrative.empty".into());
    names.extend(super::machine::FACTS.iter().map(|f| f.to_string()));
    names.extend(super::ages::FACTS.iter().map(|f| f.to_string()));
    names
}

/// The field an age read from the narrative is credited to: no recorded answer.
pub const AGE: &str = "age in the narrative";

/// Asserts the builtin facts of a contact. `index` maps a builtin name to its fact index; the
/// engine builds it once so that this runs without formatting or hashing strings.
pub struct BuiltinIndex {
    channel: Vec<usize>,
    category: Vec<usize>,
    happening: Vec<usize>,
    injuries: Vec<usize>,
    fire: Vec<usize>,
    trapped: Vec<usize>,
    weapons: Vec<usize>,
    suspect: Vec<usize>,
    deliberate: Vec<usize>,
    self_harm: Vec<usize>,
    vulnerability: Vec<usize>,
    access: Vec<usize>,
    hazards: Vec<usize>,
    road: Vec<usize>,
    building: Vec<usize>,
    alarm: Vec<usize>,
    other_agency: Vec<usize>,
    casualties_any: usize,
    casualties_multiple: usize,
    narrative_empty: usize,
    /// The facts of [`super::machine::FACTS`], in order.
    machine: Vec<usize>,
    /// The facts of [`super::ages::FACTS`], in order.
    ages: Vec<usize>,
}

impl BuiltinIndex {
    /// `lookup` finds the index of a builtin fact name; every builtin name must be known.
    pub fn new(lookup: impl Fn(&str) -> usize) -> Self {
        use crate::domain::*;
        let table = |prefix: &str, values: &[&str]| -> Vec<usize> {
            // Index 0 of each answer enum is UNKNOWN/UNSPECIFIED, which asserts nothing.
            let mut v = vec![usize::MAX];
            v.extend(
                values
                    .iter()
                    .skip(1)
                    .map(|n| lookup(&format!("{prefix}.{}", n.to_ascii_lowercase()))),
            );
            v
        };
        BuiltinIndex {
            channel: table("channel", Channel::NAMES),
            category: table("category", OnlineCategory::NAMES),
            happening: table("happening", Happening::NAMES),
            injuries: table("injuries", Injuries::NAMES),
            fire: table("fire", FireSeen::NAMES),
            trapped: table("trapped", Trapped::NAMES),
            weapons: table("weapons", Weapons::NAMES),
            suspect: table("suspect", Suspect::NAMES),
            deliberate: table("deliberate", Deliberate::NAMES),
            self_harm: table("self_harm", SelfHarm::NAMES),
            vulnerability: table("vulnerability", Vulnerability::NAMES),
            access: table("access", Access::NAMES),
            hazards: table("hazards", Hazard::NAMES),
            road: table("road", Road::NAMES),
            building: table("building", Building::NAMES),
            alarm: table("alarm", Alarm::NAMES),
            other_agency: table("other_agency", OtherAgencyRequest::NAMES),
            casualties_any: lookup("casualties.any"),
            casualties_multiple: lookup("casualties.multiple"),
            narrative_empty: lookup("narrative.empty"),
            machine: super::machine::FACTS.iter().map(|f| lookup(f)).collect(),
            ages: super::ages::FACTS.iter().map(|f| lookup(f)).collect(),
        }
    }

    /// Calls `assert` with each builtin fact of the contact and the answer's field name.
    pub fn assert_facts(&self, c: &Contact, mut assert: impl FnMut(usize, &'static str)) {
        let mut one = |table: &[usize], code: i32, field: &'static str| {
            if let Some(&f) = table.get(code as usize)
                && f != usize::MAX
            {
                assert(f, field);
            }
        };
        let a = &c.answers;
        one(&self.channel, c.channel.code(), "channel");
        one(&self.category, c.category.code(), "category");
        one(&self.happening, a.happening.code(), "happening");
        one(&self.injuries, a.injuries.code(), "injuries");
        one(&self.fire, a.fire.code(), "fire");
        one(&self.trapped, a.trapped.code(), "trapped");
        one(&self.weapons, a.weapons.code(), "weapons");
        one(&self.suspect, a.suspect.code(), "suspect");
        one(&self.deliberate, a.deliberate.code(), "deliberate");
        one(&self.self_harm, a.self_harm.code(), "self_harm");
        for v in &a.vulnerability {
            one(&self.vulnerability, v.code(), "vulnerability");
        }
        one(&self.access, a.access.code(), "access");
        for h in &a.hazards {
            one(&self.hazards, h.code(), "hazards");
        }
        one(&self.road, a.road.code(), "road");
        one(&self.building, a.building.code(), "building");
        one(&self.alarm, a.alarm.code(), "alarm");
        one(
            &self.other_agency,
            a.other_agency_request.code(),
            "other_agency_request",
        );
        match a.casualties {
            Some(n) if n > 1 => {
                assert(self.casualties_any, "casualties");
                assert(self.casualties_multiple, "casualties");
            }
            Some(1) => assert(self.casualties_any, "casualties"),
            _ => {}
        }
        if c.narrative.trim().is_empty() {
            assert(self.narrative_empty, "narrative");
        }
        for f in super::machine::facts(c) {
            assert(self.machine[f], "message fields");
        }
        for (&f, found) in self.ages.iter().zip(super::ages::facts(&c.narrative)) {
            if found {
                assert(f, AGE);
            }
        }
    }
}
