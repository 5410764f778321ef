//! The learned second opinion: multinomial logistic regression over hashed features of a
//! contact, with one head for the incident type and one for the grade.
//!
//! The features are the narrative's words, word pairs, words after a negation and the stems
//! of longer words (their first five letters), the channel, the online category, the
//! structured answers, and what the rules found (their facts and their type), so the model
//! learns where the rules go wrong as well as what the words say. `bluelight train` fits it on the training corpus and writes it beside the
//! rules (`config/triage.model`); it is loaded and reloaded with them. Training is deterministic
//! for a given seed and corpus, so the committed file can be rebuilt and compared byte for byte.
//!
//! The file: one line `bluelight-model 1`, one line of JSON (the [`Header`]), then the weights as
//! signed bytes, type head then grade head, row by feature bucket.

use serde::{Deserialize, Serialize};

use super::text::{Words, find_words};
use crate::domain::{Agency, Contact};

/// Number of grades the grade head tells apart (1..=4).
pub const GRADES: usize = 4;

/// The first line of a model file.
const MAGIC: &str = "bluelight-model 1";

/// Whether a word negates the few words after them in the same clause.
fn is_negation(word: &[u8]) -> bool {
    // Most words are ruled out by their first letter.
    matches!(
        word.first(),
        Some(b'n' | b'w' | b'i' | b'a' | b'd' | b'h' | b'c')
    ) && matches!(
        word,
        b"no"
            | b"not"
            | b"nobody"
            | b"noone"
            | b"none"
            | b"nothing"
            | b"never"
            | b"without"
            | b"isnt"
            | b"arent"
            | b"wasnt"
            | b"werent"
            | b"dont"
            | b"doesnt"
            | b"didnt"
            | b"hasnt"
            | b"havent"
            | b"cant"
            | b"cannot"
            | b"wont"
            | b"nowt"
            | b"aint"
    )
}
/// How many letters of a longer word make its stem feature.
const STEM: usize = 5;
/// How many words after a negation it reaches.
const NEGATION_REACH: usize = 3;

/// How the rules' decision and the model's opinion are combined: chosen by `bluelight train`
/// on the development part of the corpus, and kept in the model file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Knobs {
    /// A rules decision with confidence below this is weak evidence.
    pub weak_rules_below: f32,
    /// The model decides the type over weak rules when its top type is at least this likely.
    pub take_type_at: f32,
    /// The model decides the type over any rules when its top type is at least this likely
    /// and names another agency.
    pub override_at: f32,
    /// The model raises the grade to 1 when it puts grade 1 at least this likely.
    pub raise_to_1_at: f32,
    /// The model raises the grade by one step when the more urgent grades are at least this
    /// likely together.
    pub raise_one_at: f32,
    /// The model lowers a grade 2 or 3 of a type the rules keep when the
    /// less urgent grades are at least this likely together. It never lowers a grade 1.
    #[serde(default = "never")]
    pub lower_at: f32,
}

/// A knob's value that never lets the model act.
fn never() -> f32 {
    2.0
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            weak_rules_below: 0.7,
            take_type_at: 0.5,
            override_at: 0.9,
            raise_to_1_at: 0.5,
            raise_one_at: 0.8,
            lower_at: never(),
        }
    }
}

/// What the model file says about itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// log2 of the number of feature buckets.
    pub bits: u32,
    /// The incident type codes of the type head, in class order.
    pub types: Vec<String>,
    pub type_scale: f32,
    pub grade_scale: f32,
    pub type_bias: Vec<f32>,
    pub grade_bias: Vec<f32>,
    /// How often each type came with each grade in training, smoothed: P(grade | type).
    pub type_grades: Vec<[f32; GRADES]>,
    pub knobs: Knobs,
    /// How it was trained, for whoever rebuilds it.
    pub training: Training,
}

/// The training run a model came from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Training {
    pub seed: u64,
    pub epochs: u32,
    /// Runs averaged (1 in files written before runs were).
    #[serde(default = "one_run")]
    pub runs: u32,
    pub examples: usize,
    /// FNV-1a of the rules source the features were taken with: a model is only as good as the
    /// rules it learned beside.
    pub rules_hash: String,
}

fn one_run() -> u32 {
    1
}

/// A trained model, its weights quantised to signed bytes.
pub struct Model {
    pub header: Header,
    /// One row a bucket, `stride` long: the type head's weights, then the grade head's, then
    /// zeros to a multiple of [`LANES`], so that a feature costs one row read in whole vector
    /// steps. (The file keeps the heads apart.)
    rows: Vec<i8>,
    stride: usize,
}

/// Accumulators added in one vector step.
const LANES: usize = 16;

/// The model's opinion of one contact.
#[derive(Clone, Debug)]
pub struct Opinion {
    /// Probability of each type, in [`Header::types`] order.
    pub types: Vec<f32>,
    /// Probability of grades 1..=4.
    pub grades: [f32; GRADES],
}

impl Opinion {
    /// The most likely type's class and probability.
    pub fn top_type(&self) -> (usize, f32) {
        argmax(&self.types)
    }

