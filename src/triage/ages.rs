//! People's ages written as numbers ("my son (13)", "aged 84", "a 6-year-old", "im 13"), read
//! before the rules run: a child or an older person is at more risk, and one builtin fact for
//! each band replaces a phrase for every age in the automaton. A number counts as an age only
//! where its words say so, never a house number, a time, a sum or a distance.

/// The facts an age asserts, by builtin name.
pub const FACTS: &[&str] = &["age.under_14", "age.under_16", "age.over_74"];

/// Words before a number that make it the age of the person speaking or spoken of.
const BEFORE: &[&[u8]] = &[
    b"aged", b"age", b"im", b"i'm", b"i am", b"hes", b"he's", b"shes", b"she's", b"he is",
    b"she is",
];
/// Words after a number that make it an age.
const AFTER: &[&[u8]] = &[
    b"year old",
    b"years old",
    b"yr old",
    b"yrs old",
    b"yo",
    b"year-old",
    b"years-old",
];
/// Words after a number that make it something else, even after "he's" or "aged".
const UNITS: &[&[u8]] = &[
    b"min", b"mins", b"minute", b"minutes", b"hour", b"hours", b"hr", b"hrs", b"mile", b"miles",
    b"mph", b"am", b"pm", b"m", b"km", b"ft", b"feet", b"foot", b"metres", b"meters", b"yards",
    b"day", b"days", b"week", b"weeks", b"month", b"months", b"stone", b"st", b"kg", b"quid",
    b"pounds", b"times", b"of",
];

/// Which of [`FACTS`] the text's ages assert, in its order.
pub fn facts(text: &str) -> [bool; 3] {
    let mut found = [false; 3];
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        // Part of a longer token ("cm1", "10:04", "51.73", "£600", "3rd"): not an age. Only
        // "yo" may follow straight on ("15yo").
        let glued_before = start > 0
            && (b[start - 1].is_ascii_alphanumeric()
                || matches!(b[start - 1], b':' | b'.' | b'/' | 0xa3 | b'$'));
        let glued_after = match b.get(i) {
            Some(c) if c.is_ascii_alphabetic() => !word_at(b, i).eq_ignore_ascii_case(b"yo"),
            Some(b':' | b'/') => true,
            Some(b'.') => b.get(i + 1).is_some_and(u8::is_ascii_digit),
            _ => false,
        };
        if i - start > 3 || glued_before || glued_after {
            continue;
        }
        let Ok(n) = text[start..i].parse::<u32>() else {
            continue;
        };
        if is_age(b, start, i) {
            found[0] |= (1..=13).contains(&n);
            found[1] |= (1..=15).contains(&n);
            found[2] |= (75..=110).contains(&n);
        }
    }
    found
}

/// Whether the number at `b[start..end]` is written as someone's age.
fn is_age(b: &[u8], start: usize, end: usize) -> bool {
    let after = skip(b, end, |c| c == b' ' || c == b'-');
    let next = word_at(b, after);
    if UNITS.iter().any(|u| next.eq_ignore_ascii_case(u)) {
        return false;
    }
    let rest = &b[after..];
    let starts = |w: &[u8]| {
        rest.len() >= w.len()
            && rest[..w.len()].eq_ignore_ascii_case(w)
            && rest.get(w.len()).is_none_or(|c| !c.is_ascii_alphanumeric())
    };
    if AFTER.iter().any(|w| starts(w)) {
        return true;
    }
    // "son (13)", "Mother (91)".
    if start > 0 && b[start - 1] == b'(' && b.get(end) == Some(&b')') {
        return true;
    }
    // "aged 84", "im 13", "she's 91".
    let before = &b[..start];
    let trimmed = before.trim_ascii_end();
    if trimmed.len() == before.len() {
        return false;
    }
    BEFORE.iter().any(|w| {
        trimmed.len() >= w.len()
            && trimmed[trimmed.len() - w.len()..].eq_ignore_ascii_case(w)
            && (trimmed.len() == w.len()
                || !trimmed[trimmed.len() - w.len() - 1].is_ascii_alphanumeric())
    })
}

fn skip(b: &[u8], mut i: usize, what: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && what(b[i]) {
        i += 1;
    }
    i
}

/// The letters of the word starting at `i`.
fn word_at(b: &[u8], i: usize) -> &[u8] {
    let end = skip(b, i, |c| c.is_ascii_alphabetic());
    &b[i..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_read_where_their_words_say_so() {
        for child in [
            "my son (13) was punched",
            "hi im 13. my stepdad hit me",
            "a 6-year-old boy is on his own",
            "she is 9 years old",
            "Tyler, aged 14, not home",
            "my daughter is 15yo",
            "I'm 12 and scared",
        ] {
            assert!(facts(child)[1], "{child}");
        }
        for old in [
            "Mother (91) lives alone",
            "my dad is 84 years old",
            "an 87-year-old man",
            "she's 80 and on her own",
            "Aged 79, dementia",
        ] {
            assert!(facts(old)[2], "{old}");
        }
        assert!(facts("a 10 year old")[0]);
        assert!(!facts("a 15 year old")[0]);
    }

    #[test]
    fn other_numbers_are_no_ages() {
        for text in [
            "flat 12, 84 Station Road",
            "CM1 1AA at 10:04",
            "he's 5 minutes away",
            "she's 2 miles down the road",
            "I'm 80 metres from the car",
            "£90 taken",
            "51.75290, 0.14000",
            "14:30 on the 3rd",
            "number 9 bus",
            "he is 80 mph on the A12",
            "200 years old church",
        ] {
            let b = facts(text);
            assert!(!b[1] && !b[2], "{text}: {b:?}");
        }
    }
}
