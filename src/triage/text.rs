//! Reading narratives as people write them.
//!
//! Narratives are matched against every phrase of the rules file in one pass, by a
//! deterministic automaton built when the rules are compiled. The automaton reads the caller's
//! bytes as they come, and normalises while it matches: letters are folded to lower case,
//! apostrophes are skipped (so "isn't" and "isnt" are one word), a run of separators is one
//! word break, and clause punctuation (`. , ! ? ; :` and new lines) ends a clause. Phrases
//! match whole words only. Text with characters outside ASCII is first normalised by
//! [`normalise`] (Unicode case folding), then read by the same automaton.
//!
//! The automaton is Aho-Corasick over the phrases padded with a word break on each side, made
//! into a full transition table over byte classes (one load per byte, no failure links to
//! follow at run time), with the normalisation built into its states: a second separator or an
//! apostrophe leaves the state as it is, and clause punctuation closes any phrase that was
//! ending and starts afresh, so no phrase spans two clauses. States that complete phrases are
//! numbered first, so a comparison tells whether a state did; at most 32,768 states fit (the
//! shipped rules make about 23,600), over at most 124 byte values in phrases' words (the shipped
//! rules use 36). Longer texts are read in several passes at once, each put right where it
//! meets the one before (see [`Scanner::find`]). Where words begin and clauses end is worked
//! out separately, from the bytes, with vector instructions (see [`Marks`]).
//!
//! What matched is then judged by word position:
//!
//! - a cue inside an *ignore* phrase is a red herring ("bonfire night", "smoking weed"), and
//!   one inside a longer *exclusive* cue is that cue only ("fire alarm" is not a fire);
//! - a cue a few words after a *negation* in the same clause is negated ("no one's trapped",
//!   "isn't on fire"), unless an *uncertainty* phrase voids the negation ("not sure if anyone's
//!   inside") or a *break* ("but", "and") comes between: an unknown never lowers priority.
//!
//! Linear in the text, no backtracking: there is no input that makes it slow.

/// What a phrase of the automaton means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhraseKind {
    /// Asserts fact `fact`; an `exclusive` cue hides shorter cues inside it ("fire alarm" is
    /// not a "fire").
    Cue { fact: u16, exclusive: bool },
    /// A red herring: cues inside it are dropped.
    Ignore,
    /// Negates a cue that follows within the window, in the same clause.
    Negation,
    /// Voids a negation it overlaps or follows ("not sure", "don't know if").
    Uncertain,
    /// Ends a clause for negation ("but", "and").
    Break,
}

impl PhraseKind {
    fn masks(self) -> bool {
        matches!(
            self,
            PhraseKind::Ignore
                | PhraseKind::Cue {
                    exclusive: true,
                    ..
                }
        )
    }
}

/// A phrase found in a narrative: its words `start..end` (counted from 0) and clause, the
/// phrase's index, and the byte that completed it.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    pub start: u32,
    pub end: u32,
    pub clause: u32,
    pub phrase: u32,
    pub kind: PhraseKind,
}

/// A phrase a completing state completes, with its number of words and kind, and whether it
/// is the last the state completes.
#[derive(Clone, Copy, Debug)]
struct Output {
    phrase: u32,
    words: u16,
    last: bool,
    kind: PhraseKind,
}

/// A cue found in a narrative, and what became of it.
#[derive(Clone, Copy, Debug)]
pub struct CueHit {
    pub fact: usize,
    pub phrase: usize,
    /// The negation phrase that cancelled it, if any.
    pub negated_by: Option<usize>,
}

/// Byte classes: the first four are fixed, then one class per byte that occurs in a phrase,
/// common letters first so that their columns share a cache line.
const SPACE: u8 = 0;
const CLAUSE: u8 = 1;
const SKIP: u8 = 2;
/// A letter or digit that occurs in no phrase.
const OTHER: u8 = 3;
/// Letters by how often English uses them, then digits.
const BY_FREQUENCY: &[u8] = b"etaoinshrdlcumwfgypbvkjxqz0123456789";

/// Classes a plane of the transition table holds: 16 two-byte states, half a cache line.
/// Half-line rows let two busy states share a line, so a wide variety of texts keeps more of
/// the automaton in the processor's first-level cache than rows of a whole line did.
const PLANE: usize = 16;

/// Passes of the automaton read at once over a longer text.
const PASSES: usize = 4;
/// Texts shorter than this are read in one pass: the passes' overlap would cost more than the
/// interleaving saves.
const SPLIT_FROM: usize = 192;
/// Words a pass reads before its own part (fewer after clause punctuation). With two, its
/// state is already right where its part starts at most cuts (all but 3 of the bench's 48,
/// about nine in ten of longer corpus narratives'); [`Scanner::catch_up`] puts the rest right.
/// Enough words for the longest phrase would never need it, but cost more than it does.
const RUN_UP: u32 = 2;

/// Buffers a scan reuses: the bytes read (the text, normalised when it is not ASCII), the
/// automaton's states after each byte and a bit for each that completes phrases, the word and
/// clause marks, the phrases found, and the spans of those that mask others.
pub struct Scratch {
    bytes: Vec<u8>,
    states: Vec<u16>,
    completing: Vec<u64>,
    marks: Vec<Marks>,
    found: Vec<Found>,
    masks: Vec<(u32, u32)>,
}

