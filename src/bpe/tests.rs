//! Tests of piece encoding: the merge loop against the rule written plainly, and the
//! backtracking encoder against the merge loop (bundled vocabularies, corpora, random pieces,
//! random small vocabularies).

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;

use super::backtrack::Backtrack;
use super::merge::{merge_heap, HeapScratch, Part};
use super::{ConcatRank, PieceEncoder};
use crate::pretok::{Pretokenizer, CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN};
use crate::vocab::{Rank, Vocab};

/// The rule written as plainly as possible, for comparison.
pub(crate) fn reference(vocab: &Vocab, piece: &[u8]) -> Vec<Rank> {
    let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
    loop {
        let mut best: Option<(Rank, usize)> = None;
        for k in 0..parts.len().saturating_sub(1) {
            let joined = [parts[k].as_slice(), parts[k + 1].as_slice()].concat();
            if let Some(r) = vocab.rank(&joined) {
                if best.is_none_or(|(b, _)| r < b) {
                    best = Some((r, k));
                }
            }
        }
        let Some((_, k)) = best else { break };
        let right = parts.remove(k + 1);
        parts[k].extend(right);
    }
    parts.iter().map(|p| vocab.rank(p).unwrap()).collect()
}

/// The heap strategy of the merge loop on its own (the dispatch takes it only for long pieces).
fn merge_long(vocab: &Vocab, piece: &[u8]) -> Vec<Rank> {
    let rule = ConcatRank { vocab, piece };
    let mut parts: Vec<Part> = (0..piece.len() as u32)
        .map(|i| Part {
            id: vocab.byte_rank(piece[i as usize]),
            start: i,
            end: i + 1,
        })
        .collect();
    merge_heap(&rule, &mut parts, &mut HeapScratch::default());
    parts.iter().map(|p| p.id).collect()
}

fn toy_vocab() -> Vocab {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    for t in [
        "ab", "bc", "abc", "aa", "aaaa", "cd", "abcd", "bcd", "dd", "aaa", "ba",
    ] {
        tokens.push(t.as_bytes().to_vec());
    }
    Vocab::from_pairs(
        tokens
            .iter()
            .enumerate()
            .map(|(r, t)| (t.as_slice(), r as Rank)),
    )
    .unwrap()
}

#[test]
fn short_and_long_agree_with_reference() {
    let v = toy_vocab();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for len in [1usize, 2, 3, 5, 17, 127, 128, 129, 300, 1000] {
        for _ in 0..50 {
            let piece: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b"abcd"[(seed % 4) as usize]
                })
                .collect();
            let want = reference(&v, &piece);
            assert_eq!(
                PieceEncoder::new(v.clone()).encode_piece_vec(&piece),
                want,
                "{:?}",
                piece
            );
            if piece.len() > 1 {
                assert_eq!(merge_long(&v, &piece), want);
            }
        }
    }
}

#[test]
fn long_runs() {
    let v = toy_vocab();
    let piece = vec![b'a'; 100_001];
    let got = PieceEncoder::new(v.clone()).encode_piece_vec(&piece);
    let total: usize = got.iter().map(|&r| v.token_bytes(r).len()).sum();
    assert_eq!(total, piece.len());
    assert_eq!(got[..3], [v.rank(b"aaaa").unwrap(); 3]);
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A bundled vocabulary, or `None` (with a note) when the data file is absent.
fn bundled(name: &str) -> Option<PieceEncoder> {
    let path = repo_path(&format!("python/toklm/data/{name}.ranks.z"));
    let Ok(z) = std::fs::read(&path) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "missing {path:?}"
        );
        eprintln!("skipped: {} not found", path.display());
        return None;
    };
    let mut blob = Vec::new();
    flate2::read::ZlibDecoder::new(&z[..])
        .read_to_end(&mut blob)
        .unwrap();
    Some(PieceEncoder::new(Vocab::from_compact(&blob).unwrap()))
}