    /// The most likely grade (1..=4) and its probability.
    pub fn top_grade(&self) -> (u8, f32) {
        let (i, p) = argmax(&self.grades);
        (i as u8 + 1, p)
    }
}

fn argmax(p: &[f32]) -> (usize, f32) {
    p.iter().copied().enumerate().fold(
        (0, f32::MIN),
        |best, (i, x)| if x > best.1 { (i, x) } else { best },
    )
}

/// A class of one of the model's heads.
#[derive(Clone, Copy, Debug)]
pub enum Class {
    /// A type, by class number.
    Type(usize),
    /// A grade, 1..=4.
    Grade(u8),
}

/// The rules' decision, as the combination sees it.
#[derive(Clone, Copy, Debug)]
pub struct RulesView {
    /// The model class of the rules' type, if the model knows it.
    pub class: Option<usize>,
    pub agency: Agency,
    pub grade: u8,
    pub confidence: f32,
}

impl RulesView {
    /// How the combination sees a rules decision, given the model's type classes.
    pub fn of(t: &crate::domain::Triage, types: &[String]) -> RulesView {
        RulesView {
            class: types.iter().position(|c| **c == *t.incident_type),
            agency: t.agency,
            grade: t.grade.number(),
            confidence: t.confidence,
        }
    }
}

/// What the combination of rules and model decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Choice {
    /// The model class whose type replaces the rules' type, if any.
    pub take: Option<usize>,
    pub agency: Agency,
    /// The grade before any raise: the rules' grade, or the model's for a type it took.
    pub base_grade: u8,
    /// The final grade.
    pub grade: u8,
    pub confidence: f32,
    pub needs_confirmation: bool,
    /// Whether the rules' raises for the type the model took set the grade (more urgent than
    /// the model's own).
    pub raised_by_rules: bool,
}

/// Below this probability of its agency, a decision needs confirming (and below half of it, of
/// its type).
const CONFIRM_BELOW: f32 = 0.6;

/// Combines the rules' decision with the model's opinion. The rules stand unless their
/// evidence is weak and the model is sure of another type, or the model is very sure of
/// another agency. The model may then raise the grade. It may lower a rules' grade 2 or 3
/// when it is sure the contact is less urgent, because the rules grade by the worst reading
/// of a few words and over-triage buries real emergencies too. It never lowers a grade 1 of a
/// type the rules keep, however sure: an emergency graded lower is the costliest mistake, and
/// blind batches showed the model sure and wrong about calmly told emergencies (a power line
/// down with children near, read as an ordinary electrical fault). `agency_of[c]` is the
/// agency of class `c`.
pub fn choose(
    k: &Knobs,
    r: &RulesView,
    op: &Opinion,
    agency_of: &[Agency],
    type_grades: &[[f32; GRADES]],
    raised: impl Fn(usize, u8) -> u8,
) -> Choice {
    let (top, p) = op.top_type();
    let model_agency = agency_of[top];
    let weak = r.confidence < k.weak_rules_below;
    // An emergency by the rules goes to neither service only when the model thinks that more
    // likely than not: blind batches showed it sending a kicking in the street to the council
    // at 41%. (Its full certainty would keep news of past disasters as emergencies too.)
    let dismisses_emergency = r.grade == 1 && model_agency == Agency::None && p < DISMISS_AT;
    let take = r.class != Some(top)
        && model_agency != Agency::Unspecified
        && !dismisses_emergency
        && ((weak && p >= k.take_type_at) || (p >= k.override_at && model_agency != r.agency));
    let (agency, base_grade, confidence) = if take {
        // The grade the grade head and the type's usual grades agree on most.
        let prior = &type_grades[top];
        let (g, _) = argmax(&std::array::from_fn::<f32, GRADES, _>(|g| {
            op.grades[g] * prior[g]
        }));
        let grade = if model_agency == Agency::None {
            4
        } else {
            g as u8 + 1
        };
        (model_agency, grade, p)
    } else {
        let p = r.class.map_or(0.0, |c| op.types[c]);
        (r.agency, r.grade, (r.confidence + p) / 2.0)
    };
    let mut grade = base_grade;
    let less = &op.grades[usize::from(grade).min(GRADES)..];
    let less_likely: f32 = less.iter().sum();
    let lower = !take && matches!(grade, 2 | 3) && less_likely >= k.lower_at;
    if lower {
        grade += argmax(less).0 as u8 + 1;
    } else if agency != Agency::None && grade > 1 {
        let more_urgent: f32 = op.grades[..usize::from(grade - 1)].iter().sum();
        if op.grades[0] >= k.raise_to_1_at {
            grade = 1;
        } else if more_urgent >= k.raise_one_at {
            grade -= 1;
        }
    }
    // The rules' raises that rest on recorded answers (a weapon, a suspect still there, a
    // serious injury) hold for the type the model took as they would for the rules' own.
    let by_rules = if take { raised(top, base_grade) } else { grade };
    let raised_by_rules = by_rules < grade;
    grade = grade.min(by_rules);
    let agency_mass: f32 = op
        .types
        .iter()
        .zip(agency_of)
        .filter(|(_, a)| **a == agency)
        .map(|(p, _)| p)
        .sum();
    // Unsure of the service, of the type, or of whether it is an emergency.
    let type_p = if take {
        p
    } else {
        r.class.map_or(0.0, |c| op.types[c])
    };
    let needs_confirmation = agency_mass < CONFIRM_BELOW
        || type_p < CONFIRM_BELOW / 2.0
        || (grade > 1 && op.grades[0] >= k.raise_to_1_at / 2.0);
    Choice {
        take: take.then_some(top),
        agency,
        base_grade,
        grade,
        confidence,
        needs_confirmation,
        raised_by_rules,
    }
}

