//! Per-code-point character classes for the hand-written pre-tokenizers in `pretok.rs`.
//!
//! The classes are not hard-coded: they are computed once (in a `LazyLock`) by parsing the very
//! class expressions of the OpenAI patterns with `regex_syntax` — the crate fancy-regex itself
//! uses to build its matchers — and reading back the code-point ranges of the resulting
//! `hir::ClassUnicode`. So `\p{L}`, `\s`, ... mean here exactly what they mean to the fallback
//! regex engine, for whatever Unicode version the `regex-syntax` in Cargo.lock carries (16.0 for
//! 0.8.12); a version bump cannot make the scanners and fancy-regex drift apart. (tiktoken 0.14's
//! wheel is on Unicode 16 as well: it treats letters new in 16.0, e.g. U+1C89, as `\p{L}`.)
//!
//! Storage: a direct table for ASCII and a two-level table for the rest (code point >> 8 picks a
//! deduplicated 256-entry block), about 45 KB in all (built in ~6 ms).

use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};

/// `\s`: Unicode White_Space.
pub const SPACE: u8 = 1 << 0;
/// `\p{L}`: any letter.
pub const LETTER: u8 = 1 << 1;
/// `\p{N}`: any number.
pub const NUMBER: u8 = 1 << 2;
/// `[^\s\p{L}\p{N}]`: punctuation, symbols, marks, controls, ... ("other").
pub const OTHER: u8 = 1 << 3;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`: o200k's "upper-case word head".
pub const UPPER: u8 = 1 << 4;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`: o200k's "lower-case word tail".
pub const LOWER: u8 = 1 << 5;
/// Not a class: what `ClassTable::byte` says of a byte >= 0x80 (the char must be decoded).
/// Every ASCII char has a class flag, so no ASCII byte reads as exactly `MULTIBYTE`.
pub const MULTIBYTE: u8 = 1 << 7;

/// Each flag with the class expression (as written in the OpenAI patterns) that defines it.
const CLASS_SOURCES: [(u8, &str); 6] = [
    (SPACE, r"\s"),
    (LETTER, r"\p{L}"),
    (NUMBER, r"\p{N}"),
    (OTHER, r"[^\s\p{L}\p{N}]"),
    (UPPER, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (LOWER, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
];

/// The letters that occur in the contractions `'s 't 're 've 'm 'll 'd`.
const CONTRACTION_LETTERS: &[u8] = b"stmdlvre";

const BLOCK_BITS: u32 = 8;
const BLOCK_LEN: usize = 1 << BLOCK_BITS;
const CODE_POINTS: usize = 0x11_0000;

/// Class flags of every code point, plus the case folds the `(?i:...)` contractions need.
pub struct ClassTable {
    /// Flags of each ASCII byte; `MULTIBYTE` for bytes >= 0x80.
    byte: [u8; 256],
    /// `block_of[cp >> 8]` is the index of the 256-entry block holding `cp`'s flags.
    block_of: Box<[u16]>,
    blocks: Box<[u8]>,
    /// Non-ASCII characters that `(?i)` folds onto a contraction letter, e.g. U+017F `ſ` -> `s`.
    contraction_folds: Box<[(char, u8)]>,
}

/// The table, built on first use from regex-syntax.
pub static CLASSES: LazyLock<ClassTable> = LazyLock::new(ClassTable::build);

/// Code-point ranges of a regex that regex-syntax compiles to a single Unicode class.
fn class_ranges(expr: &str) -> Vec<(char, char)> {
    let hir = regex_syntax::Parser::new()
        .parse(expr)
        .unwrap_or_else(|e| panic!("regex-syntax rejected the built-in class {expr:?}: {e}"));
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (r.start(), r.end()))
            .collect(),
        // A one-character class such as `(?i)m` may come back as a literal.
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0)
            .ok()
            .and_then(|s| s.chars().next())
            .map(|c| vec![(c, c)])
            .unwrap_or_else(|| panic!("{expr:?} is not a single character")),
        other => panic!("regex-syntax did not compile {expr:?} to a class: {other:?}"),
    }
}

impl ClassTable {
    fn build() -> ClassTable {
        let mut flat = vec![0u8; CODE_POINTS];
        for (flag, expr) in CLASS_SOURCES {
            for (lo, hi) in class_ranges(expr) {
                for f in &mut flat[lo as usize..=hi as usize] {
                    *f |= flag;
                }
            }
        }
        let mut byte = [MULTIBYTE; 256];
        byte[..128].copy_from_slice(&flat[..128]);

        let mut block_of = Vec::with_capacity(CODE_POINTS / BLOCK_LEN);
        let mut blocks: Vec<u8> = Vec::new();
        let mut seen: std::collections::HashMap<&[u8], u16> = std::collections::HashMap::new();
        for chunk in flat.chunks(BLOCK_LEN) {
            let next = (blocks.len() / BLOCK_LEN) as u16;
            let id = *seen.entry(chunk).or_insert_with(|| {
                blocks.extend_from_slice(chunk);
                next
            });
            block_of.push(id);
        }

        let mut contraction_folds = Vec::new();
        for &letter in CONTRACTION_LETTERS {
            for (lo, hi) in class_ranges(&format!("(?i:{})", letter as char)) {
                for c in lo..=hi {
                    if !c.is_ascii() {
                        contraction_folds.push((c, letter));
                    }
                }
            }
        }

        ClassTable {
            byte,
            block_of: block_of.into_boxed_slice(),
            blocks: blocks.into_boxed_slice(),
            contraction_folds: contraction_folds.into_boxed_slice(),
        }
    }

