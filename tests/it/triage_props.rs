//! Triage never panics and always decides, whatever the text: arbitrary UTF-8, phrase soup and
//! pathological repetitions up to the size limit. (Its speed is measured by the benches.)

use bluelight::domain::{Agency, Contact, Grade, MAX_NARRATIVE_BYTES};
use bluelight::triage::Engine;
use proptest::prelude::*;

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(Engine::default_rules)
}

fn check(engine: &Engine, narrative: &str) {
    let mut text = narrative.to_owned();
    while text.len() > MAX_NARRATIVE_BYTES {
        text.pop();
    }
    let t = engine.classify(&Contact {
        narrative: text,
        ..Default::default()
    });
    assert!(matches!(
        t.agency,
        Agency::Police | Agency::Fire | Agency::Joint | Agency::None
    ));
    assert!(Grade::from_number(t.grade.number()).is_some());
    assert!(!t.reasons.is_empty() && (0.0..=1.0).contains(&t.confidence));
}

const FRAGMENTS: &[&str] = &[
    "fire",
    "not",
    "no one",
    "isn't",
    "trapped",
    "knife",
    ".",
    ",",
    " ",
    "'",
    "’",
    "smell of burning",
    "bonfire night",
    "not sure if",
    "don't know",
    "car",
    "crash",
    "on",
    "but",
    "é",
    "🔥",
    "\n",
    "FIRE!!",
    "smoke cumin out",
    "cant get out",
    "fired from",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_is_decided(text in ".{0,2000}") {
        check(engine(), &text);
    }

    #[test]
    fn phrase_soup_is_decided(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..600)) {
        check(engine(), &parts.join(" "));
    }
}

#[test]
fn pathological_repetitions_up_to_the_limit_are_decided() {
    let engine = engine();
    for unit in [
        "fire ",
        "no ",
        "'",
        ". ",
        "not sure if ",
        "smell of burning ",
        "a",
        "🔥",
        "é'",
        "no one isn't not ",
    ] {
        check(engine, &unit.repeat(MAX_NARRATIVE_BYTES / unit.len() + 1));
    }
}
