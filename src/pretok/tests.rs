//! Every scanner against fancy-regex on the same pattern: edge cases, known splits, random
//! strings, the shared corpora and long runs.

use std::time::Instant;

use fancy_regex::Regex;

use super::*;
use crate::unicode::{LETTER, LOWER, UPPER};

/// Full-size checks need an optimized build (`cargo test --release`, as CI should run them);
/// a debug build checks a tenth of the random strings and 300 KB of each corpus.
const THOROUGH: bool = !cfg!(debug_assertions);

const FAMILIES: [(&str, &str); 3] = [
    ("r50k", R50K_PATTERN),
    ("cl100k", CL100K_PATTERN),
    ("o200k", O200K_PATTERN),
];

fn pieces(pre: &Pretokenizer, text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    pre.for_each_piece(text, |a, b| out.push((a, b))).unwrap();
    out
}

fn regex_pieces(re: &Regex, text: &str) -> Vec<(usize, usize)> {
    re.find_iter(text)
        .map(|m| {
            let m = m.unwrap_or_else(|e| panic!("fancy-regex failed on {text:?}: {e}"));
            (m.start(), m.end())
        })
        .collect()
}

/// The pieces as strings, for readable failures.
fn texts(text: &str, pieces: &[(usize, usize)]) -> Vec<String> {
    pieces
        .iter()
        .map(|&(a, b)| text[a..b].to_string())
        .collect()
}

/// One family's scanner next to fancy-regex running the same pattern.
struct Pair {
    name: &'static str,
    scanner: Pretokenizer,
    regex: Regex,
}

impl Pair {
    fn new(name: &'static str, pattern: &str) -> Pair {
        let scanner = Pretokenizer::new(pattern).unwrap();
        assert!(scanner.is_scanner(), "{name} did not get its scanner");
        Pair {
            name,
            scanner,
            regex: Regex::new(pattern).unwrap(),
        }
    }

    fn all() -> Vec<Pair> {
        FAMILIES.iter().map(|&(n, p)| Pair::new(n, p)).collect()
    }

    fn check(&self, text: &str) {
        let ours = pieces(&self.scanner, text);
        let theirs = regex_pieces(&self.regex, text);
        if ours != theirs {
            let i = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
            let from = ours.get(i.saturating_sub(2)).map_or(0, |p| p.0);
            panic!(
                "{}: pieces differ at piece {i} (byte {from}) of {:?}\n scanner: {:?}\n regex:   {:?}",
                self.name,
                &text[from..text.len().min(from + 200)],
                texts(text, &ours[i.saturating_sub(2)..ours.len().min(i + 4)]),
                texts(text, &theirs[i.saturating_sub(2)..theirs.len().min(i + 4)]),
            );
        }
    }
}

fn corpora_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora")
}

/// The longest prefix of `text` of at most `max` bytes.
fn prefix(text: &str, max: usize) -> &str {
    let mut cut = text.len().min(max);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// The shared corpora (cut to `max_bytes` each), or none (with a note) where absent.
fn corpora(max_bytes: usize) -> Vec<(String, String)> {
    let dir = corpora_dir();
    let mut out = Vec::new();
    for name in ["en", "en_sotu", "ko", "ja", "zh", "code"] {
        let path = dir.join(format!("{name}.txt"));
        match std::fs::read_to_string(&path) {
            Ok(text) => out.push((name.to_string(), prefix(&text, max_bytes).to_string())),
            Err(e) => eprintln!("note: skipping corpus {}: {e}", path.display()),
        }
    }
    out
}

#[test]
fn pretok_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pretokenizer>();
}

#[test]
fn pretok_other_patterns_use_fancy_regex() {
    let pre = Pretokenizer::new(r"\w+|\s+").unwrap();
    assert!(!pre.is_scanner());
    assert_eq!(pieces(&pre, "ab  c"), vec![(0, 2), (2, 4), (4, 5)]);
    let err = Pretokenizer::new(r"(").err().unwrap();
    assert!(err.starts_with("invalid pattern"), "{err}");
}

#[test]
fn pretok_every_letter_is_upper_or_lower() {
    // o200k_piece relies on it: a letter always starts one of the two word alternatives.
    for c in (0..0x11_0000u32).filter_map(char::from_u32) {
        let flags = CLASSES.of(c);
        if flags & LETTER != 0 {
            assert_ne!(flags & (UPPER | LOWER), 0, "U+{:04X}", c as u32);
        }
    }
}

#[test]
fn pretok_gpt2_original_pattern_is_r50k() {
    let pre = Pretokenizer::new(GPT2_PATTERN).unwrap();
    assert!(matches!(pre, Pretokenizer::R50k));
    let pair = Pair {
        name: "gpt2-original",
        scanner: pre,
        regex: Regex::new(GPT2_PATTERN).unwrap(),
    };
    for text in edge_cases() {
        pair.check(&text);
    }
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..if THOROUGH { 50_000 } else { 5_000 } {
        pair.check(&rng.text(64));
    }
    for (_, text) in corpora(300_000) {
        pair.check(&text);
    }
}

