//! Machine-written contacts read by their fields: the eCall minimum set of data (MSD) as a
//! gateway renders it, and alarm receiving centre (ARC) messages. Gateways and ARCs each write
//! their own way (`activation=automatic`, `automaticActivation: true`, `AUTO=1`, `eCall (manual)`;
//! `zones 3 and 4`, `02:14`), so fields are found by key words and the values next to them on
//! the normalised text, not by one fixed layout. What is found becomes builtin facts
//! (`ecall.automatic`, `ecall.no_voice`, `alarm_centre.night`, `alarm_centre.fire_signal`, ...)
//! before the rules run.

use super::text::{Words, find_words};
use crate::domain::{Channel, Contact};

/// The facts a machine format can assert, by builtin name.
pub const FACTS: &[&str] = &[
    "ecall.automatic",
    "ecall.manual",
    "ecall.test",
    "ecall.no_voice",
    "ecall.voice",
    "alarm_centre.night",
    "alarm_centre.zones_multiple",
    "alarm_centre.day",
    "alarm_centre.fire_signal",
    "alarm_centre.confirmed",
];

const AUTOMATIC: usize = 0;
const MANUAL: usize = 1;
const TEST: usize = 2;
const NO_VOICE: usize = 3;
const VOICE: usize = 4;
const NIGHT: usize = 5;
const ZONES: usize = 6;
const DAY: usize = 7;
const FIRE_SIGNAL: usize = 8;
const CONFIRMED: usize = 9;

/// Words naming a fire signal, and words naming a signal of another kind (which win: "smoke"
/// in an intruder message is a zone's name or a guess, not the alarm).
const FIRE_SIGNALS: &[&str] = &["fire", "afa", "smoke", "heat", "sprinkler", "sprinklers"];
const OTHER_SIGNALS: &[&str] = &[
    "intruder",
    "int",
    "burglar",
    "burglary",
    "pir",
    "panic",
    "pa",
    "holdup",
    "hold",
    "attack",
    "duress",
    "gas",
    "co",
    "flood",
    "water",
    "lift",
    "fault",
    "technical",
];
/// Words that void a confirmation when they come just before it ("not confirmed", "awaiting
/// confirmation") or just after it ("confirmed false alarm", "confirmation: none").
const UNCONFIRMED_BEFORE: &[&str] = &[
    "not", "no", "un", "awaiting", "without", "unable", "nothing",
];
const UNCONFIRMED_AFTER: &[&str] = &[
    "none",
    "no",
    "nil",
    "n",
    "false",
    "pending",
    "awaited",
    "not",
    "nothing",
    "all",
    "clear",
    "fault",
    "faulty",
    "accidental",
    "unwanted",
    "test",
];
/// Values that say yes or no after a key.
const YES: &[&str] = &["true", "1", "y", "yes", "automatic", "auto", "on"];
const NO: &[&str] = &["false", "0", "n", "no", "manual", "off"];

/// What an operator's note on the voice channel says when nobody answers coherently.
const SILENT: &[&str] = &[
    "no response",
    "no answer",
    "no voice",
    "silent",
    "silence",
    "line open",
    "open line",
    "no words",
    "unanswered",
    "no reply",
    "nothing heard",
    "no speech",
    "groaning",
    "moaning",
    "no contact",
    "not responding",
    "unresponsive",
    "no one speaking",
    "nobody speaking",
    "no verbal",
    "breathing only",
    "heavy breathing",
    "line dead",
    "call dropped",
    "no coherent",
];
/// What it says when someone answers but not coherently (policy 18: an automatic trigger with no
/// coherent voice answer), which outweighs their words.
const INCOHERENT: &[&str] = &[
    "confused",
    "incoherent",
    "slurred",
    "slurring",
    "not making sense",
    "disorientated",
    "disoriented",
    "dazed",
    "mumbling",
    "not coherent",
];
/// What it says when someone does answer.
const SPEAKS: &[&str] = &[
    "says",
    "said",
    "states",
    "stated",
    "answers",
    "answered",
    "reports",
    "confirms",
    "confirmed",
    "tells",
    "told",
    "speaking",
    "replies",
    "replied",
    "voice ok",
    "caller",
];