/// How likely the model must think a referral to neither service before it overrules a grade-1
/// decision of the rules.
const DISMISS_AT: f32 = 0.5;

/// FNV-1a, 64 bits: a hash that is the same on every platform and release.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
}

/// A 64-bit mixer (splitmix64's finaliser).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Feature hashing. A word is hashed once, eight bytes a step through the mixer; its other
/// features (the word after a negation, the pair it starts) are mixed from that hash. The kind
/// of feature is mixed in first, so features of different kinds fall apart. Any change here
/// moves every feature's bucket: the model must then be trained again.
#[derive(Clone, Copy)]
struct Feature(u64);

impl Feature {
    const fn new(kind: u8) -> Self {
        Feature(kind as u64)
    }
    /// Mixes in up to eight bytes, `x` holding them little-endian.
    fn eight(self, x: u64, len: usize) -> Self {
        Feature(mix(self.0 ^ x).wrapping_add(len as u64))
    }
    fn bytes(self, b: &[u8]) -> Self {
        b.chunks(8).fold(self, |h, chunk| {
            // Assembled in a register: a copy into a buffer read back whole stalls the load.
            let x = chunk.iter().rev().fold(0u64, |x, &c| x << 8 | u64::from(c));
            h.eight(x, chunk.len())
        })
    }
    /// As `bytes(&b[..n])`, where `b` goes on for at least 8 bytes past `n`: eight bytes a
    /// load, the bytes past `n` masked off.
    fn padded(self, b: &[u8], n: usize) -> Self {
        (0..n).step_by(8).fold(self, |h, i| {
            let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
            let len = (n - i).min(8);
            let x = if len < 8 {
                x & ((1 << (8 * len)) - 1)
            } else {
                x
            };
            h.eight(x, len)
        })
    }
    /// A feature of another kind derived from this one. The hash is already mixed: one
    /// multiplication spreads the kind into the top bits, which make the bucket.
    fn derived(self, kind: u8) -> Self {
        Feature((self.0 ^ (u64::from(kind) << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    /// The pair of this word and the next.
    fn pair(self, next: Feature) -> Self {
        Feature(self.0.rotate_left(23) ^ next.0).derived(b'b')
    }
}

/// FNV-1a of a text, in hex: how model files name the rules they were trained beside.
pub fn fingerprint(text: &str) -> String {
    format!("{:016x}", fnv1a(text))
}

/// FNV-1a of a text.
pub fn fnv1a(text: &str) -> u64 {
    Fnv::new().bytes(text.as_bytes()).0
}

/// The hashed features of one contact. `word[i]` is the narrative word feature `i` came from,
/// or `NO_WORD`, so the reasons can name the words that weighed most.
#[derive(Default)]
pub struct Features {
    pub buckets: Vec<u32>,
    pub word: Vec<u16>,
    /// The narrative, normalised, and its words.
    text: Vec<u8>,
    words: Words,
}

const NO_WORD: u16 = u16::MAX;

impl Features {
    /// Word `i` of the narrative, normalised.
    pub fn word(&self, i: u16) -> &str {
        let (a, b) = self.words.spans[usize::from(i)];
        std::str::from_utf8(&self.text[a..b]).unwrap_or("")
    }

    /// Extracts the features of `contact`, given the facts and type the rules found.
    pub fn extract<'a>(
        &mut self,
        bits: u32,
        contact: &Contact,
        rule_facts: impl Iterator<Item = &'a str>,
        rule_type: &str,
    ) {
        // Taken out of `self` while they are filled, so that their lengths stay in registers.
        let mut text = std::mem::take(&mut self.text);
        let mut words = std::mem::take(&mut self.words);
        let mut buckets = std::mem::take(&mut self.buckets);
        let mut from = std::mem::take(&mut self.word);
        buckets.clear();
        from.clear();
        let mut push = |h: Feature, word: u16| {
            buckets.push((h.0 >> (64 - bits)) as u32);
            from.push(word);
        };
        find_words(&contact.narrative, &mut text, &mut words);
        let Words { spans, breaks } = &words;
        let n = spans.len().min(usize::from(NO_WORD) - 1);
        let len = text.len();
        // Padding, so that a word's bytes load eight at a time.
        text.extend_from_slice(&[0; 8]);
        let hash = |i: usize| {
            let (a, b) = spans[i];
            Feature::new(b'w').padded(&text[a..], b - a)
        };
        let mut negated = 0usize;
        let mut next = (n > 0).then(|| hash(0));
        for (i, &(a, b)) in spans[..n].iter().enumerate() {
            let w = i as u16;
            let word = &text[a..b];
            // `next` holds this word's hash: each word is hashed once, a step ahead.
            let Some(h) = next else { break };
            next = (i + 1 < n).then(|| hash(i + 1));
            push(h, w);
            if negated > 0 {
                push(h.derived(b'n'), w);
                negated -= 1;
            }
            if is_negation(word) {
                negated = NEGATION_REACH;
            }
            if let Some(next) = next.filter(|_| !breaks[i]) {
                push(h.pair(next), w);
            }
            if breaks[i] {
                negated = 0;
            }
            // A longer word's first five letters, so that "stabbed" and "stabbing", or
            // "screaming" and "screamed", share a feature.
            if word.len() > STEM {
                push(Feature::new(b's').padded(&text[a..], STEM), w);
            }
        }
        let field = |name: &str, value: &str| {
            Feature::new(b'a')
                .bytes(name.as_bytes())
                .bytes(value.as_bytes())
        };
        push(field("channel", contact.channel.as_str()), NO_WORD);
        push(field("category", contact.category.as_str()), NO_WORD);
        for f in rule_facts {
            push(Feature::new(b'f').bytes(f.as_bytes()), NO_WORD);
        }
        push(Feature::new(b't').bytes(rule_type.as_bytes()), NO_WORD);
        if n == 0 {
            push(Feature::new(b'e'), NO_WORD);
        }
        text.truncate(len);
        self.text = text;
        self.words = words;
        self.buckets = buckets;
        self.word = from;
    }

    /// Every feature counts as 1/sqrt(n), so long and short contacts weigh alike.
    fn value(&self) -> f32 {
        1.0 / (self.buckets.len().max(1) as f32).sqrt()
    }
}

/// One labelled contact, as training sees it.
pub struct Example {
    pub buckets: Vec<u32>,
    pub type_class: usize,
    pub grade: u8,
}

/// How to train.
#[derive(Clone, Copy, Debug)]
pub struct TrainOptions {
    pub bits: u32,
    pub epochs: u32,
    pub seed: u64,
    /// Runs of SGD, each shuffling with its own seed (`seed`, `seed + 1`, ...), whose weights are
    /// averaged: one run's model depends on the order it met the examples in more than on them.
    pub runs: u32,
    pub rate: f32,
    pub l2: f32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            bits: 15,
            epochs: 25,
            seed: 14,
            runs: 5,
            rate: 6.0,
            l2: 1e-5,
        }
    }
}

/// splitmix64: a small, seeded, reproducible generator for shuffling.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One softmax head in training: weights by bucket then class, and a bias per class.
struct Head {
    classes: usize,
    w: Vec<f32>,
    bias: Vec<f32>,
}

impl Head {
    fn new(buckets: usize, classes: usize) -> Self {
        Head {
            classes,
            w: vec![0.0; buckets * classes],
            bias: vec![0.0; classes],
        }
    }