fn edge_cases() -> Vec<String> {
    let mut cases: Vec<String> = [
        "",
        "a",
        " ",
        "'",
        "''",
        "'s",
        "'S",
        "'ll",
        "'LL",
        "'lL",
        "'Re",
        "'ve'd",
        "'x",
        "'ſ",
        "don't",
        "DON'T",
        "I'M here, he'LL go; she'D've",
        "ʼs 's 'ſ 'K",
        "dog'ſ DOG'ſx x'\u{212a} I'\u{17f}\u{17f}",
        "A'S a'LL \u{301}'re 中've ǅ'd",
        "'\u{301}s x' s",
        "hello world",
        "Hello, World!",
        "today\n \n",
        "today\n  \n",
        "today\n\n\n  x",
        "a\r\nb\r\n\r\n c",
        "\r\n\r\n",
        " \r \n \r\n ",
        "trailing   ",
        "trailing \t\n ",
        "   leading",
        "  \tword",
        " \u{3000}word",
        "\u{3000}\u{3000}漢字",
        "a\u{a0}\u{a0}b",
        "a\u{2028}b\u{2028}\u{2028}",
        "x\u{85}\u{85}y\u{85}",
        "cafe\u{301} e\u{301}\u{301}! \u{301}A",
        "\u{301}\u{301}ABC",
        "!\u{301}",
        "\u{301}AB",
        " \u{301}AB",
        "1 12 123 1234 12345 123456 1234567",
        "x1234567y",
        "٣٤٥٦ ½¾ ⅫⅫ",
        "a/b //c ?/\n/ ./\r\n",
        "https://example.com/path?q=1",
        "漢字かな交じり文。",
        "한국어 텍스트입니다.",
        "ภาษาไทย",
        "👨\u{200d}👩\u{200d}👧\u{200d}👦 family 🇫🇷",
        "ǅungla ʰa ǅA AǅB Ǆǅǆ",
        "ABCdef ABC DEFg AbC",
        "中A 中a A中",
        "\t\t\tx",
        "^^^ ^^^",
        "  ",
        "\n",
        "x  ",
        " ' 's ' ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in 1..=7 {
        cases.push("9".repeat(n));
        cases.push(format!("a{}b", "9".repeat(n)));
    }
    for ch in [
        "a", " ", "\n", "^", "0", "\u{3000}", "\t", "A", "\u{301}", "é",
    ] {
        for n in [1, 2, 3, 5, 100, 1000] {
            cases.push(ch.repeat(n));
            cases.push(format!("a{}", ch.repeat(n)));
            cases.push(format!("{}a", ch.repeat(n)));
        }
    }
    cases
}

#[test]
fn pretok_edge_cases_match_regex() {
    for pair in Pair::all() {
        for text in edge_cases() {
            pair.check(&text);
        }
    }
}

#[test]
fn pretok_known_splits() {
    let split = |pattern: &str, text: &str| {
        let pre = Pretokenizer::new(pattern).unwrap();
        texts(text, &pieces(&pre, text))
    };
    assert_eq!(split(CL100K_PATTERN, "today\n \n"), ["today", "\n \n"]);
    assert_eq!(split(CL100K_PATTERN, "today\n  \n"), ["today", "\n  \n"]);
    assert_eq!(
        split(CL100K_PATTERN, "a  \u{3000}b"),
        ["a", "  ", "\u{3000}b"]
    );
    assert_eq!(split(R50K_PATTERN, "I'LL"), ["I", "'", "LL"]);
    assert_eq!(split(CL100K_PATTERN, "I'LL"), ["I", "'LL"]);
    assert_eq!(split(O200K_PATTERN, "I'LL x"), ["I'LL", " x"]);
    assert_eq!(split(O200K_PATTERN, "a/b ?/\n/"), ["a", "/b", " ?/\n/"]);
    assert_eq!(split(O200K_PATTERN, "1234567"), ["123", "456", "7"]);
    assert_eq!(split(O200K_PATTERN, "中A"), ["中", "A"]);
}

/// A tiny deterministic PRNG (xorshift64*), so random tests reproduce exactly.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A string of up to `max_atoms` atoms drawn from `ALPHABET` by weight.
    fn text(&mut self, max_atoms: usize) -> String {
        let total: usize = ALPHABET.iter().map(|&(w, _)| w).sum();
        let mut out = String::new();
        for _ in 0..self.below(max_atoms + 1) {
            let mut roll = self.below(total);
            for &(weight, atoms) in ALPHABET {
                if roll < weight {
                    let n = atoms.chars().count();
                    out.push(atoms.chars().nth(self.below(n)).unwrap());
                    break;
                }
                roll -= weight;
            }
        }
        out
    }
}