impl Scratch {
    pub const fn new() -> Scratch {
        Scratch {
            bytes: Vec::new(),
            states: Vec::new(),
            completing: Vec::new(),
            marks: Vec::new(),
            found: Vec::new(),
            masks: Vec::new(),
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// Rows of a plane of the transition table: one for every state a `u16` can name when states
/// are held doubled (see [`Scanner::next`]), so that a state's row never runs into the next
/// plane. Rows past the automaton's states are never touched, so the memory behind them is
/// never mapped.
const ROWS: usize = 1 << 15;
/// Planes the transition table has room for: 128 byte classes.
const PLANES: usize = 8;
/// Entries of the transition table.
const TABLE: usize = PLANES * ROWS * PLANE;

/// The compiled phrase automaton.
pub struct Scanner {
    /// The transitions, in planes of [`PLANE`] byte classes: a class's column of state `n`'s
    /// row is at `n * PLANE + column[byte]`. The first plane holds word breaks and the
    /// commonest letters. States are held doubled, as `2 * n`, here and everywhere but while
    /// the table is built (see [`Scanner::next`]).
    table: Box<[u16; TABLE]>,
    /// For each byte (of raw ASCII text and of normalised text alike), where its class's
    /// column is: its plane's start plus its place in the plane's rows.
    column: [u32; 256],
    /// The state before any text: just after a word break.
    start: u16,
    /// States below this complete at least one phrase.
    reporting: u16,
    /// The phrases completing states complete: a completing state's number is where its own
    /// start, longest first, up to one marked last. So placing a phrase found reads one
    /// place, not an index and then the place it names.
    outputs: Vec<Output>,
    /// Normalised text of each phrase.
    phrases: Vec<String>,
    /// Words allowed between a negation and the cue it negates.
    window: u32,
    /// Most words in any phrase.
    longest: u32,
}

/// The trie of padded phrases with Aho-Corasick failure transitions, before it becomes a table.
struct Trie {
    /// `next[node * stride + class]`, `u32::MAX` for none.
    next: Vec<u32>,
    /// Class of the symbol that leads into each node.
    last: Vec<u8>,
    outputs: Vec<Vec<u32>>,
}

impl Trie {
    const NONE: u32 = u32::MAX;

    fn add_node(&mut self, stride: usize, last: u8) -> u32 {
        let id = self.last.len() as u32;
        self.next.extend(std::iter::repeat_n(Trie::NONE, stride));
        self.last.push(last);
        self.outputs.push(Vec::new());
        id
    }
}

impl Scanner {
    /// Builds the automaton. Phrases must already be normalised with [`normalise`]: words of
    /// lower-case letters and digits separated by single spaces.
    pub fn new(phrases: Vec<(String, PhraseKind)>, window: usize) -> Result<Scanner, String> {
        // Byte classes: one per byte used in a phrase.
        let mut used = [false; 256];
        for (p, _) in &phrases {
            for &b in p.as_bytes() {
                used[usize::from(b)] = b != b' ';
            }
        }
        let mut class_of = [None::<u8>; 256];
        let mut count = usize::from(OTHER) + 1;
        let common = BY_FREQUENCY.iter().map(|&b| usize::from(b));
        for b in common.chain(128..256) {
            if used[b] && class_of[b].is_none() {
                class_of[b] = Some(count as u8);
                count += 1;
            }
        }
        let stride = count;
        let mut classes = [0u8; 256];
        for (b, class) in classes.iter_mut().enumerate() {
            let folded = if b < 128 { ASCII[b] } else { b as u8 };
            *class = match folded {
                0 => SKIP,
                b' ' => SPACE,
                b'.' => CLAUSE,
                f => class_of[usize::from(f)].unwrap_or(OTHER),
            };
        }

        // The trie of " phrase ".
        let mut trie = Trie {
            next: Vec::new(),
            last: Vec::new(),
            outputs: Vec::new(),
        };
        // The root is mid-word, so a word break leads out of it.
        let root = trie.add_node(stride, OTHER);
        for (i, (p, _)) in phrases.iter().enumerate() {
            let mut node = root;
            let symbols = std::iter::once(SPACE)
                .chain(p.bytes().map(|b| classes[usize::from(b)]))
                .chain(std::iter::once(SPACE));
            for c in symbols {
                let slot = node as usize * stride + usize::from(c);
                node = match trie.next[slot] {
                    Trie::NONE => {
                        let n = trie.add_node(stride, c);
                        trie.next[slot] = n;
                        n
                    }
                    n => n,
                };
            }
            trie.outputs[node as usize].push(i as u32);
        }

        // Aho-Corasick: failure links turned into a full transition function `delta` over the
        // normalised alphabet, breadth first so a node's failure state is finished before it.
        let nodes = trie.last.len();
        let mut delta = trie.next.clone();
        let mut fail = vec![root; nodes];
        let mut order = vec![root];
        for (slot, &next) in delta[..stride].iter_mut().zip(&trie.next) {
            match next {
                Trie::NONE => *slot = root,
                n => order.push(n),
            }
        }
        // How often text is likely to reach each node, to keep the busy completing rows of the
        // table together: the product of its symbols' rough frequencies (a word break about
        // one byte in six, letters and digits falling off by their rank in English use).
        let frequency = |c: usize| {
            if c == usize::from(SPACE) {
                1.0 / 6.0
            } else {
                0.13 * 0.9f64.powi((c - usize::from(OTHER) - 1) as i32)
            }
        };
        let mut likely = vec![1f64; nodes];
        let mut next_in_order = 1;
        while let Some(&u) = order.get(next_in_order) {
            next_in_order += 1;
            let u = u as usize;
            for c in 0..stride {
                let f = delta[fail[u] as usize * stride + c];
                match trie.next[u * stride + c] {
                    Trie::NONE => delta[u * stride + c] = f,
                    v => {
                        likely[v as usize] = likely[u] * frequency(c);
                        fail[v as usize] = f;
                        let inherited = trie.outputs[f as usize].clone();
                        trie.outputs[v as usize].extend(inherited);
                        order.push(v);
                    }
                }
            }
        }

        // States of the raw-text automaton: each trie node; for each node that completes
        // phrases, a silent copy (the same place after a second separator or an apostrophe,
        // which must not report again) and a clause copy (the phrases completed by clause
        // punctuation, then a fresh start). Completing states are numbered first, likeliest
        // first. The rest follow the trie depth first, commoner symbols first, so that reading
        // a word mostly steps to the next row of the table, and its rows share cache lines.
        let completes = |u: usize| !trie.outputs[u].is_empty();
        let mut completing: Vec<usize> = (0..nodes).filter(|&u| completes(u)).collect();
        completing.sort_by(|&u, &v| likely[v].total_cmp(&likely[u]));
        let mut plain = Vec::with_capacity(nodes);
        let mut stack = vec![root as usize];
        while let Some(u) = stack.pop() {
            if !completes(u) {
                plain.push(u);
            }
            // Classes are numbered commonest first: push the rarest first, pop the commonest.
            let children = trie.next[u * stride..(u + 1) * stride].iter().rev();
            stack.extend(children.filter(|&&v| v != Trie::NONE).map(|&v| v as usize));
        }
        // A completing state's number is where its phrases start, so each phrase it completes
        // takes a number, and its clause copy's as many again.
        let reported: usize = completing.iter().map(|&u| trie.outputs[u].len()).sum();
        let states = nodes + 2 * reported;
        if states > ROWS {
            return Err(format!(
                "the phrases make {states} automaton states; at most {ROWS} fit"
            ));
        }
        // Those that complete phrases first, so that one comparison tells whether a state
        // does, each numbered where its phrases start, then their clause copies; then the rest.
        let mut number = vec![0u16; nodes];
        let mut silent = vec![0u16; nodes];
        let mut clause = vec![0u16; nodes];
        // Fewer words in a phrase than states, so they fit a u16.
        let words = phrases
            .iter()
            .map(|(p, _)| p.split(' ').count() as u16)
            .collect::<Vec<_>>();
        let mut outputs = Vec::with_capacity(2 * reported);
        for copy in [&mut number, &mut clause] {
            for &u in &completing {
                copy[u] = outputs.len() as u16;
                let mine = &trie.outputs[u];
                outputs.extend(mine.iter().enumerate().map(|(k, &p)| Output {
                    phrase: p,
                    words: words[p as usize],
                    last: k + 1 == mine.len(),
                    kind: phrases[p as usize].1,
                }));
            }
        }
        let reporting = outputs.len();
        let mut numbers = reporting as u16..ROWS as u16;
        let mut take = || numbers.next().expect("states counted above");
        for &u in &plain {
            number[u] = take();
        }
        for &u in &completing {
            silent[u] = take();
        }

        let fresh = match trie.next[usize::from(SPACE)] {
            // The node " ": just after a word break.
            Trie::NONE => root as usize,
            n => n as usize,
        };
        // A plane holds a row for every state a u16 names, so no state's row runs past it.
        let place = |c: usize| (c / PLANE) * ROWS * PLANE + c % PLANE;
        // State `n` as it is held once built (see [`Scanner::next`]).
        let held = |n: u16| 2 * n;
        if count > PLANES * PLANE {
            return Err(format!(
                "the phrases use {} distinct byte values in their words (a letter outside ASCII takes several); at most {} fit",
                count - usize::from(OTHER) - 1,
                PLANES * PLANE - usize::from(OTHER) - 1
            ));
        }
        let mut table: Box<[u16; TABLE]> = vec![0u16; TABLE]
            .into_boxed_slice()
            .try_into()
            .expect("TABLE entries");
        let mut row = |state: u16, f: &dyn Fn(u8) -> u16| {
            for c in 0..count {
                table[usize::from(state) * PLANE + place(c)] = held(f(c as u8));
            }
        };
        // Where normalised symbol `c` leads from node `u`, as a raw-automaton state.
        let step = |u: usize, c: u8| number[delta[u * stride + usize::from(c)] as usize];
        for u in 0..nodes {
            let stay = if completes(u) { silent[u] } else { number[u] };
            let after_break = trie.last[u] == SPACE;
            row(number[u], &|c| match c {
                SKIP => stay,
                SPACE if after_break => stay,
                CLAUSE if after_break => number[fresh],
                CLAUSE => {
                    let t = delta[u * stride + usize::from(SPACE)] as usize;
                    if completes(t) {
                        clause[t]
                    } else {
                        number[fresh]
                    }
                }
                c => step(u, c),
            });
            if completes(u) {
                row(silent[u], &|c| match c {
                    SKIP | SPACE => silent[u],
                    CLAUSE => number[fresh],
                    c => step(u, c),
                });
                row(clause[u], &|c| match c {
                    SKIP | SPACE | CLAUSE => number[fresh],
                    c => step(fresh, c),
                });
            }
        }

        let longest = words.iter().copied().max().map_or(0, u32::from);
        let texts = phrases.into_iter().map(|(p, _)| p).collect();
        Ok(Scanner {
            table,
            column: classes.map(|c| place(usize::from(c)) as u32),
            start: held(number[fresh]),
            reporting: held(reporting as u16),
            outputs,
            phrases: texts,
            window: window as u32,
            longest,
        })
    }

    /// The normalised text of phrase `n`.
    pub fn phrase(&self, n: usize) -> &str {
        &self.phrases[n]
    }

    /// Finds every phrase in `text`, in order of their last word (longest first for the same
    /// last word).
    ///
    /// The automaton's next state depends on the last one, so a single pass waits on a memory
    /// load for every byte. A longer text is therefore cut into [`PASSES`] parts read at once,
    /// interleaved. Each part's pass starts reading a couple of words early (see
    /// [`resume_at`]) and keeps only the phrases completed in its own part. Where a phrase
    /// longer than that run-up spans the cut, the pass starts its part in the wrong state; it
    /// is then compared with the pass before it and put right (see [`Scanner::catch_up`]).
    /// The passes do nothing but step and store their states; completing states are picked
    /// out afterwards, and the words and clauses before each phrase come from bit masks of the
    /// text (see [`Marks`]).
    pub fn find<'s>(&self, text: &str, scratch: &'s mut Scratch) -> &'s [Found] {
        let parts = if text.len() >= SPLIT_FROM { PASSES } else { 1 };
        self.find_in_parts(text, parts, scratch)
    }

    /// [`Scanner::find`] with the text cut into `parts` (1 to [`PASSES`]).
    fn find_in_parts<'s>(&self, text: &str, parts: usize, scratch: &'s mut Scratch) -> &'s [Found] {
        let Scratch {
            bytes,
            states,
            completing,
            marks,
            found,
            ..
        } = scratch;
        if text.is_ascii() {
            bytes.clear();
            bytes.extend_from_slice(text.as_bytes());
        } else {
            normalise(text, bytes);
        }
        let len = bytes.len();
        Marks::index(bytes, marks);
        // Pass i owns bytes own[i]..own[i + 1] (the last also the word break after the text)
        // and starts reading at begin[i].
        let own: [usize; PASSES + 1] = std::array::from_fn(|i| match i < parts {
            true => len * i / parts,
            false => len + 1,
        });
        let begin: [usize; PASSES] = std::array::from_fn(|i| match i < parts {
            true => resume_at(marks, own[i], RUN_UP),
            false => len,
        });
        // Every pass reads as many bytes, the longest part's, so they can keep in step. Spaces
        // after the text let the last pass read them: the first completes a phrase that ends
        // the text, the rest change nothing.
        let read = (0..parts).map(|i| own[i + 1] - begin[i]).max().unwrap_or(0);
        bytes.resize(begin[parts - 1] + read, b' ');
        // The passes' states interleaved, `lanes` to a byte: pass i's state after its jth byte
        // is at `j * lanes + i`.
        let lanes = parts.next_power_of_two();
        states.clear();
        states.resize(lanes * read, u16::MAX);
        match parts {
            1 => self.walk::<1, 1>(bytes, &begin, states),
            2 => self.walk::<2, 2>(bytes, &begin, states),
            3 => self.walk::<3, 4>(bytes, &begin, states),
            _ => self.walk::<PASSES, PASSES>(bytes, &begin, states),
        }
        // Put each pass right from the start of its part, given the true state before it:
        // the state of the pass before at the end of its own part (already right).
        let at = |p: usize, pass: usize| (p - begin[pass]) * lanes + pass;
        let mut truth = self.start;
        for i in 1..parts {
            if own[i] > own[i - 1] {
                truth = states[at(own[i] - 1, i - 1)];
            }
            let before = match own[i] > begin[i] {
                true => states[at(own[i] - 1, i)],
                false => self.start,
            };
            let lane = states[at(own[i], i)..].iter_mut().step_by(lanes);
            self.catch_up(truth, before, &bytes[own[i]..own[i + 1]], lane);
        }

