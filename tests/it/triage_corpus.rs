//! Triage quality on the labelled corpora (see docs/triage-quality.md). Development figures
//! must not fall below what the shipped rules and model reach; the blind batches stay apart
//! from everything training reads; the public texts' labels rebuild, and no decision on a
//! public text is absurd.

use std::path::{Path, PathBuf};

use bluelight::cli::{read_corpora, read_public};
use bluelight::triage::eval::{self, Labelled, Report};
use bluelight::triage::{Engine, learn};

const DEVELOPMENT: &[&str] = &["tests/data/corpus.jsonl", "tests/data/dev"];
const PUBLIC_TEXTS: &str = "../shared/data/public_texts.jsonl";
const PUBLIC_LABELS: &str = "tests/data/public/labels.jsonl";

fn corpora(paths: &[&str]) -> Vec<Labelled> {
    let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    read_corpora(&paths).expect("the corpora read")
}

fn report<'a>(cases: impl IntoIterator<Item = &'a Labelled>) -> Report {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    eval::evaluate(ENGINE.get_or_init(Engine::default_rules), cases)
}

#[test]
fn the_development_part_figures_do_not_regress() {
    let cases = corpora(DEVELOPMENT);
    assert!(cases.len() >= 3000, "{} development contacts", cases.len());
    let r = report(cases.iter().filter(|c| learn::is_development(&c.id)));
    // What the shipped rules and model reach (docs/triage-quality.md), less a small margin:
    // change these only upwards. Session 13 traded over-triage (bound 0.12 to 0.13) for
    // grade-1 under-triage (0.04 to 0.035): the model no longer lowers a grade 1. Session 14
    // traded again (0.13 to 0.15, 0.035 to 0.03): the model raises to grade 1 from a 10%
    // likelihood where it was 25%, as fresh blind batches missed 5% of their emergencies.
    assert!(r.agency_accuracy() >= 0.93, "{r}");
    assert!(r.grade_accuracy() >= 0.83, "{r}");
    assert!(r.under_triage() <= 0.03, "{r}");
    assert!(r.over_triage() <= 0.15, "{r}");
}

#[test]
fn the_first_corpus_is_still_scored() {
    let r = report(&corpora(&["tests/data/corpus.jsonl"]));
    assert!(r.agency_accuracy() >= 0.97, "{r}");
    assert!(r.grade_accuracy() >= 0.95, "{r}");
    assert!(r.under_triage() <= 0.01, "{r}");
}

#[test]
fn blind_batches_are_kept_apart_from_everything_training_reads() {
    let blind = corpora(&["tests/data/blind"]);
    assert!(blind.len() >= 600, "{} blind contacts", blind.len());
    let development = corpora(DEVELOPMENT);
    let seen: std::collections::HashSet<&str> = development
        .iter()
        .flat_map(|c| [c.id.as_str(), c.contact.narrative.as_str()])
        .collect();
    for c in &blind {
        assert!(
            !seen.contains(c.id.as_str()),
            "blind id {} is in development data",
            c.id
        );
        assert!(
            !seen.contains(c.contact.narrative.as_str()),
            "blind {}'s narrative is in development data",
            c.id
        );
    }
    // `bluelight train` reads the development corpora by default, never the blind folder.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bluelight"))
        .args(["train", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("[default: tests/data/corpus.jsonl tests/data/dev]"),
        "{help}"
    );
}

/// The public texts, or `None` (and a note) where shared/ is not beside the checkout.
fn public(labelled_only: bool) -> Option<Vec<(bluelight::domain::Contact, Option<eval::Gold>)>> {
    if !Path::new(PUBLIC_TEXTS).exists() {
        eprintln!("{PUBLIC_TEXTS} is missing: public-text checks skipped");
        return None;
    }
    Some(
        read_public(
            Path::new(PUBLIC_TEXTS),
            Path::new(PUBLIC_LABELS),
            labelled_only,
        )
        .unwrap(),
    )
}

#[test]
fn public_text_labels_rebuild_and_a_changed_text_is_refused() {
    let Some(labelled) = public(true) else { return };
    assert!(
        labelled.len() >= 400,
        "{} labelled public texts",
        labelled.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let labels = std::fs::read_to_string(PUBLIC_LABELS).unwrap();
    let first = labels.lines().next().unwrap();
    let sha1 = first
        .split("\"sha1\": \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let changed = dir.path().join("labels.jsonl");
    std::fs::write(&changed, first.replace(sha1, &"0".repeat(40))).unwrap();
    let err = read_public(Path::new(PUBLIC_TEXTS), &changed, true)
        .err()
        .unwrap();
    assert!(err.contains("was labelled for another text"), "{err}");
}

#[test]
fn the_labelled_public_texts_development_part_meets_the_agency_target() {
    let Some(labelled) = public(true) else { return };
    let cases: Vec<Labelled> = labelled
        .into_iter()
        .filter(|(c, _)| learn::is_development(&c.contact_id))
        .map(|(contact, gold)| Labelled {
            id: contact.contact_id.clone(),
            contact,
            gold: gold.unwrap(),
            truth: None,
        })
        .collect();
    let r = report(&cases);
    assert!(r.agency_accuracy() >= 0.85, "{r}");
}

const ANIMALS: &[&str] = &[
    "cat",
    "cats",
    "kitten",
    "kittens",
    "dog",
    "dogs",
    "puppy",
    "horse",
    "pony",
    "bird",
    "birds",
    "pigeon",
    "gull",
    "seagull",
    "swan",
    "duck",
    "ducks",
    "ducklings",
    "fox",
    "deer",
    "cow",
    "sheep",
    "squirrel",
    "animal",
];

#[test]
fn no_public_text_gets_an_absurd_decision() {
    let Some(all) = public(false) else { return };
    let engine = Engine::default_rules();
    let texts: std::collections::HashMap<String, (String, String)> =
        std::fs::read_to_string(PUBLIC_TEXTS)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
                (s("id"), (s("source"), s("publisher_label")))
            })
            .collect();
    let mut absurd = Vec::new();
    for (c, _) in &all {
        let (source, label) = &texts[&c.contact_id];
        let t = engine.classify(c);
        let fire_side = matches!(
            t.agency,
            bluelight::domain::Agency::Fire | bluelight::domain::Agency::Joint
        );
        // A rescue of an animal the text names, sent to the police alone (a loose animal on a
        // road, or a dangerous dog, aside).
        let words: Vec<String> = c
            .narrative
            .to_lowercase()
            .split(|ch: char| !ch.is_alphabetic())
            .map(str::to_owned)
            .collect();
        let animal = ANIMALS.iter().any(|a| words.iter().any(|w| w == a));
        if source == "lfb_animal_rescue"
            && label.starts_with("Animal")
            && animal
            && t.agency == bluelight::domain::Agency::Police
            && !["P25", "P34"].contains(&&*t.incident_type)
        {
            absurd.push(format!(
                "{}: animal rescue -> {} {}",
                c.contact_id, t.agency, t.incident_type
            ));
        }
        // A campus police log of a theft, lost or found property or an information line as a
        // grade-1 fire or joint incident.
        let quiet = [
            "Theft",
            "Lost Property",
            "Found Property",
            "Information",
            "Liquor Law Violation",
            "Traffic Violation",
        ];
        if source == "ucpd_incident_log"
            && quiet.contains(&label.as_str())
            && fire_side
            && t.grade.number() == 1
        {
            absurd.push(format!(
                "{}: {label} -> {} {} grade 1",
                c.contact_id, t.agency, t.incident_type
            ));
        }
    }
    assert!(absurd.is_empty(), "{absurd:#?}");
}
