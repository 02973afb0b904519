//! `CoreBpe`: pre-tokenization + BPE + special tokens + decoding, tiktoken's semantics.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::specials::{SpecialMatcher, SpecialSet};
use crate::bpe::PieceEncoder;
use crate::pretok::Pretokenizer;
use crate::vocab::{Rank, Vocab, CHUNK};

/// An immutable, thread-safe encoder.
pub struct CoreBpe {
    bpe: PieceEncoder,
    pretok: Pretokenizer,
    specials: SpecialMatcher,
    /// Special-token rank -> bytes; the first string given for a rank wins on decode.
    special_decoder: HashMap<Rank, Vec<u8>>,
    /// All token bytes sorted, built on first use (encode_with_unstable, token_byte_values).
    sorted_tokens: OnceLock<Vec<Rank>>,
}

/// Errors building an encoder.
#[derive(Debug)]
pub enum BuildError {
    Vocab(crate::vocab::VocabError),
    Pattern(String),
    Invalid(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Vocab(e) => write!(f, "{e}"),
            BuildError::Pattern(e) | BuildError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl CoreBpe {
    /// Build from a vocabulary, special tokens (in priority order for decoding duplicates) and a
    /// pre-tokenization pattern.
    pub fn new(
        vocab: Vocab,
        specials: Vec<(String, Rank)>,
        pattern: &str,
    ) -> Result<CoreBpe, BuildError> {
        if let Some(b) = vocab.missing_byte() {
            return Err(BuildError::Invalid(format!(
                "the vocabulary has no token for the byte 0x{b:02x}; byte-level BPE needs all 256"
            )));
        }
        let pretok = Pretokenizer::new(pattern).map_err(BuildError::Pattern)?;
        let mut special_decoder = HashMap::new();
        for (s, r) in &specials {
            if s.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "special token with id {r} is an empty string"
                )));
            }
            special_decoder
                .entry(*r)
                .or_insert_with(|| s.as_bytes().to_vec());
        }
        Ok(CoreBpe {
            specials: SpecialMatcher::new(&specials),
            bpe: PieceEncoder::new(vocab),
            pretok,
            special_decoder,
            sorted_tokens: OnceLock::new(),
        })
    }

    pub fn vocab(&self) -> &Vocab {
        self.bpe.vocab()
    }

    /// Encode one pre-tokenized piece: a whole-piece hit is a single token (tiktoken treats the
    /// vocabulary as a cache), otherwise BPE; `encode_pretokenized` does both in one trie walk.
    #[inline]
    fn encode_one_piece(&self, piece: &[u8], out: &mut Vec<Rank>) {
        self.bpe.encode_pretokenized(piece, out)
    }

    /// Encode `text` with no special-token handling; returns the number of tokens of the last
    /// piece (0 if `text` is empty).
    pub fn encode_ordinary_into(&self, text: &str, out: &mut Vec<Rank>) -> Result<usize, String> {
        let mut last_len = 0;
        let bytes = text.as_bytes();
        self.pretok.for_each_piece(text, |start, end| {
            let before = out.len();
            self.encode_one_piece(&bytes[start..end], out);
            last_len = out.len() - before;
        })?;
        Ok(last_len)
    }

    /// Tokens of `text`, special-token strings treated as plain text.
    pub fn encode_ordinary(&self, text: &str) -> Result<Vec<Rank>, String> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        self.encode_ordinary_into(text, &mut out)?;
        Ok(out)
    }

    /// Number of tokens `encode_ordinary` would return.
    pub fn count_ordinary(&self, text: &str) -> Result<usize, String> {
        // Encoding into a reused buffer per piece is as fast as counting and shares the code.
        let mut count = 0;
        let mut buf = Vec::with_capacity(64);
        let bytes = text.as_bytes();
        self.pretok.for_each_piece(text, |start, end| {
            buf.clear();
            self.encode_one_piece(&bytes[start..end], &mut buf);
            count += buf.len();
        })?;
        Ok(count)
    }

    /// The leftmost special token of `set` in `text` (the disallowed-special check).
    pub fn find_special(&self, text: &str, set: &SpecialSet) -> Option<String> {
        match set {
            SpecialSet::None => None,
            _ => self
                .specials
                .find(text, 0, |s| set.contains(s))
                .map(|(a, b, _)| text[a..b].to_string()),
        }
    }

    /// Tokens of `text` where the special tokens in `allowed` become their ids; returns also the
    /// number of tokens of the last ordinary piece (0 when the text ends with a special token).
    pub fn encode(&self, text: &str, allowed: &SpecialSet) -> Result<(Vec<Rank>, usize), String> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        let mut start = 0;
        let mut last_len;
        loop {
            let found = match allowed {
                SpecialSet::None => None,
                _ => self.specials.find(text, start, |s| allowed.contains(s)),
            };
            let end = found.map_or(text.len(), |(a, _, _)| a);
            last_len = self.encode_ordinary_into(&text[start..end], &mut out)?;
            match found {
                Some((_, b, rank)) => {
                    out.push(rank);
                    start = b;
                }
                None => break,
            }
        }
        Ok((out, last_len))
    }

    /// BPE of arbitrary bytes as one piece (no pre-tokenization, no whole-piece shortcut).
    pub fn byte_pair_encode(&self, bytes: &[u8]) -> Vec<Rank> {
        let mut out = Vec::new();
        self.bpe.encode_piece(bytes, &mut out);
        out
    }

    /// Encode arbitrary bytes so that `decode_bytes` gives them back: valid UTF-8 is encoded as
    /// text; an invalid tail is BPE-encoded together with the last piece of the valid prefix.
    pub fn encode_bytes(&self, bytes: &[u8]) -> Result<Vec<Rank>, String> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.encode_ordinary(text),
            Err(e) => {
                let valid = e.valid_up_to();
                let text = std::str::from_utf8(&bytes[..valid]).expect("checked prefix");
                let (tokens, last_len) = self.encode(text, &SpecialSet::None)?;
                let (mut tokens, last_len) = self.widen_last_piece(tokens, last_len);
                let mut unstable = Vec::new();
                if !tokens.is_empty() && last_len > 0 {
                    for &t in &tokens[tokens.len() - last_len..] {
                        unstable.extend_from_slice(self.vocab().token_bytes(t));
                    }
                    tokens.truncate(tokens.len() - last_len);
                }
                unstable.extend_from_slice(&bytes[valid..]);
                match self.vocab().rank(&unstable) {
                    Some(r) => tokens.push(r),
                    None => self.bpe.encode_piece(&unstable, &mut tokens),
                }
                Ok(tokens)
            }
        }
    }

    /// Extend the last piece backwards over whitespace-only tokens (tiktoken's rule: cl100k's
    /// `\s*[\r\n]+` makes a trailing whitespace split unstable).
    fn widen_last_piece(&self, tokens: Vec<Rank>, mut last_len: usize) -> (Vec<Rank>, usize) {
        let all_space = |t: Rank| {
            let b = self.vocab().token_bytes(t);
            !b.is_empty() && b.iter().all(|c| matches!(c, b' ' | b'\n' | b'\t'))
        };
        if last_len > 0 && all_space(tokens[tokens.len() - last_len]) {
            while last_len < tokens.len() && all_space(tokens[tokens.len() - last_len - 1]) {
                last_len += 1;
            }
        }
        (tokens, last_len)
    }

    /// Token ranks sorted by their bytes.
    fn sorted_tokens(&self) -> &[Rank] {
        self.sorted_tokens.get_or_init(|| {
            let mut ranks: Vec<Rank> = self.vocab().iter().map(|(_, r)| r).collect();
            ranks.sort_unstable_by(|&a, &b| {
                self.vocab().token_bytes(a).cmp(self.vocab().token_bytes(b))
            });
            ranks
        })
    }

    /// All ordinary token bytes, sorted.
    pub fn token_byte_values(&self) -> Vec<&[u8]> {
        self.sorted_tokens()
            .iter()
            .map(|&r| self.vocab().token_bytes(r))
            .collect()
    }

    /// Ranks of all tokens whose bytes start with `prefix`, in byte order.
    fn tokens_with_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = Rank> + '_ {
        let sorted = self.sorted_tokens();
        let from = sorted.partition_point(|&r| self.vocab().token_bytes(r) < prefix);
        let prefix = prefix.to_vec();
        sorted[from..]
            .iter()
            .copied()
            .take_while(move |&r| self.vocab().token_bytes(r).starts_with(&prefix))
    }

    /// tiktoken's `encode_with_unstable`: the stable tokens, and the token sequences the last
    /// (unstable) bytes might become once more text is appended.
    pub fn encode_with_unstable(
        &self,
        text: &str,
        allowed: &SpecialSet,
    ) -> Result<(Vec<Rank>, HashSet<Vec<Rank>>), String> {
        let (tokens, last_len) = self.encode(text, allowed)?;
        let mut completions = HashSet::new();
        if last_len == 0 {
            return Ok((tokens, completions));
        }
        let (mut tokens, last_len) = self.widen_last_piece(tokens, last_len);
        let unstable = self.decode_bytes(&tokens[tokens.len() - last_len..])?;
        tokens.truncate(tokens.len() - last_len);
        if unstable.is_empty() {
            return Ok((tokens, completions));
        }
        // Every single token that starts with the unstable bytes.
        for r in self.tokens_with_prefix(&unstable) {
            completions.insert(vec![r]);
        }
        // Every split point: the unstable prefix followed by a token starting with the rest.
        for i in 1..unstable.len() {
            let (prefix, suffix) = unstable.split_at(i);
            for r in self.tokens_with_prefix(suffix) {
                let possibility = [prefix, self.vocab().token_bytes(r)].concat();
                let encoded = match std::str::from_utf8(&possibility) {
                    Ok(s) => self.encode_ordinary(s)?,
                    Err(_) => self.byte_pair_encode(&possibility),
                };
                let mut seq = Vec::new();
                let mut seq_len = 0;
                for t in encoded {
                    seq.push(t);
                    seq_len += self.vocab().token_bytes(t).len();
                    if seq_len >= unstable.len() {
                        break;
                    }
                }
                completions.insert(seq);
            }
        }
        // A trailing whitespace character may split off once text follows it.
        if unstable.len() > 1 {
            if let Some((c, clen)) = last_utf8_char(&unstable) {
                if unstable.len() > clen && c.is_whitespace() {
                    let cut = unstable.len() - clen;
                    let mut re = self.byte_pair_encode(&unstable[..cut]);
                    re.extend(self.byte_pair_encode(&unstable[cut..]));
                    completions.insert(re);
                }
            }
        }
        Ok((tokens, completions))
    }

    /// The bytes of one token, special tokens included.
    pub fn token_bytes(&self, rank: Rank) -> Option<&[u8]> {
        let b = self.vocab().token_bytes(rank);
        if !b.is_empty() {
            return Some(b);
        }
        self.special_decoder.get(&rank).map(|v| v.as_slice())
    }

    /// Concatenated bytes of `tokens`; `Err` carries the first unknown id.
    pub fn decode_bytes(&self, tokens: &[Rank]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(tokens.len() * 4);
        self.decode_into(tokens, &mut out)
            .map_err(|r| r.to_string())?;
        Ok(out)
    }

    /// Append the bytes of `tokens` to `out`; `Err(rank)` for the first unknown id.
    pub fn decode_into(&self, tokens: &[Rank], out: &mut Vec<u8>) -> Result<(), Rank> {
        for &t in tokens {
            let (chunk, len) = self.vocab().token_chunk(t);
            if len != 0 && len <= CHUNK {
                let at = out.len();
                out.extend_from_slice(chunk);
                out.truncate(at + len);
            } else if len != 0 {
                out.extend_from_slice(self.vocab().token_bytes(t));
            } else {
                match self.special_decoder.get(&t) {
                    Some(s) => out.extend_from_slice(s),
                    None => return Err(t),
                }
            }
        }
        Ok(())
    }
}

