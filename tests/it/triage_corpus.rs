//! The labelled corpus (`tests/data/corpus.jsonl`) keeps triage honest: the targets must
//! hold, and the figures reached must not regress.

use bluelight::triage::{Engine, eval};

#[test]
fn the_corpus_figures_meet_the_targets_and_do_not_regress() {
    let cases = bluelight::cli::read_corpus(std::path::Path::new("tests/data/corpus.jsonl"))
        .expect("corpus reads");
    assert!(
        cases.len() >= 400,
        "the corpus has {} contacts",
        cases.len()
    );
    let engine = Engine::default_rules();
    let r = eval::evaluate(&engine, cases.iter().map(|(id, c, g)| (id.as_str(), c, g)));
    let misses: Vec<String> = r.misses.iter().map(|m| m.to_string()).collect();
    // The targets.
    assert!(r.agency_accuracy() >= 0.95, "{r}\n{misses:#?}");
    assert!(r.grade_accuracy() >= 0.85, "{r}\n{misses:#?}");
    assert!(r.under_triage() <= 0.01, "{r}\n{misses:#?}");
    assert!(r.over_triage() <= 0.15, "{r}\n{misses:#?}");
    // What the shipped rules reach today (README): change these only upwards.
    assert!(
        r.agency_correct >= 403,
        "agency regressed\n{r}\n{misses:#?}"
    );
    assert!(r.grade_correct >= 400, "grade regressed\n{r}\n{misses:#?}");
    assert_eq!(
        r.under_triaged_grade1, 0,
        "grade-1 under-triage regressed\n{r}\n{misses:#?}"
    );
    assert!(
        r.over_triaged <= 4,
        "over-triage regressed\n{r}\n{misses:#?}"
    );
}