        found.clear();
        let completing = self.completing(states, completing);
        for i in 0..parts {
            let mine = own[i] - begin[i]..own[i + 1] - begin[i];
            each_in_lane(completing, lanes, i, mine, |j| {
                let state = states[j * lanes + i];
                let (words, clause) = Marks::before(marks, begin[i] + j);
                // Held doubled: its number, where its phrases start, is half of it.
                for o in self.outputs[usize::from(state / 2)..].iter() {
                    found.push(Found {
                        start: words.wrapping_sub(u32::from(o.words)),
                        end: words,
                        clause,
                        phrase: o.phrase,
                        kind: o.kind,
                    });
                    if o.last {
                        break;
                    }
                }
            });
        }
        found
    }

    /// `N` passes read `out.len() / L` bytes each, pass `i` from byte `begin[i]` of `bytes`
    /// and from the state after a word break, in step. Pass `i`'s state after its `j`th byte
    /// goes to `out[j * L + i]`. Nothing but the automaton's steps happens here, so the
    /// passes' states stay in registers.
    fn walk<const N: usize, const L: usize>(&self, bytes: &[u8], begin: &[usize], out: &mut [u16]) {
        const {
            assert!(
                L == N.next_power_of_two(),
                "find_in_parts lays out this many lanes"
            )
        };
        let (out, _) = out.as_chunks_mut::<L>();
        let read = out.len();
        let parts: [&[u8]; N] = std::array::from_fn(|i| &bytes[begin[i]..][..read]);
        // Held as `usize`, which spares widening them at every step.
        let mut s = [usize::from(self.start); N];
        // By index, not by iterator: the compiler then sees that `j` is within every part and
        // checks nothing per byte, and the loop costs one counter.
        for j in 0..read {
            let out = &mut out[j];
            for i in 0..N {
                out[i] = self.next(s[i], parts[i][j]);
                s[i] = usize::from(out[i]);
            }
        }
    }

    /// Marks the completing states in `states`, a bit each, eight states at a time.
    fn completing<'b>(&self, states: &[u16], bits: &'b mut Vec<u64>) -> &'b [u64] {
        use wide::u16x8;
        let reporting = u16x8::splat(self.reporting);
        let word = |states: &[u16; 64]| {
            let eights = states.as_chunks::<8>().0.iter().enumerate();
            eights.fold(0, |word, (k, eight)| {
                let bits = u16x8::new(*eight).simd_lt(reporting).to_bitmask();
                word | u64::from(bits) << (8 * k)
            })
        };
        bits.clear();
        each_block(states, u16::MAX, |block| bits.push(word(block)));
        bits
    }

    /// Puts a pass right in its own part, `bytes`, whose states are `lane`, given `truth`, the
    /// true state before the part, and `before`, the pass's. Its short run-up may have left it
    /// in a state that forgets words before it began. Where the two agree the pass is right
    /// from there on; until then the true state is stepped on here, one byte at a time, and
    /// written over the pass's own.
    fn catch_up<'s>(
        &self,
        mut truth: u16,
        before: u16,
        bytes: &[u8],
        lane: impl Iterator<Item = &'s mut u16>,
    ) {
        if truth == before {
            return;
        }
        for (&byte, state) in bytes.iter().zip(lane) {
            truth = self.next(usize::from(truth), byte);
            if *state == truth {
                return;
            }
            *state = truth;
        }
    }

    /// The state after `state` reads `byte`. States are held doubled so that a row's start,
    /// `state * PLANE / 2`, is a multiple of 8 the processor computes in the same instruction
    /// as the address of the load.
    #[inline(always)]
    fn next(&self, state: usize, byte: u8) -> u16 {
        let at = state * (PLANE / 2) + self.column[usize::from(byte)] as usize;
        self.table[at]
    }

    /// Finds the cues in `text` and reports each with its fate: masked cues are dropped,
    /// negated ones come with the negation.
    pub fn scan(&self, text: &str, scratch: &mut Scratch, mut cue: impl FnMut(CueHit)) {
        self.find(text, scratch);
        let Scratch { found, masks, .. } = scratch;
        // The masks' spans, in the order of their last word like everything found.
        masks.clear();
        masks.extend(
            found
                .iter()
                .filter(|f| f.kind.masks())
                .map(|f| (f.start, f.end)),
        );
        // The first mask that ends no earlier than the cue in hand.
        let mut next_mask = 0;
        let mut last_negation: Option<u32> = None;
        for (i, f) in found.iter().enumerate() {
            let kind = f.kind;
            if kind == PhraseKind::Negation {
                last_negation = Some(f.end);
            }
            let PhraseKind::Cue { fact, .. } = kind else {
                continue;
            };
            while masks.get(next_mask).is_some_and(|&(_, end)| end < f.end) {
                next_mask += 1;
            }
            if self.masked(f, &masks[next_mask..]) {
                continue;
            }
            // Most cues are far from any negation and skip the look-back.
            let negated_by = match last_negation {
                Some(end) if end + self.window >= f.start => self.negation_before(found, i),
                _ => None,
            };
            cue(CueHit {
                fact: usize::from(fact),
                phrase: f.phrase as usize,
                negated_by,
            });
        }
    }

    /// Whether a longer mask (an ignore phrase or an exclusive cue) holds `cue`, given the
    /// masks that end no earlier than it. One that holds it is at most `longest` words long,
    /// so it ends by the cue's start plus that.
    fn masked(&self, cue: &Found, masks: &[(u32, u32)]) -> bool {
        masks
            .iter()
            .take_while(|&&(_, end)| end <= cue.start + self.longest)
            .any(|&(start, end)| start <= cue.start && (start, end) != (cue.start, cue.end))
    }

    /// The negation that governs the cue `found[i]`, if one does: the nearest negation ending at
    /// most `window` words before it in the same clause, with no break and no uncertainty
    /// after it, and no uncertainty around it. Looks only a few words back.
    fn negation_before(&self, found: &[Found], i: usize) -> Option<usize> {
        let cue = found[i];
        let lo = cue.start.saturating_sub(self.window + self.longest);
        let near = found[..i].iter().rev().take_while(|f| f.end >= lo);
        let neg = near
            .clone()
            .filter(|f| {
                f.kind == PhraseKind::Negation
                    && f.clause == cue.clause
                    && f.end <= cue.start
                    && cue.start - f.end <= self.window
            })
            .max_by_key(|f| f.end)?;
        let voided = near.clone().any(|g| match g.kind {
            PhraseKind::Break => g.start >= neg.end && g.end <= cue.start,
            PhraseKind::Uncertain => {
                (g.start >= neg.end && g.end <= cue.start)
                    || (g.start <= neg.start && g.end >= neg.end)
            }
            _ => false,
        });
        (!voided).then_some(neg.phrase as usize)
    }
}