/// The machine-format facts of a contact, as indexes into [`FACTS`].
pub fn facts(contact: &Contact) -> Vec<usize> {
    let mut out = Vec::new();
    match contact.channel {
        Channel::Ecall => ecall(&contact.narrative, &mut out),
        Channel::AlarmReceivingCentre => alarm_centre(&contact.narrative, &mut out),
        _ => {}
    }
    out
}

/// The normalised words of a text, clause breaks dropped (a machine message's punctuation
/// separates fields, not clauses).
fn words(text: &str) -> (Vec<u8>, Vec<(usize, usize)>) {
    let (mut buf, mut words) = (Vec::new(), Words::default());
    find_words(text, &mut buf, &mut words);
    (buf, words.spans)
}

fn contains_phrase(words: &[&str], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    words.windows(p.len()).any(|w| w == p.as_slice())
}

fn ecall(text: &str, out: &mut Vec<usize>) {
    let (norm, spans) = words(text);
    let all: Vec<&str> = spans
        .iter()
        .map(|&(a, b)| std::str::from_utf8(&norm[a..b]).unwrap_or(""))
        .collect();
    // The data set comes before the operator's note on the voice channel.
    let voice_at = all
        .iter()
        .position(|w| matches!(*w, "voice" | "operator" | "voicechannel"))
        .unwrap_or(all.len());
    let (data, voice) = all.split_at(voice_at);
    let mut automatic = None;
    for (i, w) in data.iter().enumerate() {
        let key = matches!(
            *w,
            "automaticactivation" | "automatic" | "auto" | "activation"
        ) || (*w == "activation" && i > 0 && data[i - 1] == "auto");
        if key {
            // The value right after the key (skipping a second key word: "auto activation no").
            let value = data[i + 1..]
                .iter()
                .find(|v| !matches!(**v, "activation" | "activated" | "type" | "ecall"));
            match value {
                Some(v) if NO.contains(v) => automatic = Some(false),
                Some(v) if YES.contains(v) => automatic = automatic.or(Some(true)),
                _ if *w != "activation" => automatic = automatic.or(Some(true)),
                _ => {}
            }
        }
        if *w == "manual" || *w == "manually" {
            automatic = Some(false);
        }
        if matches!(*w, "test" | "testcall")
            && data
                .get(i + 1)
                .is_some_and(|v| YES.contains(v) && !NO.contains(v))
        {
            out.push(TEST);
        }
    }
    match automatic {
        Some(true) => out.push(AUTOMATIC),
        Some(false) => out.push(MANUAL),
        None => {}
    }
    let silent = SILENT.iter().any(|p| contains_phrase(voice, p));
    let speaks = SPEAKS.iter().any(|p| contains_phrase(voice, p))
        || text.contains('\'')
        || text.contains('"');
    let incoherent = INCOHERENT.iter().any(|p| contains_phrase(voice, p));
    if (silent && !speaks) || incoherent {
        out.push(NO_VOICE);
    } else if speaks {
        out.push(VOICE);
    } else if voice.is_empty() && automatic == Some(true) {
        // No word of a voice channel at all from an automatic trigger: nobody answered.
        out.push(NO_VOICE);
    }
}

