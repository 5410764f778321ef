//! The offline triage tools: `triage` (JSON lines in, decisions out), `triage --eval` (figures
//! on a labelled corpus) and `train` (the model beside the rules).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ContactLine, Part};
use std::collections::HashMap;

use crate::domain::{Answers, Channel, Contact, Triage};
use crate::triage::eval::{Gold, Labelled};
use crate::triage::model::{Model, TrainOptions};
use crate::triage::{Engine, compile, learn};

pub(super) fn load_engine(rules: Option<PathBuf>) -> Result<Engine, String> {
    match rules {
        Some(p) => Engine::load(&p).map_err(|e| e.to_string()),
        None => Ok(Engine::default_rules()),
    }
}

/// A labelled corpus: contacts in the line format, each with a `gold` object and, optionally, a
/// `truth` object (the true answers).
pub fn read_corpus(path: &Path) -> Result<Vec<Labelled>, String> {
    #[derive(Deserialize)]
    struct Line {
        #[serde(flatten)]
        line: ContactLine,
        gold: Gold,
        #[serde(default)]
        truth: Option<Answers>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            let c: Line = serde_json::from_str(l)
                .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
            let id = c.line.id_text();
            let contact = c
                .line
                .into_contact()
                .validated(false)
                .map_err(|v| format!("{}:{}: {v}", path.display(), n + 1))?;
            Ok(Labelled {
                id,
                contact,
                gold: c.gold,
                truth: c.truth,
            })
        })
        .collect()
}

/// The labelled contacts of every `.jsonl` file named, or found directly in a folder named.
pub fn read_corpora(paths: &[PathBuf]) -> Result<Vec<Labelled>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries =
                std::fs::read_dir(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut all = Vec::new();
    for f in &files {
        all.extend(read_corpus(f)?);
    }
    Ok(all)
}

/// `bluelight triage --eval FILE...`.
pub(super) fn eval_corpus(
    rules: Option<PathBuf>,
    corpora: &[PathBuf],
    misses: bool,
    part: Part,
) -> Result<(), String> {
    let engine = load_engine(rules)?;
    let cases = read_corpora(corpora)?;
    let chosen = cases.iter().filter(|c| match part {
        Part::All => true,
        Part::Training => !learn::is_development(&c.id),
        Part::Development => learn::is_development(&c.id),
    });
    let report = crate::triage::eval::evaluate(&engine, chosen);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = (|| {
        write!(out, "{report}")?;
        if misses {
            writeln!(
                out,
                "\ntriaged differently from gold (id: gold -> decided):"
            )?;
            for m in &report.misses {
                writeln!(out, "  {m}   {:?}", m.narrative)?;
            }
        }
        out.flush()
    })();
    match written {
        // A reader that has seen enough (`| head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the figures: {e}"))
        }
        _ => Ok(()),
    }
}

