//! Training the second opinion: the model is fitted on the training part of the labelled
//! corpus, and the knobs that combine it with the rules are chosen on the development part.
//!
//! The split is by contact id, so it never changes as files are added: a contact is in the
//! development part when the FNV-1a hash of its id is divisible by 5 (about one in five).

use super::Engine;
use super::engine::HeldRaises;
use super::eval::{Gold, Labelled};
use super::model::{
    Example, Features, GRADES, Knobs, MAX_TYPES, Model, Opinion, RulesView, TrainOptions, choose,
    fnv1a,
};
use crate::domain::Agency;

/// Whether a contact belongs to the development part of a corpus (else to the training part).
pub fn is_development(id: &str) -> bool {
    fnv1a(id).is_multiple_of(5)
}

/// What a training run did, for the person who ran it.
pub struct Summary {
    pub trained_on: usize,
    pub tuned_on: usize,
    pub knobs: Knobs,
    /// The tuning objective on the development part: rules alone, then rules and model.
    pub rules_score: f64,
    pub combined_score: f64,
}

/// One development contact as the tuning sees it: the rules' view, the model's opinion, gold.
struct Tuning {
    view: RulesView,
    /// The rules' raises that hold: they apply to a type the model takes too.
    held: HeldRaises,
    opinion: Opinion,
    gold: Gold,
    /// The model class of the gold type, if the model knows it.
    gold_class: Option<usize>,
}

/// Fits a model beside the rules-only `engine` on the labelled `cases`.
pub fn train(
    engine: &Engine,
    cases: &[Labelled],
    opts: TrainOptions,
) -> Result<(Model, Summary), String> {
    let types = engine.type_codes();
    let class = |code: &str| types.iter().position(|t| t == code);
    let mut f = Features::default();
    let mut examples = Vec::new();
    let mut development = Vec::new();
    for Labelled {
        id, contact, gold, ..
    } in cases
    {
        let c = class(&gold.incident_type).ok_or_else(|| {
            format!(
                "{id}: gold type {} is not a type of the rules",
                gold.incident_type
            )
        })?;
        if !(1..=4).contains(&gold.grade) {
            return Err(format!("{id}: gold grade {} is not 1 to 4", gold.grade));
        }
        if is_development(id) {
            development.push((contact, gold));
            continue;
        }
        let _ = engine.by_rules_with_features(contact, opts.bits, &mut f);
        examples.push(Example {
            buckets: f.buckets.clone(),
            type_class: c,
            grade: gold.grade,
        });
    }
    if examples.is_empty() || development.is_empty() {
        return Err("the corpus needs contacts in both its training and development parts".into());
    }
    if types.len() > MAX_TYPES {
        return Err(format!(
            "the rules have {} types; a model learns at most {MAX_TYPES}",
            types.len()
        ));
    }
    let mut model = Model::train(types, &examples, opts, engine.rules_hash.clone());
    let agency_of = engine.agencies_of(&model.header.types);
    let tuning: Vec<Tuning> = development
        .iter()
        .map(|(contact, gold)| {
            let (t, held) = engine.by_rules_with_features(contact, opts.bits, &mut f);
            Tuning {
                view: RulesView::of(&t, &model.header.types),
                held,
                opinion: model.predict(&f),
                gold_class: model
                    .header
                    .types
                    .iter()
                    .position(|c| *c == gold.incident_type),
                gold: (*gold).clone(),
            }
        })
        .collect();
    let never = Knobs {
        weak_rules_below: 0.0,
        take_type_at: 2.0,
        override_at: 2.0,
        raise_to_1_at: 2.0,
        raise_one_at: 2.0,
        lower_at: 2.0,
    };
    let rule_of = engine.rules_of(&model.header.types)?;
    let raised = |held, class: usize, base| engine.raised_number(held, rule_of[class], base);
    let type_grades = &model.header.type_grades;
    let rules_score = score(&tuning, &never, &agency_of, type_grades, &raised);
    let mut best = (f64::MIN, Knobs::default());
    // The model must be sure before it overrules the rules: the development part is written
    // like the training part, so it flatters the model; text unlike both does not.
    for &weak_rules_below in &[0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 1.01] {
        for &take_type_at in &[0.4, 0.5, 0.6, 0.7] {
            for &override_at in &[0.7, 0.8, 0.9, 2.0] {
                for &raise_to_1_at in &[0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 2.0] {
                    for &raise_one_at in &[0.5, 0.6, 0.7, 0.8, 0.9, 2.0] {
                        for &lower_at in &[0.6, 0.7, 0.8, 0.9, 2.0] {
                            let k = Knobs {
                                weak_rules_below,
                                take_type_at,
                                override_at,
                                raise_to_1_at,
                                raise_one_at,
                                lower_at,
                            };
                            let s = score(&tuning, &k, &agency_of, type_grades, &raised);
                            if s > best.0 {
                                best = (s, k);
                            }
                        }
                    }
                }
            }
        }
    }
    model.header.knobs = best.1;
    let summary = Summary {
        trained_on: examples.len(),
        tuned_on: tuning.len(),
        knobs: best.1,
        rules_score,
        combined_score: best.0,
    };
    Ok((model, summary))
}

/// The tuning objective: agency and exact-grade accuracy, less five times the grade-1
/// under-triage rate and twice the over-triage rate beyond 15%. Missing an emergency costs most.
/// `raised(held, class, base)` is the grade the rules' raises give model class `class` from `base`.
fn score(
    cases: &[Tuning],
    k: &Knobs,
    agency_of: &[Agency],
    type_grades: &[[f32; GRADES]],
    raised: &impl Fn(HeldRaises, usize, u8) -> u8,
) -> f64 {
    let (mut agency, mut grade, mut kind, mut g1, mut under, mut over) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    for c in cases {
        let choice = choose(
            k,
            &c.view,
            &c.opinion,
            agency_of,
            type_grades,
            |class, base| raised(c.held, class, base),
        );
        agency += usize::from(choice.agency == c.gold.agency);
        grade += usize::from(choice.grade == c.gold.grade);
        kind += usize::from(choice.take.or(c.view.class) == c.gold_class);
        if c.gold.grade == 1 {
            g1 += 1;
            under += usize::from(choice.grade > 1);
        }
        over += usize::from(choice.grade < c.gold.grade);
    }
    let n = cases.len().max(1) as f64;
    let under_rate = under as f64 / g1.max(1) as f64;
    let over_rate = over as f64 / n;
    (agency as f64 + grade as f64 + 0.5 * kind as f64) / n
        - 5.0 * under_rate
        - 2.0 * (over_rate - 0.15).max(0.0)
}