fn fast(e: &PieceEncoder) -> &Backtrack {
    e.wait_backtrack()
        .expect("backtracking tables for this vocabulary")
}

/// The backtracking encoder against the merge algorithm.
fn check(e: &PieceEncoder, bt: &Backtrack, piece: &[u8]) {
    let mut got = Vec::new();
    assert!(bt.encode(piece, &mut got), "search failed on {piece:?}");
    let mut want = Vec::new();
    e.encode_by_merging(piece, &mut want);
    assert_eq!(got, want, "piece {:?}", String::from_utf8_lossy(piece));
}

const VOCABS: [(&str, &str); 3] = [
    ("r50k_base", R50K_PATTERN),
    ("cl100k_base", CL100K_PATTERN),
    ("o200k_base", O200K_PATTERN),
];

#[test]
fn every_token_encodes_to_itself() {
    for (name, _) in VOCABS {
        let Some(e) = bundled(name) else { continue };
        let v = e.vocab();
        let bt = fast(&e);
        for (bytes, r) in v.iter() {
            let mut got = Vec::new();
            assert!(bt.encode(bytes, &mut got));
            // All tokens of OpenAI's vocabularies are reachable (the merge path agrees).
            assert_eq!(got, [r], "{name} token {r}");
            if bytes.len() > 1 {
                check(&e, bt, bytes);
            }
        }
    }
}

#[test]
fn corpus_pieces_match_merging() {
    let dir = repo_path("../shared/corpora");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "missing {dir:?}"
        );
        eprintln!("skipped: {} not found", dir.display());
        return;
    };
    let texts: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(!texts.is_empty());
    for (name, pattern) in VOCABS {
        let Some(e) = bundled(name) else { continue };
        let bt = fast(&e);
        let pretok = Pretokenizer::new(pattern).unwrap();
        let mut seen = HashSet::new();
        for text in &texts {
            pretok
                .for_each_piece(text, |start, end| {
                    let piece = &text.as_bytes()[start..end];
                    if piece.len() > 1 && seen.insert(piece) {
                        check(&e, bt, piece);
                    }
                })
                .unwrap();
        }
        assert!(seen.len() > 10_000, "{name}: {} pieces", seen.len());
    }
}

/// A random piece: random bytes, a run of one byte, or random (often cut) tokens joined.
fn random_piece(rng: &mut Rng, v: &Vocab, tokens: &[&[u8]]) -> Vec<u8> {
    let len = match rng.below(20) {
        0 => 512 + rng.below(1500),
        1..=5 => 64 + rng.below(448),
        _ => 1 + rng.below(64),
    };
    let mut piece = Vec::with_capacity(len + 128);
    match rng.below(8) {
        0 => piece.extend((0..len).map(|_| rng.next() as u8)),
        1 => piece.resize(len, rng.next() as u8),
        2 => {
            let alphabet: Vec<u8> = (0..1 + rng.below(4)).map(|_| rng.next() as u8).collect();
            piece.extend((0..len).map(|_| alphabet[rng.below(alphabet.len())]));
        }
        _ => {
            while piece.len() < len {
                let t = tokens[rng.below(tokens.len())];
                let cut = if rng.below(4) == 0 {
                    rng.below(t.len()) + 1
                } else {
                    t.len()
                };
                piece.extend_from_slice(&t[..cut]);
            }
            piece.truncate(len);
        }
    }
    let _ = v;
    piece
}

#[test]
fn random_pieces_match_merging() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (name, _) in VOCABS {
        let Some(e) = bundled(name) else { continue };
        let v = e.vocab();
        let bt = fast(&e);
        let tokens: Vec<&[u8]> = v.iter().map(|(b, _)| b).collect();
        for i in 0..120_000 {
            let piece = random_piece(&mut rng, v, &tokens);
            check(&e, bt, &piece);
            if i % 100 == 0 && piece.len() <= 200 {
                let mut got = Vec::new();
                bt.encode(&piece, &mut got);
                assert_eq!(got, reference(v, &piece), "{piece:?}");
            }
        }
    }
}