fn alarm_centre(text: &str, out: &mut Vec<usize>) {
    // A time of day: "02:14", "23.40", "0214 hrs", "1342hrs".
    let bytes = text.as_bytes();
    let (mut night, mut day) = (false, false);
    let digit = |j: usize| {
        bytes
            .get(j)
            .filter(|b| b.is_ascii_digit())
            .map(|b| b - b'0')
    };
    for i in 0..bytes.len().saturating_sub(3) {
        if i > 0 && bytes[i - 1].is_ascii_digit() {
            continue;
        }
        let (Some(h1), Some(h2)) = (digit(i), digit(i + 1)) else {
            continue;
        };
        let minutes_at = match bytes.get(i + 2) {
            Some(b':' | b'.') => i + 3,
            // Four digits then "hrs": the byte after the digits is a character boundary.
            _ if digit(i + 2).is_some() && digit(i + 3).is_some() && digit(i + 4).is_none() => {
                let rest = text[i + 4..].trim_start().as_bytes();
                if !rest
                    .get(..3)
                    .is_some_and(|r| r.eq_ignore_ascii_case(b"hrs"))
                {
                    continue;
                }
                i + 2
            }
            _ => continue,
        };
        if let (Some(m1), Some(_)) = (digit(minutes_at), digit(minutes_at + 1)) {
            let hour = h1 * 10 + h2;
            if m1 < 6 && hour < 24 {
                if (6..22).contains(&hour) {
                    day = true;
                } else {
                    night = true;
                }
            }
        }
    }
    // Zones: "zone 3", "zones 3 and 4", "z4", "2nd zone", "second zone", "two zones".
    let (norm, spans) = words(text);
    let all: Vec<&str> = spans
        .iter()
        .map(|&(a, b)| std::str::from_utf8(&norm[a..b]).unwrap_or(""))
        .collect();
    let mut zones: Vec<&str> = Vec::new();
    let mut multiple = false;
    for (i, w) in all.iter().enumerate() {
        if let Some(n) = w
            .strip_prefix('z')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            && !zones.contains(&n)
        {
            zones.push(n);
        }
        if matches!(*w, "zone" | "zones") {
            for v in all[i + 1..].iter().take(5) {
                if v.bytes().all(|b| b.is_ascii_digit()) {
                    if !zones.contains(v) {
                        zones.push(v);
                    }
                } else if !matches!(*v, "and" | "then" | "also" | "plus" | "to") {
                    break;
                }
            }
        }
        if matches!(
            *w,
            "second"
                | "2nd"
                | "two"
                | "multiple"
                | "several"
                | "sequential"
                | "further"
                | "another"
        ) && all.get(i + 1).is_some_and(|v| {
            matches!(
                *v,
                "zone" | "zones" | "detector" | "detectors" | "sensor" | "sensors"
            )
        }) {
            multiple = true;
        }
    }
    if multiple || zones.len() >= 2 {
        out.push(ZONES);
    }
    // Without a time, the words of one: "overnight", "this morning".
    if !night && !day {
        night = all
            .iter()
            .any(|w| matches!(*w, "night" | "overnight" | "nighttime" | "midnight"));
        day = !night
            && all
                .iter()
                .any(|w| matches!(*w, "daytime" | "morning" | "afternoon" | "lunchtime"));
    }
    if night {
        out.push(NIGHT);
    } else if day {
        out.push(DAY);
    }
    if all.iter().any(|w| FIRE_SIGNALS.contains(w))
        && !all.iter().any(|w| OTHER_SIGNALS.contains(w))
    {
        out.push(FIRE_SIGNAL);
    }
    let confirmed = all.iter().enumerate().any(|(i, w)| {
        matches!(
            *w,
            "confirmed" | "confirms" | "confirmation" | "verified" | "genuine"
        ) && !all[i.saturating_sub(2)..i]
            .iter()
            .any(|v| UNCONFIRMED_BEFORE.contains(v))
            && !all[i + 1..]
                .iter()
                .take(2)
                .any(|v| UNCONFIRMED_AFTER.contains(v))
    });
    if confirmed {
        out.push(CONFIRMED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(channel: Channel, text: &str) -> Vec<&'static str> {
        let c = Contact {
            channel,
            narrative: text.into(),
            ..Contact::default()
        };
        facts(&c).into_iter().map(|i| FACTS[i]).collect()
    }

    #[test]
    fn ecall_activation_is_read_however_the_gateway_writes_it() {
        for (text, want) in [
            (
                "activation=automatic; testCall=false; voice: no response",
                "ecall.automatic",
            ),
            (
                "automaticActivation: true\ntestCall: false\nvoice: line open, silent",
                "ecall.automatic",
            ),
            (
                "AUTO=1 TEST=0 VEH=M1 VOICE: nothing heard",
                "ecall.automatic",
            ),
            (
                "eCall (manual) - van, 1 person. voice: 'I pressed it by mistake'",
                "ecall.manual",
            ),
            (
                "Auto activation: NO | Test: NO | Voice: driver says all fine",
                "ecall.manual",
            ),
            (
                "AUTOMATIC=TRUE TEST=FALSE VOICE: rider answers, says he is fine",
                "ecall.automatic",
            ),
        ] {
            assert!(
                found(Channel::Ecall, text).contains(&want),
                "{text}: {:?}",
                found(Channel::Ecall, text)
            );
        }
    }

    #[test]
    fn ecall_voice_channel_tells_silence_from_an_answer() {
        assert!(
            found(Channel::Ecall, "auto=1 voice: no response, line open, hiss")
                .contains(&"ecall.no_voice")
        );
        assert!(
            found(
                Channel::Ecall,
                "activation: automatic | VOICE: operator hears groaning, no words"
            )
            .contains(&"ecall.no_voice")
        );
        let answered = found(
            Channel::Ecall,
            "activation manual. Voice: driver says 'tiny bump, I'm fine'",
        );
        assert!(
            answered.contains(&"ecall.voice") && !answered.contains(&"ecall.no_voice"),
            "{answered:?}"
        );
        // Words, but no coherent answer.
        let confused = found(
            Channel::Ecall,
            "eCall automatic | petrol | 1 occ | Voice: elderly female, confused - 'where am I?'",
        );
        assert!(confused.contains(&"ecall.no_voice"), "{confused:?}");
        assert!(
            found(
                Channel::Ecall,
                "testCall=true activation=manual voice: test call"
            )
            .contains(&"ecall.test")
        );
        assert!(!found(Channel::Ecall, "testCall=false activation=manual").contains(&"ecall.test"));
    }

    #[test]
    fn alarm_centre_messages_give_the_signal_the_time_and_a_confirmation() {
        for (text, want) in [
            (
                "AFA | school | z4 | 1342 hrs | unconfirmed",
                "alarm_centre.day",
            ),
            (
                "FIRE signal, offices, 0215hrs, keyholder en route",
                "alarm_centre.night",
            ),
            (
                "smoke detector zone 2, unoccupied overnight",
                "alarm_centre.night",
            ),
            (
                "fire alarm, warehouse, 10:05, fire confirmed by staff",
                "alarm_centre.confirmed",
            ),
            (
                "Heat detector, zone 6. Confirmation: keyholder sees smoke",
                "alarm_centre.confirmed",
            ),
        ] {
            let f = found(Channel::AlarmReceivingCentre, text);
            assert!(
                f.contains(&want) && f.contains(&"alarm_centre.fire_signal"),
                "{text}: {f:?}"
            );
        }
        for text in [
            "fire alarm, offices, 14:10, not confirmed",
            "AFA, shop, awaiting confirmation",
            "Fire, school, 11:00, caretaker confirmed false alarm, burnt toast",
            "Fire alarm, confirmation: none",
        ] {
            let f = found(Channel::AlarmReceivingCentre, text);
            assert!(!f.contains(&"alarm_centre.confirmed"), "{text}: {f:?}");
        }
        // Another kind of signal wins over a word of fire.
        let f = found(
            Channel::AlarmReceivingCentre,
            "INTRUDER, zone 3 'fire exit door'",
        );
        assert!(!f.contains(&"alarm_centre.fire_signal"), "{f:?}");
        // As do the abbreviations operators use: INT (intruder), PA (personal attack).
        for text in [
            "INT / single zone. Offices. 01:15. Z8 rear fire exit door contact",
            "PA activation, shop, 14:20, staff room by the fire door",
        ] {
            let f = found(Channel::AlarmReceivingCentre, text);
            assert!(!f.contains(&"alarm_centre.fire_signal"), "{text}: {f:?}");
        }
    }

    #[test]
    fn alarm_centre_messages_give_night_and_several_zones() {
        let f = found(
            Channel::AlarmReceivingCentre,
            "FIRE | warehouse | Zone 3 then zone 4 | 02:14 | no keyholder",
        );
        assert!(
            f.contains(&"alarm_centre.night") && f.contains(&"alarm_centre.zones_multiple"),
            "{f:?}"
        );
        let f = found(
            Channel::AlarmReceivingCentre,
            "Fire alarm at office, zone 3 kitchen, 11:42, no answer on site",
        );
        assert_eq!(f, ["alarm_centre.day", "alarm_centre.fire_signal"]);
        assert!(
            found(
                Channel::AlarmReceivingCentre,
                "intruder, second zone activated"
            )
            .contains(&"alarm_centre.zones_multiple")
        );
        // Other channels are people's own words, not fields.
        assert!(
            found(
                Channel::Phone999,
                "automatic activation, no response at 02:14"
            )
            .is_empty()
        );
    }
}