/// (weight, chars to pick one from): the characters whose classes the patterns tell apart.
const ALPHABET: &[(usize, &str)] = &[
    (10, "abcdefghijklmnopqrstuvwxyz"),
    (6, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    (6, "sdmtlver"),
    (3, "SDMTLVER"),
    (4, "0123456789"),
    (8, "'"),
    (12, " "),
    (3, "\t"),
    (3, "\r"),
    (4, "\n"),
    (2, "\u{3000}\u{a0}\u{2028}\u{85}\u{b}\u{c}"),
    (3, "한국어中文字かなカナ"),
    (3, "\u{301}\u{308}\u{e31}\u{93f}"),
    (3, "\u{1c5}\u{2b0}\u{1c4}\u{1c6}\u{e01}\u{e32}ǅʰ"),
    (2, "😀👍\u{200d}\u{fe0f}🇫🇷"),
    (4, "/"),
    (5, ".,!?-^\"()[]{}#$%&*+=<>@\\_`|~;:"),
    (2, "ſ\u{212a}İßﬀ\u{345}Ωω"),
    (2, "½٣Ⅻ²"),
];

#[test]
fn pretok_random_strings_match_regex() {
    // 200k strings per family; each family in its own thread (2 cores in CI).
    std::thread::scope(|scope| {
        for (i, (name, pattern)) in FAMILIES.iter().enumerate() {
            scope.spawn(move || {
                let pair = Pair::new(name, pattern);
                let mut rng = XorShift(0x1234_5678_9ABC_DEF1 ^ ((i as u64 + 1) * 0x9E37));
                for _ in 0..if THOROUGH { 200_000 } else { 20_000 } {
                    pair.check(&rng.text(64));
                }
            });
        }
    });
}

#[test]
fn pretok_corpora_match_regex() {
    let corpora = corpora(if THOROUGH { usize::MAX } else { 300_000 });
    std::thread::scope(|scope| {
        for (name, pattern) in FAMILIES {
            let corpora = &corpora;
            scope.spawn(move || {
                let pair = Pair::new(name, pattern);
                for (_, text) in corpora {
                    pair.check(text);
                }
            });
        }
    });
}

/// Inputs that make a backtracking engine blow up (o200k has no possessives: fancy-regex
/// fails at about a million spaces) must split as the pattern means, in linear time.
#[test]
fn pretok_long_runs_are_linear() {
    let n = if THOROUGH { 10 << 20 } else { 1 << 20 };
    let cl = Pretokenizer::new(CL100K_PATTERN).unwrap();
    let o2 = Pretokenizer::new(O200K_PATTERN).unwrap();
    let r5 = Pretokenizer::new(R50K_PATTERN).unwrap();
    for ch in ["a", " ", "\n", "^", "0", "\u{3000}", "\t"] {
        let text = ch.repeat(n / ch.len());
        for pre in [&r5, &cl, &o2] {
            let start = Instant::now();
            let got = pieces(pre, &text);
            let secs = start.elapsed().as_secs_f64();
            let expected: Vec<(usize, usize)> = if ch == "0" && !matches!(pre, Pretokenizer::R50k) {
                (0..text.len())
                    .step_by(3)
                    .map(|i| (i, (i + 3).min(text.len())))
                    .collect()
            } else {
                vec![(0, text.len())]
            };
            assert!(got == expected, "{ch:?} x {n}: {} pieces", got.len());
            if THOROUGH {
                assert!(secs < 0.5, "{ch:?} x {n} took {secs:.2} s");
            }
        }
    }
    // Whitespace runs between other text, past where fancy-regex gives up on o200k.
    let spaces = " ".repeat(2_000_000);
    let split = |pre: &Pretokenizer, text: &str| pieces(pre, text);
    let text = format!("a{spaces}");
    assert_eq!(split(&o2, &text), [(0, 1), (1, text.len())]);
    let text = format!("{spaces}a");
    assert_eq!(
        split(&o2, &text),
        [(0, spaces.len() - 1), (spaces.len() - 1, text.len())]
    );
    let text = format!("x{spaces}\n{spaces}");
    let nl = spaces.len() + 2;
    assert_eq!(split(&o2, &text), [(0, 1), (1, nl), (nl, text.len())]);
    assert_eq!(split(&cl, &text), [(0, 1), (1, text.len())]);
    let text = format!("{spaces}\n{spaces}x");
    assert_eq!(
        split(&o2, &text),
        [
            (0, nl - 1),
            (nl - 1, text.len() - 2),
            (text.len() - 2, text.len())
        ]
    );
}
