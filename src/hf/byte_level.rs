//! GPT-2's byte-level alphabet: every byte stands for a visible character, so that byte-level
//! vocabularies can be stored as text (`tokenizer.json`, `vocab.json`, `merges.txt`).

use crate::vocab::NO_RANK as NONE;

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100.. in byte order, so that every byte is a visible character.
const BYTE_CHARS: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut shifted = 0u32;
    let mut b = 0u32;
    while b < 256 {
        let printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        table[b as usize] = if printable {
            b
        } else {
            shifted += 1;
            255 + shifted
        };
        b += 1;
    }
    table
};

/// The inverse of `BYTE_CHARS`: code point (< 324) -> byte, NONE outside the alphabet.
const CHAR_BYTES: [u32; 324] = {
    let mut inverse = [NONE; 324];
    let mut b = 0;
    while b < 256 {
        inverse[BYTE_CHARS[b] as usize] = b as u32;
        b += 1;
    }
    inverse
};

/// The character GPT-2's byte-level alphabet uses for each byte.
pub fn byte_level_chars() -> [char; 256] {
    BYTE_CHARS.map(|c| char::from_u32(c).expect("valid code point"))
}

/// The bytes a byte-level string stands for, or None if some character is outside the alphabet.
pub fn decode_byte_level(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    decode_byte_level_into(s, &mut out).then_some(out)
}

/// `decode_byte_level` into `out` (cleared first); false if a character is outside the alphabet.
pub(crate) fn decode_byte_level_into(s: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    for c in s.chars() {
        match CHAR_BYTES.get(c as usize) {
            Some(&b) if b != NONE => out.push(b as u8),
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_is_gpt2s() {
        let t = byte_level_chars();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[0], 'Ā');
        assert_eq!(decode_byte_level("ĠhelloĊ").unwrap(), b" hello\n");
        assert_eq!(decode_byte_level("  "), None);
    }
}
