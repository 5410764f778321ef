//! Machine-written contacts read by their fields: the eCall minimum set of data (MSD) as a
//! gateway renders it, and alarm receiving centre (ARC) messages. Gateways and ARCs each write
//! their own way (`activation=automatic`, `automaticActivation: true`, `AUTO=1`, `eCall (manual)`;
//! `zones 3 and 4`, `02:14`), so fields are found by key words and the values next to them on
//! the normalised text, not by one fixed layout. What is found becomes builtin facts
//! (`ecall.automatic`, `ecall.no_voice`, `alarm_centre.night`, ...) before the rules run.

use super::text::normalise;
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
];

const AUTOMATIC: usize = 0;
const MANUAL: usize = 1;
const TEST: usize = 2;
const NO_VOICE: usize = 3;
const VOICE: usize = 4;
const NIGHT: usize = 5;
const ZONES: usize = 6;

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
    let mut norm = Vec::new();
    normalise(text, &mut norm);
    let mut spans = Vec::new();
    let mut start = 0;
    for i in 0..=norm.len() {
        if i == norm.len() || norm[i] == b' ' || norm[i] == b'.' {
            if i > start {
                spans.push((start, i));
            }
            start = i + 1;
        }
    }
    (norm, spans)
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
    if silent && !speaks {
        out.push(NO_VOICE);
    } else if speaks {
        out.push(VOICE);
    } else if voice.is_empty() && automatic == Some(true) {
        // No word of a voice channel at all from an automatic trigger: nobody answered.
        out.push(NO_VOICE);
    }
}

fn alarm_centre(text: &str, out: &mut Vec<usize>) {
    // A time of day: "02:14", "0214 hrs", "at 23.40".
    let bytes = text.as_bytes();
    let mut night = false;
    for i in 0..bytes.len().saturating_sub(4) {
        let d = |j: usize| {
            bytes
                .get(j)
                .filter(|b| b.is_ascii_digit())
                .map(|b| b - b'0')
        };
        let before_ok = i == 0 || !bytes[i - 1].is_ascii_digit();
        if let (true, Some(h1), Some(h2), Some(b':' | b'.'), Some(m1), Some(_)) = (
            before_ok,
            d(i),
            d(i + 1),
            bytes.get(i + 2).copied(),
            d(i + 3),
            d(i + 4),
        ) {
            let hour = h1 * 10 + h2;
            if m1 < 6 && hour < 24 && !(6..22).contains(&hour) {
                night = true;
            }
        }
    }
    if night {
        out.push(NIGHT);
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
        assert!(f.is_empty(), "{f:?}");
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
