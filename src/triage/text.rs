//! Reading narratives as people write them.
//!
//! A narrative is normalised once (lower case, apostrophes dropped so "isn't" and "isnt" are one
//! word, every other non-alphanumeric a space, clause punctuation kept as a `.` word), then one
//! Aho-Corasick automaton (daachorse's double array, compact enough to stay in cache with a
//! couple of thousand phrases) finds every phrase of the rules file in a single pass. Phrases
//! match whole words only. Then:
//!
//! - a cue inside an *ignore* phrase is a red herring ("bonfire night", "smoking weed"), and
//!   one inside a longer *exclusive* cue is that cue only ("fire alarm" is not a fire);
//! - a cue shortly after a *negation* in the same clause is negated ("no one's trapped",
//!   "isn't on fire"), unless an *uncertainty* phrase voids the negation ("not sure if anyone's
//!   inside"): an unknown never lowers priority.
//!
//! Linear in the text, no backtracking: there is no input that makes it slow.

use daachorse::DoubleArrayAhoCorasick;

/// What a phrase of the automaton means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhraseKind {
    /// Asserts fact `fact`; an `exclusive` cue hides shorter cues inside it ("fire alarm" is
    /// not a "fire").
    Cue { fact: usize, exclusive: bool },
    /// A red herring: cues inside it are dropped.
    Ignore,
    /// Negates a cue that follows within the window, in the same clause.
    Negation,
    /// Voids a negation it overlaps or follows ("not sure", "don't know if").
    Uncertain,
    /// Ends a clause for negation ("but", "and").
    Break,
}

/// A phrase found in a narrative: byte span in the normalised text and the phrase's index.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub phrase: usize,
}

/// A cue found in a narrative, and what became of it.
#[derive(Clone, Copy, Debug)]
pub struct CueHit {
    pub fact: usize,
    pub phrase: usize,
    /// The negation phrase that cancelled it, if any.
    pub negated_by: Option<usize>,
}

/// The compiled phrase automaton.
pub struct Scanner {
    automaton: DoubleArrayAhoCorasick<u32>,
    /// Kind of each phrase, by pattern index.
    kinds: Vec<PhraseKind>,
    /// The normalised text of each phrase, for reasons.
    phrases: Vec<String>,
    /// Words allowed between a negation and the cue it negates.
    window: usize,
    /// Length of the longest negation, uncertainty or break phrase.
    longest_aux: usize,
}

impl Scanner {
    /// Builds the automaton. Phrases must already be normalised with [`normalise`].
    pub fn new(phrases: Vec<(String, PhraseKind)>, window: usize) -> Result<Scanner, String> {
        let automaton = DoubleArrayAhoCorasick::with_values(
            phrases
                .iter()
                .enumerate()
                .map(|(i, (p, _))| (p.as_bytes(), i as u32)),
        )
        .map_err(|e| format!("cannot build phrase automaton: {e}"))?;
        let longest_aux = phrases
            .iter()
            .filter(|(_, k)| {
                matches!(
                    k,
                    PhraseKind::Negation | PhraseKind::Uncertain | PhraseKind::Break
                )
            })
            .map(|(p, _)| p.len())
            .max()
            .unwrap_or(0);
        let (texts, kinds) = phrases.into_iter().unzip();
        Ok(Scanner {
            automaton,
            kinds,
            phrases: texts,
            window,
            longest_aux,
        })
    }

    /// The normalised text of phrase `n`.
    pub fn phrase(&self, n: usize) -> &str {
        &self.phrases[n]
    }

    /// Finds the cues in `text` (already normalised) and reports each with its fate.
    pub fn scan(&self, text: &[u8], found: &mut Vec<Found>, mut cue: impl FnMut(CueHit)) {
        found.clear();
        let bytes = text;
        for m in self.automaton.find_overlapping_iter(text) {
            let (s, e) = (m.start(), m.end());
            let word_start = s == 0 || matches!(bytes[s - 1], b' ' | b'.');
            let word_end = e == bytes.len() || matches!(bytes[e], b' ' | b'.');
            if word_start && word_end {
                found.push(Found {
                    start: s,
                    end: e,
                    phrase: m.value() as usize,
                });
            }
        }
        // Overlapping search reports matches by end position. Order by start, longest first, so a
        // mask is seen before the shorter cues inside it.
        found.sort_unstable_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        // Masks (ignore phrases, exclusive cues) seen so far: the furthest end, and the earliest
        // start reaching it. A cue is masked by a strictly longer mask around it.
        let (mut mask_end, mut mask_start) = (0usize, usize::MAX);
        // End of the latest negation seen: a cue further than a few words after it cannot be
        // negated, so most cues skip the look-back.
        let mut last_negation_end: Option<usize> = None;
        let reach = 16 * (self.window + 1) + self.longest_aux;
        for (i, f) in found.iter().enumerate() {
            let kind = self.kinds[f.phrase];
            let masked = mask_start <= f.start
                && (mask_end > f.end || (mask_end == f.end && mask_start < f.start));
            if matches!(
                kind,
                PhraseKind::Ignore
                    | PhraseKind::Cue {
                        exclusive: true,
                        ..
                    }
            ) && (f.end > mask_end || (f.end == mask_end && f.start < mask_start))
            {
                (mask_end, mask_start) = (f.end, f.start);
            }
            if kind == PhraseKind::Negation {
                last_negation_end = Some(f.end);
            }
            let PhraseKind::Cue { fact, .. } = kind else {
                continue;
            };
            // An exclusive cue can be masked only by a longer mask, which the check above did
            // before recording this one.
            if masked {
                continue;
            }
            let negated_by = match last_negation_end {
                Some(end) if end <= f.start && f.start - end <= reach => {
                    self.negation_before(text, found, i)
                }
                _ => None,
            };
            cue(CueHit {
                fact,
                phrase: f.phrase,
                negated_by,
            });
        }
    }