/// Where a pass that owns the text from byte `from` starts reading, with no state but "after
/// a word break": just after clause punctuation (which resets the automaton), or at the start
/// of the `count`th word back, counting the one at `from`. Found from the text's marks, a block
/// at a time.
fn resume_at(marks: &[Marks], from: usize, count: u32) -> usize {
    // Word starts still to pass, counting one at `from`.
    let mut need = count;
    let mut block = from / 64;
    let below = (1u64 << (from % 64)) - 1;
    let (mut words, mut ends) = (below | (below + 1), below);
    loop {
        let m = marks[block];
        let (mut w, e) = (m.words & words, m.clauses & ends);
        let top = |bits: u64| block * 64 + 63 - bits.leading_zeros() as usize;
        let after_clause = (e != 0).then(|| top(e) + 1);
        if w.count_ones() >= need {
            for _ in 1..need {
                w &= !(1 << (63 - w.leading_zeros()));
            }
            return after_clause.unwrap_or(0).max(top(w));
        }
        if let Some(p) = after_clause {
            return p;
        }
        if block == 0 {
            return 0;
        }
        need -= w.count_ones();
        block -= 1;
        (words, ends) = (!0, !0);
    }
}

/// Calls `f` with each `N` items of `items` in turn, the last block filled out with `fill`: a
/// whole block of it when the items fill their blocks, so there is always a block past them.
fn each_block<T: Copy, const N: usize>(items: &[T], fill: T, mut f: impl FnMut(&[T; N])) {
    let (blocks, rest) = items.as_chunks::<N>();
    let mut last = [fill; N];
    last[..rest.len()].copy_from_slice(rest);
    blocks.iter().chain(std::iter::once(&last)).for_each(&mut f);
}

