//! The rules file: its TOML schema, and its compilation into an [`Engine`] with every mistake
//! reported by file, line and rule before anything is served.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use super::engine::{
    Cond, Engine, HeldRaises, MAX_RULES, QualifierRule, RaiseRule, RuleIndex, TypeRule,
};
use super::facts::{BuiltinIndex, FactSet, MAX_FACTS, builtin_names};
use super::text::{PhraseKind, Scanner, normalise};
use crate::domain::{Agency, Grade, Referral};

/// The rules that ship with bluelight, used when no `--rules` file is given.
pub const DEFAULT_RULES: &str = include_str!("../../config/triage.toml");

/// A rules file that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct RulesError {
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    text: TextSection,
    #[serde(default)]
    ignore: Vec<Spanned<PhraseGroup>>,
    #[serde(default)]
    cue: Vec<Spanned<CueDef>>,
    #[serde(default)]
    define: Vec<Spanned<DefineDef>>,
    #[serde(rename = "type", default)]
    types: Vec<Spanned<TypeDef>>,
    #[serde(default)]
    raise: Vec<Spanned<RaiseDef>>,
    #[serde(default)]
    qualifier: Vec<Spanned<QualifierDef>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TextSection {
    #[serde(default)]
    negations: Vec<String>,
    #[serde(default)]
    uncertain: Vec<String>,
    #[serde(default)]
    breaks: Vec<String>,
    #[serde(default = "default_window")]
    negation_window: usize,
}