    /// One step of stochastic gradient descent on the cross-entropy of `target`.
    fn step(&mut self, buckets: &[u32], x: f32, target: usize, rate: f32, l2: f32) {
        let k = self.classes;
        let mut z = self.bias.clone();
        for &b in buckets {
            let row = &self.w[b as usize * k..][..k];
            z.iter_mut().zip(row).for_each(|(z, w)| *z += w * x);
        }
        softmax(&mut z, f32::exp);
        z[target] -= 1.0;
        for &b in buckets {
            let row = &mut self.w[b as usize * k..][..k];
            for (w, g) in row.iter_mut().zip(&z) {
                *w -= rate * (g * x + l2 * *w);
            }
        }
        self.bias
            .iter_mut()
            .zip(&z)
            .for_each(|(b, g)| *b -= rate * g);
    }

    /// Adds `other`'s weights and biases, times `by`.
    fn add(&mut self, other: &Head, by: f32) {
        for (w, o) in self.w.iter_mut().zip(&other.w) {
            *w += by * o;
        }
        for (b, o) in self.bias.iter_mut().zip(&other.bias) {
            *b += by * o;
        }
    }

    /// The weights as signed bytes and the scale that turns them back.
    fn quantised(&self) -> (Vec<i8>, f32) {
        let max = self.w.iter().fold(0f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let q = self.w.iter().map(|w| (w / scale).round() as i8).collect();
        (q, scale)
    }
}

/// One run of SGD over `examples`, shuffled with `seed`: the type head (`types` classes) and the
/// grade head.
fn fit(types: usize, examples: &[Example], opts: &TrainOptions, seed: u64) -> (Head, Head) {
    let buckets = 1usize << opts.bits;
    let mut type_head = Head::new(buckets, types);
    let mut grade_head = Head::new(buckets, GRADES);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = SplitMix(seed);
    for epoch in 0..opts.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        let rate = opts.rate / (1.0 + epoch as f32);
        for &i in &order {
            let e = &examples[i];
            let x = 1.0 / (e.buckets.len().max(1) as f32).sqrt();
            type_head.step(&e.buckets, x, e.type_class, rate, opts.l2);
            grade_head.step(&e.buckets, x, usize::from(e.grade - 1), rate, opts.l2);
        }
    }
    (type_head, grade_head)
}

/// Probabilities from scores, with `exp` as the exponential: training takes the library's,
/// whose arithmetic decides every weight of the committed model (`train --check` rebuilds it
/// byte for byte); classification takes [`exp_at_most_0`], whose loop runs in vector steps.
fn softmax(z: &mut [f32], exp: impl Fn(f32) -> f32) {
    let max = z.iter().fold(f32::MIN, |m, &x| m.max(x));
    z.iter_mut().for_each(|x| *x = exp(*x - max));
    let sum: f32 = z.iter().sum();
    z.iter_mut().for_each(|x| *x /= sum);
}

/// e^x for x <= 0 (Cephes' single-precision polynomial, within two units in the last place of
/// the library's), written without branches or calls so that a loop of it runs in vector steps.
fn exp_at_most_0(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 * 2^23: added to a float of magnitude below 2^22, it rounds it to an integer held in
    // the low bits of the sum.
    const SHIFT: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let t = x * LOG2E + SHIFT;
    let n = t - SHIFT;
    let i = t.to_bits().wrapping_sub(SHIFT.to_bits()) as i32;
    // x - n ln 2, with ln 2 in two parts so that the product stays exact.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((i + 127) << 23) as u32)
}

impl Model {
    /// Fits a model on `examples` over the type codes `types`. Deterministic for the same
    /// examples, in the same order, and options.
    pub fn train(
        types: Vec<String>,
        examples: &[Example],
        opts: TrainOptions,
        rules_hash: String,
    ) -> Model {
        let buckets = 1usize << opts.bits;
        let runs = opts.runs.max(1);
        let mut type_head = Head::new(buckets, types.len());
        let mut grade_head = Head::new(buckets, GRADES);
        for run in 0..runs {
            let (t, g) = fit(types.len(), examples, &opts, opts.seed + u64::from(run));
            type_head.add(&t, 1.0 / runs as f32);
            grade_head.add(&g, 1.0 / runs as f32);
        }
        let mut counts = vec![[1.0f32; GRADES]; types.len()];
        for e in examples {
            counts[e.type_class][usize::from(e.grade - 1)] += 4.0;
        }
        let type_grades = counts
            .iter()
            .map(|c| {
                let sum: f32 = c.iter().sum();
                c.map(|x| x / sum)
            })
            .collect();
        let (type_w, type_scale) = type_head.quantised();
        let (grade_w, grade_scale) = grade_head.quantised();
        Model::new(
            Header {
                bits: opts.bits,
                types,
                type_scale,
                grade_scale,
                type_bias: type_head.bias,
                grade_bias: grade_head.bias,
                type_grades,
                knobs: Knobs::default(),
                training: Training {
                    seed: opts.seed,
                    epochs: opts.epochs,
                    runs,
                    examples: examples.len(),
                    rules_hash,
                },
            },
            &type_w,
            &grade_w,
        )
    }

