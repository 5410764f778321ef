//! Triage: POLICE, FIRE or JOINT, grade, incident type, qualifiers and reasons for a contact.
//!
//! The rules are data (`config/triage.toml` ships as the default) compiled once into an
//! [`Engine`]: a single phrase automaton for narratives and bitsets of facts for conditions.
//! `classify` is pure: no I/O, no clock, no tokio.

mod ages;
mod engine;
pub mod eval;
mod facts;
pub mod learn;
mod machine;
pub mod model;
mod rules;
mod text;

pub use engine::Engine;
use model::Model;
pub use rules::{DEFAULT_RULES, RulesError, compile, warnings};

/// The model trained beside the shipped rules (`bluelight train` writes it).
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../../config/triage.model");

impl Engine {
    /// The rules that ship with bluelight, with the model trained beside them.
    pub fn default_rules() -> Engine {
        let rules =
            compile("<built-in triage rules>", DEFAULT_RULES).expect("the shipped rules compile");
        let model = Model::from_bytes(DEFAULT_MODEL).expect("the shipped model reads");
        rules
            .with_model(model)
            .expect("the shipped model fits the shipped rules")
    }

    /// Loads and compiles a rules file, with the model beside it (the same path with the
    /// extension `.model`) when there is one.
    pub fn load(path: &std::path::Path) -> Result<Engine, RulesError> {
        let name = path.display().to_string();
        let refuse = |what: String| RulesError {
            problems: vec![what],
        };
        let source = std::fs::read_to_string(path)
            .map_err(|e| refuse(format!("{name}: cannot read: {e}")))?;
        let engine = compile(&name, &source)?;
        let model_path = path.with_extension("model");
        match std::fs::read(&model_path) {
            Ok(bytes) => {
                let m = model_path.display();
                let model = Model::from_bytes(&bytes).map_err(|e| refuse(format!("{m}: {e}")))?;
                engine
                    .with_model(model)
                    .map_err(|e| refuse(format!("{m}: {e}")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(engine),
            Err(e) => Err(refuse(format!(
                "{}: cannot read: {e}",
                model_path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last type of a test's rules file: no conditions, no service.
    const NO_SERVICE: &str = "[[type]]\ncode = \"X01\"\nname = \"none\"\nagency = \"NONE\"\ngrade = 4\nreferral = \"OTHER\"\n";

    /// Builtins for the tests below: a cue of `c` ("smoke") and a type for each derived fact.
    fn with_defines(defines: &str) -> String {
        format!(
            "[[cue]]\nfact = \"c\"\nphrases = [\"smoke\"]\n\n{defines}\n\
             [[type]]\ncode = \"F01\"\nname = \"b\"\nagency = \"FIRE\"\ngrade = 1\n\
             when.all = [\"b\"]\n\n{NO_SERVICE}"
        )
    }

    #[test]
    fn a_define_sees_what_a_define_below_it_derives() {
        let contact = crate::domain::Contact {
            narrative: "smoke".into(),
            ..Default::default()
        };
        // b from a stands above a from c: b still holds on c.
        let below = "[[define]]\nfact = \"b\"\nwhen.any = [\"a\"]\n\n\
                     [[define]]\nfact = \"a\"\nwhen.any = [\"c\"]\n";
        let above = "[[define]]\nfact = \"a\"\nwhen.any = [\"c\"]\n\n\
                     [[define]]\nfact = \"b\"\nwhen.any = [\"a\"]\n";
        for defines in [below, above] {
            let engine = compile("t.toml", &with_defines(defines)).expect("compiles");
            let t = engine.classify(&contact);
            assert_eq!(&*t.incident_type, "F01", "{defines}: {:?}", t.reasons);
            assert!(
                t.reasons[0].contains("b (a (c [said \"smoke\"]))"),
                "{:?}",
                t.reasons
            );
        }
        // And a define that rules out what a define below it derives sees it too.
        let none = "[[define]]\nfact = \"b\"\nwhen.any = [\"c\"]\nwhen.none = [\"a\"]\n\n\
                    [[define]]\nfact = \"a\"\nwhen.any = [\"c\"]\n";
        let engine = compile("t.toml", &with_defines(none)).expect("compiles");
        assert_eq!(&*engine.classify(&contact).incident_type, "X01");
    }

    #[test]
    fn defines_reading_each_other_in_a_circle_are_refused() {
        let circle = "[[define]]\nfact = \"a\"\nwhen.any = [\"b\"]\n\n\
                      [[define]]\nfact = \"b\"\nwhen.any = [\"a\", \"c\"]\n";
        let err = match compile("t.toml", &with_defines(circle)) {
            Ok(_) => panic!("a circle compiled"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(
                "t.toml:5: define \"a\": defines \"a\", \"b\" read each other's facts in a circle"
            ),
            "{err}"
        );
    }

    /// The error the shipped rules with `extra` appended compile to, as `file`.
    fn refused(file: &str, extra: &str) -> String {
        match compile(file, &format!("{DEFAULT_RULES}{extra}")) {
            Ok(_) => panic!("{file} compiled"),
            Err(e) => e.to_string(),
        }
    }

    /// A cue of `fire.flames` with these phrases (nothing in them to escape), in TOML.
    fn cue(phrases: &[String]) -> String {
        let quoted: Vec<String> = phrases.iter().map(|p| format!("\"{p}\"")).collect();
        format!(
            "\n[[cue]]\nfact = \"fire.flames\"\nphrases = [{}]\n",
            quoted.join(", ")
        )
    }

    #[test]
    fn too_many_rules_are_refused_with_a_clear_message() {
        let extra: String = (0..100)
            .map(|i| format!("\n[[qualifier]]\nname = \"q{i}\"\nwhen.any = [\"fire.flames\"]\n"))
            .collect();
        let err = refused("many.toml", &extra);
        assert!(
            err.contains("defines, types, raises and qualifiers; at most 256 together"),
            "{err}"
        );
    }

    #[test]
    fn phrases_with_too_many_distinct_characters_are_refused_with_a_clear_message() {
        // Letters from every two-byte UTF-8 lead byte: their bytes, with the continuation
        // bytes and ASCII's, make more byte classes than the automaton's table holds.
        let letters: Vec<String> = (0xC3u32..=0xDF)
            .flat_map(|lead| (0x80u32..0xC0).map(move |cont| ((lead & 0x1F) << 6) | (cont & 0x3F)))
            .filter_map(char::from_u32)
            .filter(|c| c.is_alphabetic() && c.to_lowercase().eq([*c]))
            .map(String::from)
            .collect();
        // On a rules file of their own, with every ASCII letter and digit beside them: the
        // shipped phrases' states are not this test's concern.
        let letters: Vec<String> = letters
            .into_iter()
            .chain(["abcdefghijklmnopqrstuvwxyz 0123456789".to_string()])
            .collect();
        let rules = format!("{}\n{NO_SERVICE}", cue(&letters));
        let err = match compile("wide.toml", &rules) {
            Ok(_) => panic!("wide.toml compiled"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("distinct byte values in their words (a letter outside ASCII takes several); at most 124 fit"), "{err}");
    }

    #[test]
    fn phrases_that_make_too_many_automaton_states_are_refused_with_a_clear_message() {
        let phrases: Vec<String> = (0..4000).map(|i| format!("qzx{i} wvk{i}")).collect();
        let err = refused("long.toml", &cue(&phrases));
        assert!(err.contains("automaton states; at most 32768 fit"), "{err}");
    }

    #[test]
    fn the_shipped_rules_compile() {
        if let Err(e) = compile("config/triage.toml", DEFAULT_RULES) {
            panic!("{e}");
        }
    }

    #[test]
    fn the_shipped_model_was_trained_beside_the_shipped_rules() {
        let engine = Engine::default_rules();
        assert!(
            engine.model_matches_rules(),
            "config/triage.model was trained beside other rules: run `bluelight train`"
        );
    }

    #[test]
    fn a_model_file_reads_back_as_it_was_written() {
        let model = Model::from_bytes(DEFAULT_MODEL).unwrap();
        assert_eq!(model.to_bytes(), DEFAULT_MODEL);
        let cut = &DEFAULT_MODEL[..DEFAULT_MODEL.len() - 1];
        let err = Model::from_bytes(cut).err().unwrap();
        assert!(
            err.contains("bytes of weights; its header implies"),
            "{err}"
        );
        let err = Model::from_bytes(b"something else\n{}\n").err().unwrap();
        assert!(err.contains("not a model file"), "{err}");
    }
}
