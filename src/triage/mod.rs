//! Triage: POLICE, FIRE or JOINT, grade, incident type, qualifiers and reasons for a contact.
//!
//! The rules are data (`config/triage.toml` ships as the default) compiled once into an
//! [`Engine`]: a single phrase automaton for narratives and bitsets of facts for conditions.
//! `classify` is pure: no I/O, no clock, no tokio.

mod engine;
pub mod eval;
mod facts;
mod rules;
mod text;

pub use engine::Engine;
pub use rules::{DEFAULT_RULES, RulesError, compile};

impl Engine {
    /// The rules that ship with bluelight.
    pub fn default_rules() -> Engine {
        compile("<built-in triage rules>", DEFAULT_RULES).expect("the shipped rules compile")
    }

    /// Loads and compiles a rules file.
    pub fn load(path: &std::path::Path) -> Result<Engine, RulesError> {
        let name = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| RulesError {
            problems: vec![format!("{name}: cannot read: {e}")],
        })?;
        compile(&name, &source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_compile() {
        if let Err(e) = compile("config/triage.toml", DEFAULT_RULES) {
            panic!("{e}");
        }
    }
}