fn default_window() -> usize {
    3
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhraseGroup {
    phrases: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CueDef {
    fact: String,
    phrases: Vec<String>,
    /// Phrases of this cue hide shorter cues found inside them.
    #[serde(default)]
    exclusive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefineDef {
    fact: String,
    when: When,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct When {
    #[serde(default)]
    all: Vec<String>,
    #[serde(default)]
    any: Vec<String>,
    #[serde(default)]
    none: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeDef {
    code: String,
    name: String,
    agency: Agency,
    lead: Option<Agency>,
    grade: u8,
    referral: Option<Referral>,
    #[serde(default)]
    when: When,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RaiseDef {
    name: String,
    when: When,
    /// Make the grade at least this urgent.
    to: Option<u8>,
    /// Make the grade this many steps more urgent.
    by: Option<u8>,
    /// Only for these agencies; every agency but NONE when empty.
    #[serde(default)]
    agencies: Vec<Agency>,
    /// Only for these incident types; every type when empty.
    #[serde(default)]
    types: Vec<String>,
    /// Never for these incident types.
    #[serde(default)]
    except: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QualifierDef {
    name: String,
    when: When,
}

/// Collects problems with their place in the file.
struct Problems<'a> {
    file: &'a str,
    source: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, rule: &str, message: impl std::fmt::Display) {
        let line = line_of(self.source, span.start);
        self.list
            .push(format!("{}:{line}: {rule}: {message}", self.file));
    }
}

/// Compiles a rules file. `file` names it in error messages.
pub fn compile(file: &str, source: &str) -> Result<Engine, RulesError> {
    let parsed: RulesFile = toml::from_str(source).map_err(|e| {
        let line = e.span().map(|s| line_of(source, s.start)).unwrap_or(0);
        RulesError {
            problems: vec![format!("{file}:{line}: {}", e.message())],
        }
    })?;
    let mut p = Problems {
        file,
        source,
        list: Vec::new(),
    };

    // Fact table: builtins first, then every fact a cue or define asserts.
    let mut facts: Vec<String> = builtin_names();
    let mut index: HashMap<String, usize> = facts
        .iter()
        .enumerate()
        .map(|(i, f)| (f.clone(), i))
        .collect();
    let mut intern = |name: &str, facts: &mut Vec<String>| -> usize {
        *index.entry(name.to_owned()).or_insert_with(|| {
            facts.push(name.to_owned());
            facts.len() - 1
        })
    };

    let mut phrases: Vec<(String, PhraseKind)> = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut add_phrase =
        |p: &mut Problems, span: std::ops::Range<usize>, rule: &str, raw: &str, kind| {
            let mut bytes = Vec::new();
            normalise(raw, &mut bytes);
            let norm = String::from_utf8(bytes).unwrap_or_default();
            if norm.is_empty() || norm.contains('.') {
                p.at(
                    span,
                    rule,
                    format!("phrase {raw:?} has no words or holds sentence punctuation"),
                );
                return;
            }
            if let Some(other) = seen.insert(norm.clone(), rule.to_owned()) {
                p.at(
                    span,
                    rule,
                    format!("phrase {raw:?} is already listed by {other}"),
                );
                return;
            }
            phrases.push((norm, kind));
        };
    let text = &parsed.text;
    for (list, kind) in [
        (&text.negations, PhraseKind::Negation),
        (&text.uncertain, PhraseKind::Uncertain),
        (&text.breaks, PhraseKind::Break),
    ] {
        for raw in list {
            add_phrase(&mut p, 0..0, "[text]", raw, kind);
        }
    }
    for g in &parsed.ignore {
        for raw in &g.get_ref().phrases {
            add_phrase(&mut p, g.span(), "[[ignore]]", raw, PhraseKind::Ignore);
        }
    }
    for c in &parsed.cue {
        let rule = format!("cue {:?}", c.get_ref().fact);
        let fact = intern(&c.get_ref().fact, &mut facts);
        if c.get_ref().phrases.is_empty() {
            p.at(c.span(), &rule, "has no phrases");
        }
        for raw in &c.get_ref().phrases {
            add_phrase(
                &mut p,
                c.span(),
                &rule,
                raw,
                PhraseKind::Cue {
                    // Facts are checked below to number at most MAX_FACTS.
                    fact: fact as u16,
                    exclusive: c.get_ref().exclusive,
                },
            );
        }
    }

    // Defines may read builtins, cue facts and each other's facts, wherever they stand in the
    // file: they run in the order of what they read (see `define_order`).
    let asserted: Vec<usize> = parsed
        .define
        .iter()
        .map(|d| intern(&d.get_ref().fact, &mut facts))
        .collect();
    let mut conds: Vec<Cond> = parsed
        .define
        .iter()
        .map(|d| {
            let rule = format!("define {:?}", d.get_ref().fact);
            resolve(&mut p, d.span(), &rule, &d.get_ref().when, &facts)
        })
        .collect();
    let defines: Vec<(usize, Cond)> = match define_order(&asserted, &conds) {
        Ok(order) => order
            .into_iter()
            .map(|i| (asserted[i], std::mem::take(&mut conds[i])))
            .collect(),
        Err(cycle) => {
            let names: Vec<String> = cycle
                .iter()
                .map(|&i| format!("{:?}", parsed.define[i].get_ref().fact))
                .collect();
            let d = &parsed.define[cycle[0]];
            p.at(
                d.span(),
                &format!("define {:?}", d.get_ref().fact),
                format!(
                    "defines {} read each other's facts in a circle: no order runs each after \
                     what it reads",
                    names.join(", ")
                ),
            );
            Vec::new()
        }
    };
    if facts.len() > MAX_FACTS {
        p.at(
            0..0,
            "facts",
            format!("{} facts named; at most {MAX_FACTS}", facts.len()),
        );
        return Err(RulesError { problems: p.list });
    }

    let mut types: Vec<TypeRule> = Vec::new();
    for t in &parsed.types {
        let d = t.get_ref();
        let rule = format!("type {}", d.code);
        let valid_code = d.code.len() == 3
            && matches!(d.code.as_bytes()[0], b'P' | b'F' | b'J' | b'X')
            && d.code[1..].bytes().all(|b| b.is_ascii_digit());
        if !valid_code {
            p.at(
                t.span(),
                &rule,
                "code must be P, F, J or X and two digits, for example F02",
            );
        }
        if let Some(o) = types.iter().find(|o| *o.code == *d.code)
            && (*o.name != *d.name || o.agency != d.agency)
        {
            p.at(
                t.span(),
                &rule,
                "code is defined again with another name or agency",
            );
        }
        let grade = Grade::from_number(d.grade).unwrap_or_else(|| {
            p.at(t.span(), &rule, format!("grade {} is not 1-4", d.grade));
            Grade::Scheduled
        });
        let lead = match (d.agency, d.lead) {
            (Agency::Joint, Some(l @ (Agency::Police | Agency::Fire))) => l,
            (Agency::Joint, _) => {
                p.at(
                    t.span(),
                    &rule,
                    "a JOINT type needs lead = \"POLICE\" or \"FIRE\"",
                );
                Agency::Fire
            }
            (Agency::Unspecified, _) => {
                p.at(
                    t.span(),
                    &rule,
                    "agency must be POLICE, FIRE, JOINT or NONE",
                );
                Agency::Unspecified
            }
            (a, None) => a,
            (a, Some(l)) if l == a => a,
            (_, Some(_)) => {
                p.at(t.span(), &rule, "lead is only for JOINT types");
                d.agency
            }
        };
        if d.agency == Agency::None && (d.referral.is_none() || grade != Grade::Resolution) {
            p.at(
                t.span(),
                &rule,
                "an agency NONE type must be grade 4 with a referral",
            );
        }
        let cond = resolve(&mut p, t.span(), &rule, &d.when, &facts);
        types.push(TypeRule {
            code: d.code.as_str().into(),
            name: d.name.as_str().into(),
            agency: d.agency,
            lead,
            grade,
            referral: d.referral,
            cond,
        });
    }
    match parsed.types.last() {
        None => p.at(0..0, "types", "no [[type]] rules"),
        Some(last) => {
            let w = &last.get_ref().when;
            if !(w.all.is_empty() && w.any.is_empty() && w.none.is_empty()) {
                p.at(
                    last.span(),
                    &format!("type {}", last.get_ref().code),
                    "the last type must have no conditions, so every contact gets a decision",
                );
            }
        }
    }

    let mut raises = Vec::new();
    for r in &parsed.raise {
        let d = r.get_ref();
        let rule = format!("raise {:?}", d.name);
        let target = match (d.to, d.by) {
            (Some(to), None) => match Grade::from_number(to) {
                Some(g) => super::engine::Raise::To(g),
                None => {
                    p.at(r.span(), &rule, format!("to = {to} is not a grade 1-4"));
                    continue;
                }
            },
            (None, Some(by @ 1..=3)) => super::engine::Raise::By(by),
            _ => {
                p.at(
                    r.span(),
                    &rule,
                    "needs exactly one of to = GRADE or by = 1..3",
                );
                continue;
            }
        };
        for code in d.types.iter().chain(&d.except) {
            if !types.iter().any(|t| *t.code == **code) {
                p.at(r.span(), &rule, format!("unknown incident type {code:?}"));
            }
        }
        let cond = resolve(&mut p, r.span(), &rule, &d.when, &facts);
        // Which incident types the raise applies to, by type index: its agencies (any but
        // referrals when none are named), its types (all when none are named), not its
        // exceptions.
        let applies = types
            .iter()
            .map(|t| {
                let agency = if d.agencies.is_empty() {
                    t.agency != Agency::None
                } else {
                    d.agencies.contains(&t.agency)
                };
                agency
                    && (d.types.is_empty() || d.types.iter().any(|c| **c == *t.code))
                    && !d.except.iter().any(|c| **c == *t.code)
            })
            .collect();
        raises.push(RaiseRule {
            name: d.name.clone(),
            cond,
            target,
            applies,
        });
    }

    let mut qualifiers = Vec::new();
    for q in &parsed.qualifier {
        let d = q.get_ref();
        let rule = format!("qualifier {:?}", d.name);
        let cond = resolve(&mut p, q.span(), &rule, &d.when, &facts);
        qualifiers.push(QualifierRule {
            name: d.name.as_str().into(),
            cond,
        });
    }

    let rules = defines.len() + types.len() + raises.len() + qualifiers.len();
    if rules > MAX_RULES {
        p.at(
            0..0,
            "rules",
            format!("{rules} defines, types, raises and qualifiers; at most {MAX_RULES} together"),
        );
    }
    if raises.len() > HeldRaises::BITS as usize {
        p.at(
            0..0,
            "raises",
            format!("{} raises; at most {}", raises.len(), HeldRaises::BITS),
        );
    }
    if !p.list.is_empty() {
        return Err(RulesError { problems: p.list });
    }
    let index = RuleIndex::new(facts.len(), &defines, &types, &raises, &qualifiers);
    let scanner = Scanner::new(phrases, text.negation_window).map_err(|e| RulesError {
        problems: vec![format!("{file}: {e}")],
    })?;
    let lookup: HashMap<&str, usize> = facts
        .iter()
        .enumerate()
        .map(|(i, f)| (f.as_str(), i))
        .collect();
    let builtin = BuiltinIndex::new(|name| lookup[name]);
    Ok(Engine {
        facts,
        builtin,
        scanner,
        defines,
        types,
        raises,
        qualifiers,
        index,
        model: None,
        rules_hash: super::model::fingerprint(source),
    })
}

/// Resolves fact names of a `when` into sets, reporting names nothing asserts.
fn resolve(
    p: &mut Problems,
    span: std::ops::Range<usize>,
    rule: &str,
    when: &When,
    facts: &[String],
) -> Cond {
    let mut set = |names: &[String]| {
        let mut s = FactSet::default();
        for n in names {
            match facts.iter().position(|f| f == n) {
                Some(i) => s.insert(i),
                None => p.at(
                    span.clone(),
                    rule,
                    format!("unknown fact {n:?}: no answer, cue or define asserts it"),
                ),
            }
        }
        s
    };
    Cond {
        all: set(&when.all),
        any: set(&when.any),
        none: set(&when.none),
    }
}

/// The order the defines run in: each after every other define asserting a fact it reads, so
/// that it sees what they derive (a define of `b` from `a` runs after a define of `a` from `c`,
/// wherever either stands), and otherwise in file order. `asserted[i]` is define `i`'s fact and
/// `conds[i]` what it reads. Defines that read each other's facts in a circle have no such
/// order: `Err` lists them.
fn define_order(asserted: &[usize], conds: &[Cond]) -> Result<Vec<usize>, Vec<usize>> {
    let reads = |c: &Cond| c.all.or(&c.any).or(&c.none);
    // waits_on[i]: the other defines whose fact define i reads.
    let waits_on: Vec<Vec<usize>> = conds
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let read = reads(c);
            (0..asserted.len())
                .filter(|&j| j != i && asserted[j] != asserted[i] && read.contains(asserted[j]))
                .collect()
        })
        .collect();
    let mut placed = vec![false; conds.len()];
    let mut order = Vec::with_capacity(conds.len());
    while order.len() < conds.len() {
        // The first define in the file whose writers have all run.
        let ready =
            (0..conds.len()).find(|&i| !placed[i] && waits_on[i].iter().all(|&j| placed[j]));
        let Some(i) = ready else {
            return Err((0..conds.len()).filter(|&i| !placed[i]).collect());
        };
        placed[i] = true;
        order.push(i);
    }
    Ok(order)
}

/// The line of byte `offset` in `source`, from 1.
fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// What `bluelight rules check` warns of in a rules file that compiles: grade-1 decisions that
/// can rest on one word. A rules file that does not parse has no warnings here; `compile`
/// reports it.
pub fn warnings(source: &str) -> Vec<String> {
    let Ok(parsed) = toml::from_str::<RulesFile>(source) else {
        return Vec::new();
    };
    single_word_warnings(source, &parsed)
}

/// Where a grade-1 decision can rest on one word and nothing else: a type of grade 1, or a
/// raise to grade 1, whose condition a single one-word phrase can satisfy (through cues and
/// defines). Such a word needs context, in a longer phrase or an `[[ignore]]` for its other
/// senses, or a red herring ("rubble" dumped in a lay-by) becomes an emergency.
fn single_word_warnings(source: &str, parsed: &RulesFile) -> Vec<String> {
    // The one-word phrases that alone assert each fact, cues first, then defines in order.
    let mut singles: HashMap<String, Vec<String>> = HashMap::new();
    for cue in &parsed.cue {
        let words = cue
            .get_ref()
            .phrases
            .iter()
            .filter(|p| !p.trim().contains(' '));
        singles
            .entry(cue.get_ref().fact.clone())
            .or_default()
            .extend(words.map(|w| w.trim().to_lowercase()));
    }
    let alone = |when: &When, singles: &HashMap<String, Vec<String>>| -> Vec<String> {
        let from = |f: &String| singles.get(f).cloned().unwrap_or_default();
        match (when.all.as_slice(), when.any.is_empty()) {
            ([], false) => when.any.iter().flat_map(from).collect(),
            ([one], true) => from(one),
            _ => Vec::new(),
        }
    };
    for d in &parsed.define {
        let d = d.get_ref();
        let words = alone(&d.when, &singles);
        singles.entry(d.fact.clone()).or_default().extend(words);
    }
    let mut out = Vec::new();
    let mut warn = |span: std::ops::Range<usize>, rule: String, mut words: Vec<String>| {
        words.sort();
        words.dedup();
        if !words.is_empty() {
            out.push(format!(
                "line {}: {rule} reaches grade 1 on one word alone: {}",
                line_of(source, span.start),
                words.join(", ")
            ));
        }
    };
    for t in &parsed.types {
        if t.get_ref().grade == 1 {
            let r = t.get_ref();
            warn(
                t.span(),
                format!("type {}", r.code),
                alone(&r.when, &singles),
            );
        }
    }
    for r in &parsed.raise {
        if r.get_ref().to == Some(1) {
            let rr = r.get_ref();
            warn(
                r.span(),
                format!("raise {:?}", rr.name),
                alone(&rr.when, &singles),
            );
        }
    }
    out
}