    fn new(header: Header, type_w: &[i8], grade_w: &[i8]) -> Model {
        let k = header.types.len();
        let stride = (k + GRADES).div_ceil(LANES) * LANES;
        let buckets = 1usize << header.bits;
        let mut rows = vec![0i8; buckets * stride];
        for (b, row) in rows.chunks_exact_mut(stride).enumerate() {
            row[..k].copy_from_slice(&type_w[b * k..][..k]);
            row[k..k + GRADES].copy_from_slice(&grade_w[b * GRADES..][..GRADES]);
        }
        Model {
            header,
            rows,
            stride,
        }
    }

    /// The model's opinion of a contact's features.
    pub fn predict(&self, f: &Features) -> Opinion {
        let x = f.value();
        let h = &self.header;
        let k = h.types.len();
        let sums = sum_rows(&self.rows, self.stride, &f.buckets);
        let mut types: Vec<f32> = sums[..k]
            .iter()
            .zip(&h.type_bias)
            .map(|(&s, &b)| b + s as f32 * h.type_scale * x)
            .collect();
        let mut grades: [f32; GRADES] =
            std::array::from_fn(|g| h.grade_bias[g] + sums[k + g] as f32 * h.grade_scale * x);
        softmax(&mut types, exp_at_most_0);
        softmax(&mut grades, exp_at_most_0);
        Opinion { types, grades }
    }

