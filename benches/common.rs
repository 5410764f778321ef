//! Seeded inputs shared by the benches: narratives built from caller-like sentences.

#![allow(dead_code)]

use bluelight::domain::{Channel, Contact, Location};

/// The allocator the `bluelight` binary uses, so that the benches measure what it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SENTENCES: &[&str] = &[
    "hello yes I need the police and fire brigade please",
    "there's been a crash on the A12 just past the junction and one of the cars is smoking",
    "the driver is still in the car and I don't think he can get out, the door is all bent in",
    "no one else is hurt I don't think but there's glass everywhere",
    "my neighbour's house, the curtains have been shut for two days and she's not answering",
    "she's in her 80s and lives alone, her dog is barking inside",
    "someone is trying car doors on our street, he's wearing a dark hoodie",
    "I can smell burning coming from the flat upstairs and the smoke alarm is going off",
    "kids have set fire to the bins behind the shops again",
    "my ex is outside shouting and banging on the door, he said he'd kill me",
    "there's a man on the bridge over the river, he's on the wrong side of the railings",
    "we've had fireworks going off every night this week and it's keeping the kids awake",
    "got fired from work today, not an emergency, just want to report my bike stolen",
];

/// A narrative of about `bytes` bytes, the same for the same seed.
pub fn narrative(bytes: usize, seed: u64) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = String::with_capacity(bytes + 128);
    while out.len() < bytes {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let s = SENTENCES[(state >> 33) as usize % SENTENCES.len()];
        if !out.is_empty() {
            out.push_str(". ");
        }
        out.push_str(s);
    }
    out.truncate(bytes.min(out.len()));
    while !out.is_char_boundary(out.len()) {
        out.pop();
    }
    out
}

/// A 999 contact with a narrative of about `bytes` bytes, located by postcode.
pub fn contact(bytes: usize, seed: u64, postcode: &str) -> Contact {
    Contact {
        contact_id: format!("bench-{seed}"),
        channel: Channel::Phone999,
        narrative: narrative(bytes, seed),
        location: Location {
            postcode: postcode.into(),
            ..Default::default()
        },
        ..Default::default()
    }
}