#[test]
fn long_runs_are_linear() {
    let Some(e) = bundled("cl100k_base") else {
        return;
    };
    let bt = fast(&e);
    for unit in [&b"a"[..], b" ", b"\xe3\x80\x80", b"ab", b"\xff"] {
        let piece = unit.repeat(2_000_000 / unit.len());
        check(&e, bt, &piece);
    }
}

/// A fresh process's first long piece waits for the backtracking tables rather than take the
/// merge loop (which made it 25-80 times slower than the next one), and gets the same tokens.
#[test]
fn a_first_long_piece_does_not_take_the_merge_loop() {
    let Some(e) = bundled("cl100k_base") else {
        return;
    };
    assert!(
        e.backtrack().is_none(),
        "a large vocabulary builds its tables lazily"
    );
    let piece = b"a".repeat(super::WAIT_FOR_TABLES_BYTES);
    let tokens = e.encode_piece_vec(&piece);
    assert_eq!(
        e.slow_bytes.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the piece went through the merge loop"
    );
    assert!(e.backtrack().is_some());
    assert_eq!(tokens, merge_long(e.vocab(), &piece));
    // A shorter piece on a fresh encoder still takes the merge loop and starts the build.
    let e = bundled("cl100k_base").unwrap();
    let short = b"a".repeat(5000);
    assert_eq!(e.encode_piece_vec(&short), merge_long(e.vocab(), &short));
    assert_eq!(
        e.slow_bytes.load(std::sync::atomic::Ordering::Relaxed),
        5000
    );
}

/// Vocabularies made by merging random pairs of earlier tokens over a small alphabet: the
/// rank rule then often forms tokens from other splits, leaves some unreachable, or breaks
/// the heap order (the build must then refuse).
#[test]
fn random_small_vocabularies() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut built, mut refused, mut unreachable) = (0, 0, 0);
    for _ in 0..300 {
        let alphabet = &b"abcd"[..2 + rng.below(3)];
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut seen: HashSet<Vec<u8>> = tokens.iter().cloned().collect();
        let base: Vec<usize> = alphabet.iter().map(|&b| b as usize).collect();
        let mut pool = base.clone();
        for _ in 0..rng.below(60) {
            let a = pool[rng.below(pool.len())];
            let b = pool[rng.below(pool.len())];
            let t = [tokens[a].as_slice(), tokens[b].as_slice()].concat();
            if t.len() <= 12 && seen.insert(t.clone()) {
                pool.push(tokens.len());
                tokens.push(t);
            }
        }
        // Sometimes swap two ranks, so a token may rank below its parts.
        if rng.below(3) == 0 && tokens.len() > 258 {
            let i = 256 + rng.below(tokens.len() - 256);
            let j = 256 + rng.below(tokens.len() - 256);
            tokens.swap(i, j);
        }
        let e = PieceEncoder::new(
            Vocab::from_pairs(
                tokens
                    .iter()
                    .enumerate()
                    .map(|(r, t)| (t.as_slice(), r as Rank)),
            )
            .unwrap(),
        );
        let v = e.vocab();
        let Some(bt) = e.wait_backtrack() else {
            refused += 1;
            continue;
        };
        built += 1;
        unreachable += v.iter().filter(|&(b, r)| reference(v, b) != [r]).count();
        for (b, r) in v.iter() {
            let mut got = Vec::new();
            assert!(bt.encode(b, &mut got));
            assert_eq!(got, reference(v, b), "token {r} {b:?}");
        }
        for _ in 0..200 {
            let len = 1 + rng.below(40);
            let piece: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let mut got = Vec::new();
            assert!(bt.encode(&piece, &mut got));
            assert_eq!(
                got,
                reference(v, &piece),
                "{:?}",
                String::from_utf8_lossy(&piece)
            );
        }
    }
    assert!(
        built > 100 && refused > 10 && unreachable > 10,
        "{built} {refused} {unreachable}"
    );
}