    /// The narrative words that weighed most for a class of one head, most first, at most `n`.
    pub fn weighed_most<'f>(&self, f: &'f Features, class: Class, n: usize) -> Vec<&'f str> {
        let column = match class {
            Class::Type(c) => c,
            Class::Grade(g) => self.header.types.len() + usize::from(g - 1),
        };
        // Each word's weight, its own and its pairs' and n-grams' together: one slot a word,
        // so a long narrative costs linear time.
        let mut by_word = vec![0i32; f.words.spans.len()];
        for (&b, &word) in f.buckets.iter().zip(&f.word) {
            if word != NO_WORD {
                by_word[usize::from(word)] +=
                    i32::from(self.rows[b as usize * self.stride + column]);
            }
        }
        // The heaviest distinct words in one pass: `top` holds at most `n`, heaviest first,
        // each at its heaviest position (the first of equals), cheaper than sorting them all.
        let mut top: Vec<(i32, &str)> = Vec::with_capacity(n + 1);
        if n == 0 {
            return Vec::new();
        }
        for (i, &weight) in by_word.iter().enumerate() {
            if weight <= 0 || (top.len() == n && weight <= top[n - 1].0) {
                continue;
            }
            let word = f.word(i as u16);
            if let Some(at) = top.iter().position(|&(_, w)| w == word) {
                if weight <= top[at].0 {
                    continue;
                }
                top.remove(at);
            }
            let at = top.partition_point(|&(w, _)| w >= weight);
            top.insert(at, (weight, word));
            top.truncate(n);
        }
        top.into_iter().map(|(_, word)| word).collect()
    }

    /// The model file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let k = self.header.types.len();
        let mut out = Vec::with_capacity(self.rows.len() + 4096);
        out.extend_from_slice(MAGIC.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(
            serde_json::to_string(&self.header)
                .expect("a header serialises")
                .as_bytes(),
        );
        out.push(b'\n');
        for range in [0..k, k..k + GRADES] {
            for row in self.rows.chunks_exact(self.stride) {
                out.extend(row[range.clone()].iter().map(|&w| w as u8));
            }
        }
        out
    }

    /// Reads a model file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        let line = |from: usize| -> Result<(usize, &[u8]), String> {
            let end = bytes[from..]
                .iter()
                .position(|&b| b == b'\n')
                .ok_or("the model file is cut short")?;
            Ok((from + end + 1, &bytes[from..from + end]))
        };
        let (next, magic) = line(0)?;
        if magic != MAGIC.as_bytes() {
            return Err(format!("not a model file: its first line is not {MAGIC:?}"));
        }
        let (next, json) = line(next)?;
        let header: Header =
            serde_json::from_slice(json).map_err(|e| format!("the model's header: {e}"))?;
        if !(8..=20).contains(&header.bits) {
            return Err(format!(
                "the model has 2^{} buckets; 2^8 to 2^20 are accepted",
                header.bits
            ));
        }
        let buckets = 1usize << header.bits;
        let (types, grades) = (header.types.len(), GRADES);
        if types > MAX_TYPES {
            return Err(format!(
                "the model has {types} types; at most {MAX_TYPES} are accepted"
            ));
        }
        if header.type_bias.len() != types
            || header.grade_bias.len() != grades
            || header.type_grades.len() != types
        {
            return Err("the model's biases do not match its classes".into());
        }
        let want = buckets * (types + grades);
        let weights = &bytes[next..];
        if weights.len() != want {
            return Err(format!(
                "the model has {} bytes of weights; its header implies {want}",
                weights.len()
            ));
        }
        let (t, g) = weights.split_at(buckets * types);
        let signed = |b: &[u8]| b.iter().map(|&b| b as i8).collect::<Vec<_>>();
        Ok(Model::new(header, &signed(t), &signed(g)))
    }
}

/// The most vector steps a row may take: rows of at most 128 weights.
const MAX_STEPS: usize = 8;

/// The most incident types a model can learn: a row holds every type's weight and the grades'.
pub const MAX_TYPES: usize = MAX_STEPS * LANES - GRADES;

/// The sum of the rows of the features' buckets, each row `stride` long, a multiple of
/// [`LANES`] and at most [`MAX_STEPS`] of them. The row's width is made a constant, so that its
/// sums stay in vector registers across the rows.
fn sum_rows(rows: &[i8], stride: usize, buckets: &[u32]) -> Vec<i32> {
    match stride / LANES {
        1 => sum_rows_of::<1>(rows, buckets),
        2 => sum_rows_of::<2>(rows, buckets),
        3 => sum_rows_of::<3>(rows, buckets),
        4 => sum_rows_of::<4>(rows, buckets),
        5 => sum_rows_of::<5>(rows, buckets),
        6 => sum_rows_of::<6>(rows, buckets),
        7 => sum_rows_of::<7>(rows, buckets),
        8 => sum_rows_of::<8>(rows, buckets),
        steps => unreachable!("a row of {steps} vector steps; from_bytes allows 1 to {MAX_STEPS}"),
    }
}