    /// The negation that governs the cue `found[i]`, if one does. Looks only at the few words
    /// before the cue, so a scan stays linear in the text.
    fn negation_before(&self, text: &[u8], found: &[Found], i: usize) -> Option<usize> {
        let cue = found[i];
        let bytes = text;
        // The earliest byte a governing negation may end at: `window` words back, and never
        // before the start of the clause.
        let mut boundary = cue.start;
        let mut spaces = 0;
        while boundary > 0 {
            if bytes[boundary - 1] == b' ' {
                spaces += 1;
                if spaces > self.window + 1 {
                    break;
                }
            }
            if bytes[boundary - 1] == b'.' {
                break;
            }
            boundary -= 1;
        }
        let lo = boundary.saturating_sub(self.longest_aux);
        let near = found[..i].iter().rev().take_while(|f| f.start >= lo);
        let neg = near
            .clone()
            .filter(|f| {
                self.kinds[f.phrase] == PhraseKind::Negation
                    && f.end <= cue.start
                    && f.end >= boundary
            })
            .max_by_key(|f| f.end)?;
        let voided = near.clone().any(|g| match self.kinds[g.phrase] {
            PhraseKind::Break => g.start >= neg.end && g.end <= cue.start,
            PhraseKind::Uncertain => {
                (g.start >= neg.end && g.end <= cue.start)
                    || (g.start <= neg.start && g.end >= neg.end)
            }
            _ => false,
        });
        (!voided).then_some(neg.phrase)
    }
}

/// The normaliser's output for each ASCII byte: the lower-case letter or digit itself, `.` for
/// clause punctuation, a space for any other separator, and 0 for a byte to drop (apostrophes).
const fn ascii_map() -> [u8; 128] {
    let mut t = [b' '; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else if c == b'\'' || c == b'`' {
            0
        } else if matches!(c, b'.' | b',' | b'!' | b'?' | b';' | b':' | b'\n') {
            b'.'
        } else {
            b' '
        };
        b += 1;
    }
    t
}

static ASCII: [u8; 128] = ascii_map();

/// Normalises text for matching into `out`: lower case; apostrophes dropped; letters and digits
/// kept; clause punctuation becomes one `.`; any other run of separators one space. For example
/// `"No-one's TRAPPED!! Isn't it?"` becomes `"no ones trapped.isnt it"`. One table lookup per
/// ASCII byte, written by index into a buffer sized up front; other characters take the Unicode
/// path. The result is UTF-8.
pub fn normalise(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    // Lower-casing can lengthen a non-ASCII character, to at most three bytes per input byte.
    let room = if text.is_ascii() {
        bytes.len() + 1
    } else {
        bytes.len() * 3 + 4
    };
    out.clear();
    out.resize(room, 0);
    // The separator owed before the next word: 0 none, b' ' a space, b'.' a clause break. A
    // space never downgrades a clause break: b'.' | b' ' == b'.'.
    let mut owed = 0u8;
    let mut len = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 128 {
            i += 1;
            match ASCII[usize::from(b)] {
                0 => {}
                b' ' => owed |= b' ',
                b'.' => owed = b'.',
                letter => {
                    if owed != 0 && len > 0 {
                        out[len] = owed;
                        len += 1;
                    }
                    owed = 0;
                    out[len] = letter;
                    len += 1;
                }
            }
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        i += ch.len_utf8();
        if ch.is_alphanumeric() {
            if owed != 0 && len > 0 {
                out[len] = owed;
                len += 1;
            }
            owed = 0;
            let mut buf = [0u8; 4];
            for l in ch.to_lowercase() {
                let e = l.encode_utf8(&mut buf).as_bytes();
                out[len..len + e.len()].copy_from_slice(e);
                len += e.len();
            }
        } else if !matches!(ch, '\u{2019}' | '\u{2018}') {
            owed |= b' ';
        }
    }
    out.truncate(len);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = Vec::new();
        normalise(s, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn normalising_folds_case_apostrophes_and_punctuation() {
        assert_eq!(
            norm("No-one's TRAPPED!! Isn't it?"),
            "no ones trapped.isnt it"
        );
        assert_eq!(norm("  smoke,cumin   out "), "smoke.cumin out");
        assert_eq!(norm("Fire , HELP"), "fire.help");
        assert_eq!(norm("Ça brûle — vite"), "ça brûle vite");
        assert_eq!(norm("...!"), "");
        assert_eq!(norm(""), "");
    }
}
