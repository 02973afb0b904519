//! Restricting new tokens to Unicode scripts.
//!
//! A script is given by its Unicode blocks (a small table below; blocks, not the exact Script
//! property, which is close enough for choosing which tokens to learn). A token is allowed when
//! its bytes hold at least one complete character of the chosen scripts and every other complete
//! character in it is of those scripts or is neither a letter nor a digit (a leading space or
//! punctuation, as pre-tokenized pieces have). Incomplete UTF-8 sequences at either end are
//! allowed (BPE builds characters from bytes).
//!
//! Why it keeps ids: a token that holds a complete character of script S can only occur in text
//! that contains a character of S (UTF-8 is self-synchronizing: a lead byte starts a character
//! wherever it appears). So no pair in a piece without S ever concatenates to a new token, and
//! such a piece encodes exactly as under the base vocabulary (see `extend`).

/// Unicode blocks (inclusive code-point ranges) of each supported script.
const SCRIPTS: &[(&str, &[(u32, u32)])] = &[
    (
        "Hangul",
        &[
            (0x1100, 0x11FF),
            (0x3130, 0x318F),
            (0xA960, 0xA97F),
            (0xAC00, 0xD7AF),
            (0xD7B0, 0xD7FF),
            (0xFFA0, 0xFFDC),
        ],
    ),
    (
        "Han",
        &[
            (0x2E80, 0x2FDF),
            (0x3005, 0x3007),
            (0x3021, 0x3029),
            (0x3400, 0x4DBF),
            (0x4E00, 0x9FFF),
            (0xF900, 0xFAFF),
            (0x20000, 0x3FFFF),
        ],
    ),
    ("Hiragana", &[(0x3040, 0x309F)]),
    (
        "Katakana",
        &[(0x30A0, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)],
    ),
    (
        "Latin",
        &[(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF)],
    ),
    ("Greek", &[(0x370, 0x3FF), (0x1F00, 0x1FFF)]),
    (
        "Cyrillic",
        &[(0x400, 0x52F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)],
    ),
    ("Armenian", &[(0x530, 0x58F)]),
    ("Hebrew", &[(0x590, 0x5FF)]),
    (
        "Arabic",
        &[
            (0x600, 0x6FF),
            (0x750, 0x77F),
            (0x8A0, 0x8FF),
            (0xFB50, 0xFDFF),
            (0xFE70, 0xFEFF),
        ],
    ),
    ("Devanagari", &[(0x900, 0x97F), (0xA8E0, 0xA8FF)]),
    ("Bengali", &[(0x980, 0x9FF)]),
    ("Gurmukhi", &[(0xA00, 0xA7F)]),
    ("Gujarati", &[(0xA80, 0xAFF)]),
    ("Tamil", &[(0xB80, 0xBFF)]),
    ("Telugu", &[(0xC00, 0xC7F)]),
    ("Kannada", &[(0xC80, 0xCFF)]),
    ("Malayalam", &[(0xD00, 0xD7F)]),
    ("Sinhala", &[(0xD80, 0xDFF)]),
    ("Thai", &[(0xE00, 0xE7F)]),
    ("Lao", &[(0xE80, 0xEFF)]),
    ("Myanmar", &[(0x1000, 0x109F)]),
    ("Georgian", &[(0x10A0, 0x10FF), (0x2D00, 0x2D2F)]),
    ("Ethiopic", &[(0x1200, 0x139F)]),
    ("Khmer", &[(0x1780, 0x17FF)]),
];

/// The names `ScriptSet::new` accepts.
pub fn script_names() -> Vec<&'static str> {
    SCRIPTS.iter().map(|(n, _)| *n).collect()
}

/// A set of scripts that new tokens must belong to.
#[derive(Debug, Clone)]
pub struct ScriptSet {
    ranges: Vec<(u32, u32)>,
}

impl ScriptSet {
    /// The union of the named scripts (names as in `script_names`, case-insensitive).
    pub fn new<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for name in names {
            let name = name.as_ref();
            match SCRIPTS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, r)) => ranges.extend_from_slice(r),
                None => {
                    return Err(format!(
                        "unknown script {name:?}; known: {}",
                        script_names().join(", ")
                    ))
                }
            }
        }
        if ranges.is_empty() {
            return Err("no script given".into());
        }
        Ok(ScriptSet { ranges })
    }

    /// Whether `c` is in one of the scripts.
    pub fn contains(&self, c: char) -> bool {
        let c = c as u32;
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi)
    }

    /// Whether a token with these bytes may be learned (see the module docs).
    pub fn allows(&self, token: &[u8]) -> bool {
        let (middle, head) = split_partial(token);
        let Ok(middle) = std::str::from_utf8(middle) else {
            return false;
        };
        let mut anchored = head.is_some_and(|(lo, hi)| self.contains_range(lo, hi));
        for c in middle.chars() {
            if self.contains(c) {
                anchored = true;
            } else if c.is_alphanumeric() {
                return false;
            }
        }
        anchored
    }

    /// Whether every code point in `lo..=hi` is in one block of the scripts.
    fn contains_range(&self, lo: u32, hi: u32) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= lo && hi <= b)
    }
}

/// Split `token` into its complete characters (after the tail of a character at its start) and
/// the range of code points the incomplete character at its end (if any) can begin.
fn split_partial(token: &[u8]) -> (&[u8], Option<(u32, u32)>) {
    let is_cont = |b: u8| (0x80..0xC0).contains(&b);
    let mut start = 0;
    while start < token.len() && start < 3 && is_cont(token[start]) {
        start += 1;
    }
    let end = token.len();
    let mut k = end;
    while k > start && end - k < 3 && is_cont(token[k - 1]) {
        k -= 1;
    }
    if k > start {
        let lead = token[k - 1];
        let need = match lead {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        let have = end - (k - 1);
        if have < need {
            let mut lo = token[k - 1..].to_vec();
            let mut hi = lo.clone();
            lo.resize(need, 0x80);
            hi.resize(need, 0xBF);
            let decode = |b: &[u8]| std::str::from_utf8(b).ok().and_then(|s| s.chars().next());
            let range = match (decode(&lo), decode(&hi)) {
                (Some(l), Some(h)) => Some((l as u32, h as u32)),
                _ => None,
            };
            return (&token[start..k - 1], range);
        }
    }
    (&token[start..end], None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_script_hangul_allows() {
        let s = ScriptSet::new(&["hangul"]).unwrap();
        assert!(s.allows("안녕".as_bytes()));
        assert!(s.allows(" 안녕".as_bytes()));
        assert!(s.allows("안녕.".as_bytes()));
        assert!(!s.allows(" the".as_bytes()));
        assert!(!s.allows("안a".as_bytes()));
        assert!(!s.allows(" ".as_bytes()));
        // A partial character at the end, not alone.
        let mut b = "안".as_bytes().to_vec();
        b.push(0xEB);
        assert!(s.allows(&b));
        // A lead byte whose every character is a Hangul syllable starts a Hangul token.
        assert!(s.allows(&[0xEB, 0x85]));
        assert!(s.allows(&[0xEC]));
        assert!(!s.allows(&[0xE4, 0xB8]));
        assert!(!s.allows(&[0x85, 0x95]));
        // The tail of one syllable, a whole one, the head of the next.
        let t = "가나다".as_bytes();
        assert!(s.allows(&t[1..7]));
        assert!(!s.allows(&t[1..3]));
        assert!(ScriptSet::new(&["Klingon"])
            .unwrap_err()
            .contains("unknown script"));
    }
}