/// Calls `f` with each `j` in `range` whose bit `j * lanes + lane` is set in `bits`, in order.
/// `lanes` divides 64.
fn each_in_lane(
    bits: &[u64],
    lanes: usize,
    lane: usize,
    range: std::ops::Range<usize>,
    mut f: impl FnMut(usize),
) {
    // Bit `lane` of every `lanes` bits.
    let pattern = (!0u64 / ((1u64 << lanes) - 1)) << lane;
    let (lo, hi) = (range.start * lanes, range.end * lanes);
    // The bits below bit n, for n up to 64.
    let below = |n: usize| (!0u64).unbounded_shr(64 - n as u32);
    let first = lo / 64;
    for (w, word) in bits[first..hi.div_ceil(64)].iter().enumerate() {
        let base = (first + w) * 64;
        let mine = !below(lo.saturating_sub(base)) & below((hi - base).min(64));
        let mut b = word & pattern & mine;
        while b != 0 {
            f((base + b.trailing_zeros() as usize) / lanes);
            b &= b - 1;
        }
    }
}

/// A carry chain over 64 bytes, a bit a byte, worked out by one addition: bit i of the result
/// is set when a `generate` bit comes before i with only `propagate` bits between (`propagate`
/// holds `generate`). `carry` comes in from the block before and goes out to the next.
fn carry_chain(generate: u64, propagate: u64, carry: &mut bool) -> u64 {
    let (sum, out1) = propagate.overflowing_add(generate);
    let (sum, out2) = sum.overflowing_add(u64::from(*carry));
    *carry = out1 | out2;
    sum ^ propagate ^ generate
}

