//! Field violations: what is wrong with a request, field by field.

use std::fmt;

/// One thing wrong with one field, in words a client developer can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Dotted path of the field, as in the API, for example `contact.location.lat`.
    pub field: String,
    pub description: String,
}

/// Everything wrong with a request; never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldViolation>);

impl Violations {
    /// A single violation.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        Violations(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// Adds a violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was wrong.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}