/// The last UTF-8 character of `bytes` and its length, if the bytes end with a valid one.
fn last_utf8_char(bytes: &[u8]) -> Option<(char, usize)> {
    for len in 1..=4.min(bytes.len()) {
        if let Ok(s) = std::str::from_utf8(&bytes[bytes.len() - len..]) {
            return s.chars().next().map(|c| (c, len));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::R50K_PATTERN;

    fn toy() -> CoreBpe {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for t in [
            "he", "ll", "hell", "hello", " w", "or", " wor", " world", "ld",
        ] {
            tokens.push(t.as_bytes().to_vec());
        }
        let vocab = Vocab::from_pairs(
            tokens
                .iter()
                .enumerate()
                .map(|(r, t)| (t.as_slice(), r as Rank)),
        )
        .unwrap();
        let specials = vec![
            ("<|end|>".to_string(), 1000),
            ("<|endoftext|>".to_string(), 1001),
        ];
        CoreBpe::new(vocab, specials, R50K_PATTERN).unwrap()
    }

    #[test]
    fn encodes_and_decodes() {
        let core = toy();
        let ids = core.encode_ordinary("hello world").unwrap();
        assert_eq!(ids, vec![259, 263]);
        assert_eq!(core.decode_bytes(&ids).unwrap(), b"hello world");
        assert_eq!(core.count_ordinary("hello world").unwrap(), 2);
    }

    #[test]
    fn special_tokens() {
        let core = toy();
        let (ids, last) = core.encode("hello<|endoftext|>", &SpecialSet::All).unwrap();
        assert_eq!(ids, vec![259, 1001]);
        assert_eq!(last, 0);
        let (ids, _) = core.encode("hello<|end|>", &SpecialSet::None).unwrap();
        assert!(ids.len() > 2);
        assert_eq!(
            core.find_special("a <|end|> b", &SpecialSet::All)
                .as_deref(),
            Some("<|end|>")
        );
        assert_eq!(core.decode_bytes(&[1001]).unwrap(), b"<|endoftext|>");
        assert_eq!(core.decode_bytes(&[5000]).unwrap_err(), "5000");
    }

    #[test]
    fn invalid_utf8_round_trips() {
        let core = toy();
        for bytes in [&b"hello \xff\xfe"[..], b"\x80", b"wor\xe2\x82", b""] {
            let ids = core.encode_bytes(bytes).unwrap();
            assert_eq!(core.decode_bytes(&ids).unwrap(), bytes);
        }
    }

    #[test]
    fn rejects_vocab_without_all_bytes() {
        let vocab = Vocab::from_pairs([(&b"a"[..], 0)]).unwrap();
        assert!(CoreBpe::new(vocab, vec![], R50K_PATTERN).is_err());
    }
}