/// Where words begin and clauses end in 64 bytes of text, a bit a byte, and how many words and
/// clause punctuation marks come before them. A word begins at a letter or digit (or a byte of
/// a character outside ASCII) whose last byte before, apostrophes aside, is not one; the
/// automaton's states agree, so its phrases can be placed by word.
#[derive(Clone, Copy, Default)]
pub struct Marks {
    words: u64,
    clauses: u64,
    words_before: u32,
    clauses_before: u32,
}

impl Marks {
    /// Marks every 64 bytes of `bytes`, the last block padded with spaces (a whole block of
    /// them when the text fills its blocks, so that the end of the text has a block too).
    fn index(bytes: &[u8], out: &mut Vec<Marks>) {
        out.clear();
        let (mut words, mut clauses) = (0u32, 0u32);
        // Whether the byte before the block is inside a word.
        let mut in_word = false;
        each_block(bytes, b' ', |block| {
            let [letters, skips, ends] = kinds(block);
            // Inside a word after a byte: a letter, or an apostrophe inside a word. Letters
            // generate, apostrophes propagate: bit i is set when the byte before i is inside a
            // word.
            let carries = carry_chain(letters, letters | skips, &mut in_word);
            let starts = letters & !carries;
            out.push(Marks {
                words: starts,
                clauses: ends,
                words_before: words,
                clauses_before: clauses,
            });
            words += starts.count_ones();
            clauses += ends.count_ones();
        });
    }

    /// Words begun and clause punctuation marks before byte `at` (at most the text's length).
    fn before(marks: &[Marks], at: usize) -> (u32, u32) {
        let m = marks[at / 64];
        let below = (1u64 << (at % 64)) - 1;
        (
            m.words_before + (m.words & below).count_ones(),
            m.clauses_before + (m.clauses & below).count_ones(),
        )
    }
}

/// For 64 bytes, one bit per byte: letters and digits (and bytes of characters outside ASCII),
/// apostrophes, and clause punctuation. Sixteen bytes at a time, with the processor's vector
/// instructions.
fn kinds(block: &[u8; 64]) -> [u64; 3] {
    use wide::u8x16;
    let splat = u8x16::splat;
    // x < n, byte by byte and unsigned: min(x, n - 1) == x.
    let below = |x: u8x16, n: u8| x.min(splat(n - 1)).simd_eq(x);
    let mut out = [0u64; 3];
    for (k, sixteen) in block.as_chunks::<16>().0.iter().enumerate() {
        let v = u8x16::new(*sixteen);
        let eq = |b: u8| v.simd_eq(splat(b));
        let ascii = below((v | splat(0x20)) - splat(b'a'), 26) | below(v - splat(b'0'), 10);
        let any = |set: &[u8]| set.iter().fold(u8x16::splat(0), |m, &b| m | eq(b));
        let (skips, ends) = (any(APOSTROPHES), any(CLAUSE_ENDS));
        // A byte's top bit set: part of a character outside ASCII.
        let letters = ascii.to_bitmask() | v.to_bitmask();
        for (o, m) in out
            .iter_mut()
            .zip([letters, skips.to_bitmask(), ends.to_bitmask()])
        {
            *o |= u64::from(m) << (16 * k);
        }
    }
    out
}