    /// Flags of an ASCII byte, `MULTIBYTE` for a byte >= 0x80: one load, no branch.
    #[inline(always)]
    pub fn byte(&self, b: u8) -> u8 {
        self.byte[b as usize]
    }

    /// Flags of any code point.
    #[inline(always)]
    pub fn code_point(&self, cp: u32) -> u8 {
        let block = self.block_of[(cp >> BLOCK_BITS) as usize] as usize;
        self.blocks[(block << BLOCK_BITS) | (cp as usize & (BLOCK_LEN - 1))]
    }

    /// Flags of a character.
    pub fn of(&self, c: char) -> u8 {
        self.code_point(c as u32)
    }

    /// Flags and UTF-8 length of the character starting at `text[i]` (`i` on a char boundary).
    #[inline(always)]
    pub fn at(&self, text: &[u8], i: usize) -> (u8, usize) {
        let flags = self.byte(text[i]);
        if flags != MULTIBYTE {
            (flags, 1)
        } else {
            let (cp, len) = decode_non_ascii(text, i);
            (self.code_point(cp), len)
        }
    }

    /// The lower-case ASCII contraction letter that the char at `text[i]` matches under `(?i)`
    /// (0 if none), and the char's UTF-8 length.
    #[inline]
    pub fn contraction_letter(&self, text: &[u8], i: usize) -> (u8, usize) {
        let b0 = text[i];
        if b0 < 0x80 {
            return (b0.to_ascii_lowercase(), 1);
        }
        let (cp, len) = decode_non_ascii(text, i);
        let letter = self
            .contraction_folds
            .iter()
            .find(|&&(c, _)| c as u32 == cp)
            .map_or(0, |&(_, l)| l);
        (letter, len)
    }

    /// How many distinct 256-code-point blocks the two-level table stores.
    pub fn block_count(&self) -> usize {
        self.blocks.len() / BLOCK_LEN
    }
}

/// Decode the multi-byte UTF-8 sequence starting at `text[i]`. `text` must be valid UTF-8 (it
/// comes from a `&str`) and `text[i] >= 0x80` must start a character.
#[inline(always)]
fn decode_non_ascii(text: &[u8], i: usize) -> (u32, usize) {
    let b0 = text[i] as u32;
    let cont = |k: usize| (text[i + k] & 0x3F) as u32;
    if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | cont(1), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (
            ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code point's flags agree with a regex built from the same class expression.
    #[test]
    fn pretok_unicode_flags_match_regex_syntax_classes() {
        let t = &*CLASSES;
        for (flag, expr) in CLASS_SOURCES {
            let re = fancy_regex::Regex::new(&format!("^{expr}$")).unwrap();
            for cp in (0..CODE_POINTS as u32).step_by(7).chain(0..0x3000) {
                let Some(c) = char::from_u32(cp) else {
                    continue;
                };
                let mut buf = [0u8; 4];
                let s = c.encode_utf8(&mut buf);
                let expected = re.is_match(s).unwrap();
                assert_eq!(t.of(c) & flag != 0, expected, "{expr} on U+{cp:04X}");
                assert_eq!(t.at(s.as_bytes(), 0), (t.of(c), s.len()), "U+{cp:04X}");
            }
        }
        assert!(t.block_count() < 400, "{} blocks", t.block_count());
    }

    /// L, N, \s and "other" partition the code points (the scanners rely on it).
    #[test]
    fn pretok_unicode_classes_partition() {
        let t = &*CLASSES;
        for c in (0..CODE_POINTS as u32).filter_map(char::from_u32) {
            let f = t.of(c) & (SPACE | LETTER | NUMBER | OTHER);
            assert_eq!(f.count_ones(), 1, "U+{:04X} flags {f:#b}", c as u32);
        }
        assert_eq!(t.byte(b' '), SPACE);
        assert_eq!(t.byte(b'a'), LETTER | LOWER);
        assert_eq!(t.byte(b'Q'), LETTER | UPPER);
        assert_eq!(t.byte(b'7'), NUMBER);
        assert_eq!(t.byte(b'/'), OTHER);
        assert_eq!(t.of('\u{3000}'), SPACE);
        assert_eq!(t.of('\u{301}'), OTHER | UPPER | LOWER);
    }

    #[test]
    fn pretok_unicode_contraction_folds() {
        let t = &*CLASSES;
        assert_eq!(t.contraction_letter("ſ".as_bytes(), 0), (b's', 2));
        assert_eq!(t.contraction_letter(b"L", 0), (b'l', 1));
        assert_eq!(t.contraction_letter("é".as_bytes(), 0), (0, 2));
    }
}