/// [`sum_rows`] for rows of `N` vector steps: sixteen 16-bit sums a step; a block of at most
/// 128 rows of signed bytes (|w| <= 127) cannot overflow them before it is added to the 32-bit
/// sums. Kept out of line: inlined into its caller, the compiler added the rows a byte at a
/// time (3-4 times slower).
#[inline(never)]
fn sum_rows_of<const N: usize>(rows: &[i8], buckets: &[u32]) -> Vec<i32> {
    let (rows, rest) = rows.as_chunks::<LANES>();
    debug_assert!(rest.is_empty());
    let (rows, rest) = rows.as_chunks::<N>();
    debug_assert!(rest.is_empty());
    let mut acc = [[0i32; LANES]; N];
    for block in buckets.chunks(128) {
        let mut sum = [[0i16; LANES]; N];
        for &b in block {
            let row = &rows[b as usize];
            for (s, r) in sum.iter_mut().zip(row) {
                *s = std::array::from_fn(|i| s[i].wrapping_add(i16::from(r[i])));
            }
        }
        for (a, s) in acc.iter_mut().zip(&sum) {
            *a = std::array::from_fn(|i| a[i] + i32::from(s[i]));
        }
    }
    acc.as_flattened().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Channel;

    fn contact(text: &str) -> Contact {
        Contact {
            channel: Channel::Phone999,
            narrative: text.into(),
            ..Contact::default()
        }
    }

    /// Two types told apart by their words, and their grades.
    fn examples(bits: u32) -> Vec<Example> {
        let mut f = Features::default();
        let texts = [
            ("the kitchen is on fire flames everywhere", 0, 1),
            ("flames coming out of the flat window", 0, 1),
            ("my bike was stolen from the shed last week", 1, 4),
            ("someone stole my purse yesterday", 1, 4),
        ];
        texts
            .iter()
            .cycle()
            .take(40)
            .map(|(t, class, grade)| {
                f.extract(bits, &contact(t), std::iter::empty(), "P16");
                Example {
                    buckets: f.buckets.clone(),
                    type_class: *class,
                    grade: *grade,
                }
            })
            .collect()
    }

    /// A small model of two types, trained with `seed` and averaged over `runs`.
    fn trained_with(seed: u64, runs: u32) -> Model {
        let opts = TrainOptions {
            bits: 10,
            epochs: 5,
            seed,
            runs,
            ..TrainOptions::default()
        };
        Model::train(
            vec!["F01".into(), "P08".into()],
            &examples(10),
            opts,
            "r".into(),
        )
    }

    fn trained() -> Model {
        let d = TrainOptions::default();
        trained_with(d.seed, d.runs)
    }

    #[test]
    fn a_word_loaded_eight_bytes_at_a_time_hashes_as_its_bytes() {
        let text = b"a seventeen-letter word and more after it\0\0\0\0\0\0\0\0";
        for n in 0..=text.len() - 8 {
            for start in 0..3.min(text.len() - 8 - n + 1) {
                assert_eq!(
                    Feature::new(b'w').padded(&text[start..], n).0,
                    Feature::new(b'w').bytes(&text[start..start + n]).0
                );
            }
        }
    }

    #[test]
    fn training_is_deterministic_for_a_seed() {
        assert_eq!(trained().to_bytes(), trained().to_bytes());
    }

    #[test]
    fn averaged_runs_are_the_mean_of_runs_from_successive_seeds() {
        let (a, b, both) = (trained_with(3, 1), trained_with(4, 1), trained_with(3, 2));
        assert_ne!(a.header.type_bias, b.header.type_bias);
        let bias = |m: &Model| {
            m.header
                .type_bias
                .iter()
                .chain(&m.header.grade_bias)
                .copied()
                .collect::<Vec<f32>>()
        };
        for ((x, y), m) in bias(&a).iter().zip(bias(&b)).zip(bias(&both)) {
            assert!(
                (m - (x + y) / 2.0).abs() < 1e-5,
                "{m} is not the mean of {x} and {y}"
            );
        }
        assert_eq!(both.header.training.runs, 2);
    }

    #[test]
    fn a_trained_model_tells_unseen_wordings_apart_and_names_the_words() {
        let m = trained();
        let mut f = Features::default();
        f.extract(
            10,
            &contact("there are flames in the kitchen"),
            std::iter::empty(),
            "P16",
        );
        let op = m.predict(&f);
        assert_eq!(op.top_type().0, 0, "{op:?}");
        assert_eq!(op.top_grade().0, 1, "{op:?}");
        let words = m.weighed_most(&f, Class::Type(0), 2);
        assert!(words.contains(&"flames"), "{words:?}");
        f.extract(
            10,
            &contact("my purse was stolen"),
            std::iter::empty(),
            "P16",
        );
        assert_eq!(m.predict(&f).top_type().0, 1);
    }

    #[test]
    fn the_vector_exponential_is_the_librarys_to_a_few_units_in_the_last_place() {
        let mut x = 0.0f32;
        while x > -90.0 {
            let (want, got) = (x.exp(), exp_at_most_0(x));
            if x >= -87.0 {
                let ulps = (want.to_bits() as i64 - got.to_bits() as i64).abs();
                assert!(ulps <= 2, "e^{x}: {got} against {want}, {ulps} ulps apart");
            } else {
                assert!(got < 2e-38, "e^{x} = {got} should be next to nothing");
            }
            x -= 0.000_37;
        }
        let mut z = [1.5, -3.0, 0.25, 8.0];
        let mut exact = z;
        softmax(&mut z, exp_at_most_0);
        softmax(&mut exact, f32::exp);
        for (a, b) in z.iter().zip(&exact) {
            assert!((a - b).abs() <= 1e-6, "{z:?} against {exact:?}");
        }
    }

    #[test]
    fn words_after_a_negation_are_features_of_their_own() {
        let mut a = Features::default();
        let mut b = Features::default();
        a.extract(16, &contact("someone is trapped"), std::iter::empty(), "");
        b.extract(16, &contact("no one is trapped"), std::iter::empty(), "");
        let negated: Vec<&u32> = b
            .buckets
            .iter()
            .filter(|x| !a.buckets.contains(x))
            .collect();
        // "no", "one"'s n-grams, "no one", and the negated "one", "is", "trapped".
        assert!(negated.len() >= 6, "{negated:?}");
    }

    #[test]
    fn the_model_never_lowers_a_grade_1_the_rules_keep() {
        let rules = RulesView {
            class: Some(1),
            agency: Agency::Police,
            grade: 1,
            confidence: 0.9,
        };
        let agencies = [Agency::Fire, Agency::Police];
        let priors = [[0.25; GRADES]; 2];
        let knobs = Knobs {
            lower_at: 0.5,
            ..Knobs::default()
        };
        let op = Opinion {
            types: vec![0.05, 0.95],
            grades: [0.0, 0.0, 0.0, 1.0],
        };
        assert_eq!(
            choose(&knobs, &rules, &op, &agencies, &priors, |_, g| g).grade,
            1
        );
        // The same certainty lowers a grade 2.
        let rules = RulesView { grade: 2, ..rules };
        assert_eq!(
            choose(&knobs, &rules, &op, &agencies, &priors, |_, g| g).grade,
            4
        );
    }

    #[test]
    fn an_emergency_by_the_rules_goes_to_neither_service_only_when_the_model_thinks_it_likelier_than_not()
     {
        // Class 0 is a referral (no service), class 1 the rules' violence type, class 2 another
        // police type: the referral is the model's top type from a third of the mass up.
        let agencies = [Agency::None, Agency::Police, Agency::Police];
        let priors = [[0.25; GRADES]; 3];
        let knobs = Knobs {
            weak_rules_below: 1.01,
            take_type_at: 0.4,
            override_at: 0.7,
            ..Knobs::default()
        };
        let rules = |grade| RulesView {
            class: Some(1),
            agency: Agency::Police,
            grade,
            confidence: 0.6,
        };
        let op = |p: f32| Opinion {
            types: vec![p, (1.0 - p) / 2.0, (1.0 - p) / 2.0],
            grades: [0.0, 0.0, 0.0, 1.0],
        };
        let choose_at =
            |grade, p| choose(&knobs, &rules(grade), &op(p), &agencies, &priors, |_, g| g);
        let kept = choose_at(1, 0.45);
        assert_eq!(
            (kept.take, kept.agency, kept.grade),
            (None, Agency::Police, 1)
        );
        // More likely than not, it may.
        assert_eq!(choose_at(1, 0.55).take, Some(0));
        // A grade 2 of the rules it may send elsewhere on the weaker certainty.
        assert_eq!(choose_at(2, 0.45).take, Some(0));
    }

    #[test]
    fn a_sure_model_lowers_a_grade_2_or_3_of_the_rules_and_only_when_sure() {
        let op = Opinion {
            types: vec![0.05, 0.95],
            grades: [0.01, 0.09, 0.2, 0.7],
        };
        let rules = |grade| RulesView {
            class: Some(1),
            agency: Agency::Police,
            grade,
            confidence: 0.9,
        };
        let agencies = [Agency::Fire, Agency::Police];
        let priors = [[0.25; GRADES]; 2];
        let at = |lower_at| Knobs {
            lower_at,
            ..Knobs::default()
        };
        let grade = |k: &Knobs, g| choose(k, &rules(g), &op, &agencies, &priors, |_, g| g).grade;
        // 90% on grades 3 and 4 against a rules grade 2: lowered to the likelier, 4.
        assert_eq!(grade(&at(0.8), 2), 4);
        assert_eq!(grade(&at(0.95), 2), 2);
        assert_eq!(grade(&at(0.6), 3), 4);
        assert_eq!(grade(&Knobs::default(), 2), 2, "off by default");
    }

    #[test]
    fn a_sure_model_takes_the_type_from_weak_rules_and_raises_an_emergency() {
        let op = Opinion {
            types: vec![0.9, 0.1],
            grades: [0.7, 0.2, 0.05, 0.05],
        };
        let rules = RulesView {
            class: Some(1),
            agency: Agency::Police,
            grade: 3,
            confidence: 0.55,
        };
        let agencies = [Agency::Fire, Agency::Police];
        let priors = [[0.25; GRADES]; 2];
        let c = choose(&Knobs::default(), &rules, &op, &agencies, &priors, |_, g| g);
        assert_eq!((c.take, c.agency, c.grade), (Some(0), Agency::Fire, 1));
        // Unsure, it leaves the rules' type and says the decision needs confirming.
        let unsure = Opinion {
            types: vec![0.45, 0.55],
            grades: [0.3, 0.3, 0.2, 0.2],
        };
        let c = choose(
            &Knobs::default(),
            &rules,
            &unsure,
            &agencies,
            &priors,
            |_, g| g,
        );
        assert_eq!((c.take, c.agency), (None, Agency::Police));
        assert!(c.needs_confirmation);
    }
}