/// Bytes dropped from words ("isn't" reads as "isnt").
const APOSTROPHES: &[u8] = b"'`";
/// Bytes that end a clause.
const CLAUSE_ENDS: &[u8] = b".,!?;:\n";

/// Whether `set` holds `b`, in a `const fn`.
const fn holds(set: &[u8], b: u8) -> bool {
    let mut i = 0;
    while i < set.len() {
        if set[i] == b {
            return true;
        }
        i += 1;
    }
    false
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
        } else if holds(APOSTROPHES, c) {
            0
        } else if holds(CLAUSE_ENDS, c) {
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
/// `"No-one's TRAPPED!! Isn't it?"` becomes `"no ones trapped.isnt it"`. The result is UTF-8.
pub fn normalise(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    // Lower-casing can lengthen a non-ASCII character, to at most three bytes per input byte.
    out.clear();
    out.resize(bytes.len() * 3 + 4, 0);
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

/// The words of a text, as [`find_words`] gives them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Words {
    /// Each word, a range of the buffer [`find_words`] filled.
    pub spans: Vec<(usize, usize)>,
    /// Whether a clause ends after each word (after the last, one always does).
    pub breaks: Vec<bool>,
}

/// The words of `text` as [`normalise`] would give them, and where clauses break between them,
/// each word a range of `buf`. Other text is normalised into `buf`; ASCII text, the common
/// case, is only lower-cased into it, its words are found from the vector byte classes of
/// [`kinds`] 64 bytes at a time, and the few words with an apostrophe are written again after
/// the text without it.
pub fn find_words(text: &str, buf: &mut Vec<u8>, words: &mut Words) {
    words.spans.clear();
    words.breaks.clear();
    if !text.is_ascii() {
        normalise(text, buf);
        // The normaliser leaves exactly one separator between words, none before the first
        // or after the last.
        if !buf.is_empty() {
            let mut start = 0;
            for i in memchr::memchr2_iter(b' ', b'.', buf).chain([buf.len()]) {
                words.spans.push((start, i));
                words.breaks.push(buf.get(i) != Some(&b' '));
                start = i + 1;
            }
        }
        return;
    }
    let bytes = text.as_bytes();
    buf.clear();
    buf.extend(bytes.iter().map(u8::to_ascii_lowercase));
    // Carried from one block to the next: the byte before is inside a word; clause
    // punctuation came since the last word.
    let (mut in_word, mut clause) = (false, false);
    // Words whose end is known, apostrophes inside words, and where the block starts.
    let (mut ended, mut apostrophes, mut base) = (0, Vec::new(), 0);
    each_block(bytes, b' ', |block| {
        let [letters, skips, ends] = kinds(block);
        // Inside a word after a byte, as in `Marks::index`: bit i of `carries` is set when
        // byte i - 1 is inside a word.
        let carries = carry_chain(letters, letters | skips, &mut in_word);
        let inside = letters | (skips & carries);
        // Clause punctuation generates, bytes between words propagate: bit i is set when a
        // clause ended since the last word before byte i.
        let clauses = carry_chain(ends, !inside, &mut clause);
        let mut starts = letters & !carries;
        while starts != 0 {
            let i = starts.trailing_zeros();
            if !words.spans.is_empty() {
                words.breaks.push(clauses >> i & 1 == 1);
            }
            words.spans.push((base + i as usize, 0));
            starts &= starts - 1;
        }
        let mut stops = carries & !inside;
        while stops != 0 {
            words.spans[ended].1 = base + stops.trailing_zeros() as usize;
            ended += 1;
            stops &= stops - 1;
        }
        let mut inner = skips & carries;
        while inner != 0 {
            apostrophes.push(base + inner.trailing_zeros() as usize);
            inner &= inner - 1;
        }
        base += 64;
    });
    // The last block is padding, so every word has ended.
    if !words.spans.is_empty() {
        words.breaks.push(true);
    }
    // The words the apostrophes are in (found before any is moved), then each written again.
    for at in &mut apostrophes {
        *at = words.spans.partition_point(|&(a, _)| a <= *at) - 1;
    }
    apostrophes.dedup();
    for w in apostrophes {
        let (a, b) = words.spans[w];
        let start = buf.len();
        for i in a..b {
            if !APOSTROPHES.contains(&buf[i]) {
                buf.push(buf[i]);
            }
        }
        words.spans[w] = (start, buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn scanner() -> &'static Scanner {
        static ENGINE: std::sync::OnceLock<crate::triage::Engine> = std::sync::OnceLock::new();
        &ENGINE
            .get_or_init(crate::triage::Engine::default_rules)
            .scanner
    }

    /// What was found, without the byte that completed it (which differs between a text and
    /// its normalised form), and with clauses numbered by which clause holds a phrase (clause
    /// counts only tell clauses apart: "!!" counts two).
    fn found(text: &str, parts: usize) -> Vec<(u32, u32, u32, String)> {
        let s = scanner();
        let mut clause = (None, 0);
        s.find_in_parts(text, parts, &mut Scratch::new())
            .iter()
            .map(|f| {
                match clause.0 {
                    None => clause.0 = Some(f.clause),
                    Some(c) if c != f.clause => clause = (Some(f.clause), clause.1 + 1),
                    Some(_) => {}
                }
                let phrase = s.phrase(f.phrase as usize).to_owned();
                (f.start, f.end, clause.1, phrase)
            })
            .collect()
    }

    /// Text callers might write: phrases of the rules and other words, with any spacing,
    /// punctuation, capitals and apostrophes between and within them.
    fn caller_text() -> impl Strategy<Value = String> {
        let s = scanner();
        let word = prop_oneof![
            (0..s.phrases.len()).prop_map(move |i| s.phrases[i].clone()),
            "[a-zA-Z0-9']{1,9}",
        ];
        let gap = prop_oneof![Just(" ".to_owned()), "[ ,.!?'\n-]{1,3}".prop_map(|g| g),];
        proptest::collection::vec((word, gap, any::<bool>()), 0..120).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(w, g, upper)| {
                    let w = if upper { w.to_uppercase() } else { w };
                    w + &g
                })
                .collect()
        })
    }

    #[test]
    fn the_automaton_knows_whole_words_negation_scope_and_clauses() {
        let words = |t: &str| -> Vec<String> { found(t, 1).into_iter().map(|f| f.3).collect() };
        assert!(words("the house is on fire").contains(&"on fire".to_owned()));
        assert!(!words("got fired from work").contains(&"fire".to_owned()));
        assert!(words("ON   -  FIRE").contains(&"on fire".to_owned()));
        assert!(!words("on, fire").contains(&"on fire".to_owned()));
        assert!(words("it isn't on fire").contains(&"isnt".to_owned()));
        assert_eq!(found("fire", 1), found("fire ", 1));
    }

    /// Phrases longer than a pass's run-up, across every cut: the passes that start inside
    /// one are put right by the pass before them.
    #[test]
    fn passes_that_start_inside_a_long_phrase_are_put_right() {
        let s = scanner();
        let long: Vec<&str> = s
            .phrases
            .iter()
            .filter(|p| p.split(' ').count() > RUN_UP as usize + 1)
            .map(String::as_str)
            .take(8)
            .collect();
        assert!(
            !long.is_empty(),
            "the shipped rules have phrases of 4 words or more"
        );
        for p in long {
            for lead in 0..24 {
                let text = format!("{} {}", "x".repeat(lead + 1), format!("{p} ").repeat(12));
                assert_eq!(found(&text, PASSES), found(&text, 1), "{text}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The branch-free ASCII normaliser writes what the general one writes.
        #[test]
        fn words_are_found_as_the_normaliser_splits_them(text in "[ -~\n]{0,300}", caller in caller_text()) {
            for t in [&text, &caller] {
                let (mut normalised, mut buf) = (Vec::new(), Vec::new());
                let mut words = Words::default();
                normalise(t, &mut normalised);
                find_words(t, &mut buf, &mut words);
                let split: Vec<&[u8]> = normalised
                    .split(|&b| b == b' ' || b == b'.')
                    .filter(|w| !w.is_empty())
                    .collect();
                let found: Vec<&[u8]> = words.spans.iter().map(|&(a, b)| &buf[a..b]).collect();
                prop_assert_eq!(found, split, "{:?}", t);
                // A clause ends after a word where the normalised text has a `.` or ends.
                let mut at = 0;
                let breaks: Vec<bool> = words
                    .spans
                    .iter()
                    .map(|&(a, b)| {
                        at += b - a;
                        let next = normalised.get(at).copied();
                        at += 1;
                        next != Some(b' ')
                    })
                    .collect();
                prop_assert_eq!(&words.breaks, &breaks, "{:?}", t);
            }
        }

        /// Passes read at once over parts of a text find exactly what one pass finds.
        #[test]
        fn parts_find_what_one_pass_finds(text in caller_text()) {
            for parts in 2..=PASSES {
                prop_assert_eq!(found(&text, parts), found(&text, 1));
            }
        }

        /// Reading the caller's bytes finds what reading the normalised text finds.
        #[test]
        fn raw_text_reads_as_its_normalised_form(text in caller_text()) {
            let mut normalised = Vec::new();
            normalise(&text, &mut normalised);
            let normalised = String::from_utf8(normalised).unwrap();
            prop_assert_eq!(found(&text, 1), found(&normalised, 1));
        }
    }

    /// The vector classification of bytes agrees with the normaliser's, which the automaton's
    /// byte classes are built from, byte for byte.
    #[test]
    fn marks_classify_bytes_as_the_automaton_does() {
        let all: Vec<u8> = (0..=255).collect();
        for block in all.as_chunks::<64>().0 {
            let [letters, skips, ends] = kinds(block);
            for (k, &b) in block.iter().enumerate() {
                // What the automaton's byte classes are built from.
                let folded = if b < 128 { ASCII[usize::from(b)] } else { b };
                assert_eq!(
                    letters >> k & 1 == 1,
                    folded.is_ascii_alphanumeric() || b >= 128,
                    "{b}"
                );
                assert_eq!(skips >> k & 1 == 1, b < 128 && folded == 0, "{b}");
                assert_eq!(ends >> k & 1 == 1, folded == b'.', "{b}");
            }
        }
    }

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
