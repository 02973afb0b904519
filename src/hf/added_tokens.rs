//! Added tokens: the special and user tokens `tokenizers` cuts out of the text before the
//! pre-tokenizer runs, found as its `AddedVocabulary` finds them.

use crate::vocab::NO_RANK as NONE;

/// One added token as `tokenizers` stores it.
#[derive(Clone, Debug)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    pub single_word: bool,
    pub lstrip: bool,
    pub rstrip: bool,
}

/// Finds added tokens leftmost-longest, like the aho-corasick automaton `tokenizers` builds, then
/// applies `single_word`, `lstrip` and `rstrip` exactly as `AddedVocabulary::find_matches`.
pub struct AddedMatcher {
    tokens: Vec<AddedToken>,
    /// Trie over token bytes: node -> sorted (byte, child); node 0 is the root.
    children: Vec<Vec<(u8, u32)>>,
    /// node -> index in `tokens` of the token ending there, or NONE.
    terminal: Vec<u32>,
    first_byte: [bool; 256],
    /// The first byte of every token, when they all share it.
    only_first: Option<u8>,
    word_char: Option<fancy_regex::Regex>,
}

impl AddedMatcher {
    pub fn new(tokens: Vec<AddedToken>) -> Self {
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut terminal = vec![NONE];
        let mut first_byte = [false; 256];
        for (t, tok) in tokens.iter().enumerate() {
            let bytes = tok.content.as_bytes();
            if bytes.is_empty() {
                continue;
            }
            first_byte[bytes[0] as usize] = true;
            let mut node = 0usize;
            for &b in bytes {
                node = match children[node].binary_search_by_key(&b, |c| c.0) {
                    Ok(k) => children[node][k].1 as usize,
                    Err(k) => {
                        let child = children.len();
                        children[node].insert(k, (b, child as u32));
                        children.push(Vec::new());
                        terminal.push(NONE);
                        child
                    }
                };
            }
            // The same content twice: the first one wins (its pattern id is lower).
            if terminal[node] == NONE {
                terminal[node] = t as u32;
            }
        }
        let word_char = tokens
            .iter()
            .any(|t| t.single_word)
            .then(|| fancy_regex::Regex::new(r"\w").expect("valid regex"));
        let firsts: Vec<u8> = (0..=255u8).filter(|&b| first_byte[b as usize]).collect();
        let only_first = (firsts.len() == 1).then(|| firsts[0]);
        AddedMatcher {
            tokens,
            children,
            terminal,
            first_byte,
            only_first,
            word_char,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.children[0].is_empty()
    }

    /// The longest token starting at `at`, as (end, token index).
    fn longest_at(&self, text: &[u8], at: usize) -> Option<(usize, usize)> {
        let mut node = 0usize;
        let mut best = None;
        for (k, &b) in text[at..].iter().enumerate() {
            match self.children[node].binary_search_by_key(&b, |c| c.0) {
                Ok(i) => node = self.children[node][i].1 as usize,
                Err(_) => break,
            }
            if self.terminal[node] != NONE {
                best = Some((at + k + 1, self.terminal[node] as usize));
            }
        }
        best
    }

    fn is_word_char(&self, c: Option<char>) -> bool {
        match (c, &self.word_char) {
            (Some(c), Some(re)) => re.is_match(c.encode_utf8(&mut [0u8; 4])).unwrap_or(false),
            _ => false,
        }
    }

    /// Split `text` into (Some(id) for an added token | None, start, end) covering all of it.
    pub fn find_matches(&self, text: &str) -> Vec<(Option<u32>, usize, usize)> {
        let mut splits = Vec::new();
        if self.is_empty() {
            if !text.is_empty() {
                splits.push((None, 0, text.len()));
            }
            return splits;
        }
        let bytes = text.as_bytes();
        let mut start_offset = 0;
        let mut at = 0;
        while at < bytes.len() {
            // Skip to the next byte that can start a token (one compare per byte when all
            // tokens start with the same byte, which the compiler vectorizes).
            let skip = match self.only_first {
                Some(first) => bytes[at..].iter().position(|&b| b == first),
                None => bytes[at..]
                    .iter()
                    .position(|&b| self.first_byte[b as usize]),
            };
            match skip {
                Some(k) => at += k,
                None => break,
            }
            let Some((stop0, t)) = self.longest_at(bytes, at) else {
                at += 1;
                continue;
            };
            let (mut start, mut stop) = (at, stop0);
            at = stop0;
            let tok = &self.tokens[t];
            if tok.single_word {
                let before = text[..start].chars().next_back();
                let after = text[stop..].chars().next();
                if self.is_word_char(before) || self.is_word_char(after) {
                    continue;
                }
            }
            if tok.lstrip {
                let trimmed = text[..start].trim_end_matches(char::is_whitespace).len();
                start = trimmed.max(start_offset);
            }
            if tok.rstrip {
                stop +=
                    text[stop..].len() - text[stop..].trim_start_matches(char::is_whitespace).len();
            }
            if start_offset < start {
                splits.push((None, start_offset, start));
            }
            splits.push((Some(tok.id), start, stop));
            start_offset = stop;
        }
        if start_offset != bytes.len() {
            splits.push((None, start_offset, bytes.len()));
        }
        splits
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn added(id: u32, content: &str) -> AddedToken {
        AddedToken {
            id,
            content: content.into(),
            single_word: false,
            lstrip: false,
            rstrip: false,
        }
    }

    #[test]
    fn added_tokens_leftmost_longest_with_strip_flags() {
        let m = AddedMatcher::new(vec![added(1, "  "), added(2, "   "), added(3, "<s>")]);
        assert_eq!(
            m.find_matches("a     b<s>"),
            vec![
                (None, 0, 1),
                (Some(2), 1, 4),
                (Some(1), 4, 6),
                (None, 6, 7),
                (Some(3), 7, 10)
            ]
        );
        let mut t = added(3, "<s>");
        t.lstrip = true;
        t.rstrip = true;
        let m = AddedMatcher::new(vec![t]);
        assert_eq!(
            m.find_matches("a  <s>  b"),
            vec![(None, 0, 1), (Some(3), 1, 8), (None, 8, 9)]
        );
        let mut t = added(4, "ab");
        t.single_word = true;
        let m = AddedMatcher::new(vec![t]);
        assert_eq!(
            m.find_matches("xab ab"),
            vec![(None, 0, 4), (Some(4), 4, 6)]
        );
    }
}
