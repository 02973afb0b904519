//! What each id decodes to, which ids are special, and the offset trimming of ByteLevel's
//! post-processor.

use super::byte_level::decode_byte_level_into;
use super::offsets::byte_to_char_offsets;
use crate::vocab::{id_beyond_limit, id_limit};

/// What each id decodes to (before UTF-8 decoding), and which ids are special.
pub struct TokenTable {
    bytes: Vec<Option<Box<[u8]>>>,
    special: Vec<bool>,
    /// Leading and trailing characters that ByteLevel offset trimming drops ('Ġ' or spaces).
    spaces: Vec<(u16, u16)>,
    /// Added tokens with lstrip/rstrip: their token string is the text they matched.
    stripping: Vec<bool>,
}

fn is_trimmed_space(c: char) -> bool {
    c == 'Ġ' || c.is_whitespace()
}

fn space_counts(s: &str) -> (u16, u16) {
    let lead = s.chars().take_while(|&c| is_trimmed_space(c)).count();
    let trail = s.chars().rev().take_while(|&c| is_trimmed_space(c)).count();
    (
        lead.min(u16::MAX as usize) as u16,
        trail.min(u16::MAX as usize) as u16,
    )
}

impl TokenTable {
    /// `entries` are (token string, id, special); later entries override earlier ones with the
    /// same id (pass the model vocab first, then added tokens, as Hugging Face looks them up).
    /// With `byte_level`, strings in the byte-level alphabet decode to their bytes, others to
    /// their UTF-8 (the ByteLevel decoder's rule).
    ///
    /// The table has a slot per id up to the largest, so an id past
    /// `crate::vocab::id_limit(number of entries)` is an error, before anything is allocated.
    pub fn new<'a>(
        entries: impl Iterator<Item = (&'a str, u32, bool)> + Clone,
        byte_level: bool,
    ) -> Result<Self, String> {
        let n_entries = entries.clone().count();
        if let Some((s, id, _)) = entries.clone().max_by_key(|e| e.1) {
            if u64::from(id) >= id_limit(n_entries) {
                return Err(id_beyond_limit(
                    &format!("id {id} of token {s:?}"),
                    n_entries,
                ));
            }
        }
        let mut table = TokenTable {
            bytes: Vec::new(),
            special: Vec::new(),
            spaces: Vec::new(),
            stripping: Vec::new(),
        };
        let mut buf = Vec::new();
        for (s, id, special) in entries {
            let id = id as usize;
            if id >= table.bytes.len() {
                table.bytes.resize(id + 1, None);
                table.special.resize(id + 1, false);
                table.spaces.resize(id + 1, (0, 0));
                table.stripping.resize(id + 1, false);
            }
            let bytes: &[u8] = if byte_level && decode_byte_level_into(s, &mut buf) {
                &buf
            } else {
                s.as_bytes()
            };
            table.bytes[id] = Some(bytes.into());
            table.special[id] = special;
            table.spaces[id] = space_counts(s);
        }
        Ok(table)
    }

    /// Mark an added token with lstrip or rstrip (see `stripping`).
    pub fn set_stripping(&mut self, id: u32) {
        if let Some(flag) = self.stripping.get_mut(id as usize) {
            *flag = true;
        }
    }

    /// `tokenizers`' ByteLevel `process_offsets` on a whole encoding: take the byte `offsets` of
    /// `ids` in `text` to character offsets without the tokens' leading/trailing spaces (kept
    /// for the first token's single prefix space when `add_prefix_space`).
    pub fn trim_offsets(
        &self,
        text: &str,
        ids: &[u32],
        offsets: &mut [(u32, u32)],
        add_prefix_space: bool,
    ) {
        let counts: Vec<(u16, u16)> = ids
            .iter()
            .zip(offsets.iter())
            .map(|(&id, &(s, e))| match self.stripping.get(id as usize) {
                Some(true) => space_counts(&text[s as usize..e as usize]),
                _ => self.spaces.get(id as usize).copied().unwrap_or((0, 0)),
            })
            .collect();
        byte_to_char_offsets(text, offsets);
        for (i, (&(lead, trail), (start, end))) in counts.iter().zip(offsets.iter_mut()).enumerate()
        {
            let mut lead = lead as u32;
            let trail = trail as u32;
            if lead == 1 && add_prefix_space && (i == 0 || *start == 0) {
                lead = 0;
            }
            if lead > 0 {
                *start = (*start + lead).min(*end);
            }
            if trail > 0 && *end >= trail {
                *end = (*end - trail).max(*start);
            }
        }
    }

    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize).and_then(|b| b.as_deref())
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// Append the bytes of `ids` to `out`; Err(id) for an id with no token.
    pub fn decode_into(
        &self,
        ids: &[u32],
        skip_special: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), u32> {
        for &id in ids {
            let b = self.token_bytes(id).ok_or(id)?;
            if !(skip_special && self.special[id as usize]) {
                out.extend_from_slice(b);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_offsets_drops_spaces_in_characters() {
        // ids: 0 = "Ġa" (byte-level " a"), 1 = added "  " (spaces), 2 = "é".
        let mut table = TokenTable::new(
            [("Ġa", 0, false), ("  ", 1, false), ("é", 2, false)].into_iter(),
            true,
        )
        .unwrap();
        let text = "é a  ";
        let mut offs = vec![(0, 2), (2, 4), (4, 6)];
        table.trim_offsets(text, &[2, 0, 1], &mut offs, false);
        assert_eq!(offs, vec![(0, 1), (2, 3), (5, 5)]);
        // A stripping token's string is the text it matched.
        table.set_stripping(2);
        let mut offs = vec![(0, 3)];
        table.trim_offsets(" é", &[2], &mut offs, false);
        assert_eq!(offs, vec![(1, 2)]);
    }

    #[test]
    fn an_id_past_the_limit_is_refused_before_allocating() {
        let huge = u32::MAX - 1;
        let err = TokenTable::new([("a", 0, false), ("zzz", huge, false)].into_iter(), false)
            .err()
            .unwrap();
        assert!(
            err.starts_with("id 4294967294 of token \"zzz\" is beyond"),
            "{err}"
        );
        let limit = id_limit(2) as u32;
        assert!(TokenTable::new(
            [("a", 0, false), ("b", limit - 1, false)].into_iter(),
            false
        )
        .is_ok());
        assert!(
            TokenTable::new([("a", 0, false), ("b", limit, false)].into_iter(), false).is_err()
        );
    }
}