/// `bluelight train`: fits the model on the corpora's training part, chooses how it combines
/// with the rules on their development part, and writes it (or, with `check`, compares it
/// with the file already there).
pub(super) fn train(
    rules: &Path,
    corpora: &[PathBuf],
    (texts, labels): (&Path, &Path),
    out: Option<PathBuf>,
    opts: TrainOptions,
    check: bool,
) -> Result<(), String> {
    let source = std::fs::read_to_string(rules)
        .map_err(|e| format!("cannot read {}: {e}", rules.display()))?;
    let engine = compile(&rules.display().to_string(), &source).map_err(|e| e.to_string())?;
    let mut cases = read_corpora(corpora)?;
    for (contact, gold) in read_public(texts, labels, true)? {
        cases.push(Labelled {
            id: contact.contact_id.clone(),
            contact,
            gold: gold.expect("labelled only"),
            truth: None,
        });
    }
    let (model, summary) = learn::train(&engine, &cases, opts)?;
    let out = out.unwrap_or_else(|| rules.with_extension("model"));
    let bytes = model.to_bytes();
    println!(
        "trained on {} contacts, combination tuned on {} (development part)",
        summary.trained_on, summary.tuned_on
    );
    println!(
        "tuning objective on the development part: rules alone {:.3}, rules and model {:.3}",
        summary.rules_score, summary.combined_score
    );
    println!("knobs: {:?}", summary.knobs);
    if check {
        let existing =
            std::fs::read(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        if existing != bytes {
            return Err(format!(
                "{} is not what training gives: run `bluelight train` and commit the result",
                out.display()
            ));
        }
        println!("{}: identical to a fresh training run", out.display());
        return Ok(());
    }
    std::fs::write(&out, &bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Model::from_bytes(&bytes)?;
    println!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}

/// `bluelight rules check FILE`: compiles the rules (and the model beside them), then warns
/// where a grade-1 decision rests on one word, and where the model was trained beside other
/// rules.
pub(super) fn check_rules(file: &Path) -> Result<(), String> {
    let engine = Engine::load(file).map_err(|e| e.to_string())?;
    let source = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    for w in crate::triage::warnings(&source) {
        println!("{}: warning: {w}", file.display());
    }
    if !engine.model_matches_rules() {
        println!(
            "{}: warning: the model beside it was trained beside other rules: run `bluelight train`",
            file.display()
        );
    }
    let model = match engine.model() {
        Some(m) => format!(", and a model of {} types", m.header.types.len()),
        None => String::new(),
    };
    println!(
        "{}: ok, {} incident type rules{model}",
        file.display(),
        engine.type_count()
    );
    Ok(())
}

/// `bluelight triage`: one JSON result per input line, in order.
pub(super) fn triage_lines(rules: Option<PathBuf>) -> ExitCode {
    let engine = match load_engine(rules) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bluelight: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0usize;
    for (n, line) in stdin.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bluelight: line {}: cannot read: {e}", n + 1);
                failed += 1;
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let result = match triage_line(&engine, &line) {
            Ok(v) => v,
            Err((id, message)) => {
                eprintln!("bluelight: line {}: {message}", n + 1);
                failed += 1;
                json!({"id": id, "error": message})
            }
        };
        if writeln!(out, "{result}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() || failed > 0 {
        if failed > 0 {
            eprintln!("bluelight: {failed} line(s) failed");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Triage of one JSON line, or the id (if readable) and what was wrong.
pub fn triage_line(engine: &Engine, line: &str) -> Result<Value, (Value, String)> {
    let parsed: ContactLine = serde_json::from_str(line).map_err(|e| {
        let id = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("id").cloned())
            .unwrap_or(Value::Null);
        (id, format!("cannot read contact: {e}"))
    })?;
    let id = parsed.id.clone().unwrap_or(Value::Null);
    let contact = parsed
        .into_contact()
        .validated(false)
        .map_err(|v| (id.clone(), v.to_string()))?;
    let t = engine.classify_and_ask(&contact);
    Ok(triage_json(id, &t))
}

fn triage_json(id: Value, t: &Triage) -> Value {
    json!({
        "id": id,
        "agency": t.agency.as_str(),
        "lead_agency": t.lead_agency.as_str(),
        "grade": t.grade.number(),
        "incident_type": t.incident_type,
        "incident_type_name": t.incident_type_name,
        "qualifiers": t.qualifiers,
        "referral": t.referral.map(|r| r.as_str()),
        "confidence": (f64::from(t.confidence) * 100.0).round() / 100.0,
        "reasons": t.reasons,
        "needs_confirmation": t.needs_confirmation,
        "next_question": t.next_question.as_ref().map(|q| json!({"field": q.field, "text": q.text})),
    })
}

/// The public texts (`../shared/data/public_texts.jsonl`) as contacts, each with its label from
/// `labels` (lines of `id`, `sha1`, `gold`) when it has one. Refuses a label whose text is gone
/// or changed (its sha1 differs); with `labelled_only`, leaves out texts without a label.
pub fn read_public(
    texts: &Path,
    labels: &Path,
    labelled_only: bool,
) -> Result<Vec<(Contact, Option<Gold>)>, String> {
    #[derive(Deserialize)]
    struct Text {
        id: String,
        sha1: String,
        text: String,
    }
    #[derive(Deserialize)]
    struct Label {
        id: String,
        sha1: String,
        gold: Gold,
    }
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let mut golds: HashMap<String, Label> = HashMap::new();
    for (n, line) in read(labels)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let l: Label = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: {e}", labels.display(), n + 1))?;
        golds.insert(l.id.clone(), l);
    }
    let mut out = Vec::new();
    for (n, line) in read(texts)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let t: Text = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: {e}", texts.display(), n + 1))?;
        let sha1 = sha1_smol::Sha1::from(t.text.as_bytes())
            .digest()
            .to_string();
        if sha1 != t.sha1 {
            return Err(format!(
                "{}:{}: {}: the text does not match its own sha1",
                texts.display(),
                n + 1,
                t.id
            ));
        }
        let gold = match golds.remove(&t.id) {
            Some(l) if l.sha1 != sha1 => {
                return Err(format!(
                    "{}: {} was labelled for another text (sha1 {}, now {sha1}): label it again",
                    labels.display(),
                    t.id,
                    l.sha1
                ));
            }
            Some(l) => Some(l.gold),
            None if labelled_only => continue,
            None => None,
        };
        let mut narrative = t.text;
        let mut end = narrative.len().min(crate::domain::MAX_NARRATIVE_BYTES);
        while !narrative.is_char_boundary(end) {
            end -= 1;
        }
        narrative.truncate(end);
        let contact = Contact {
            contact_id: t.id,
            // No channel: none of these came through one of the centre's, and a channel
            // would teach the model that, say, webchat is where news commentary comes from.
            channel: Channel::Unspecified,
            narrative,
            ..Contact::default()
        };
        out.push((contact, gold));
    }
    if let Some(id) = golds.keys().next() {
        return Err(format!("{}: {id} names no public text", labels.display()));
    }
    Ok(out)
}

/// `bluelight texts`: the public texts as contact lines (with `gold` where labelled), for
/// `triage` or `triage --eval`. Nothing of them is kept in the repository but the labels.
pub(super) fn public_texts(texts: &Path, labels: &Path, labelled_only: bool) -> Result<(), String> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (c, gold) in read_public(texts, labels, labelled_only)? {
        let mut line = json!({
            "id": c.contact_id,
            "channel": c.channel.as_str(),
            "narrative": c.narrative,
        });
        if let Some(g) = gold {
            line["gold"] = json!({"agency": g.agency.as_str(), "grade": g.grade, "incident_type": g.incident_type});
        }
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
