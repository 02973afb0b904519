//! Offsets of tokens in the encoded text: byte spans widened to characters, and bytes to chars.

/// Widen byte spans to character boundaries of `text`.
pub(crate) fn widen_to_chars(text: &str, offsets: &mut [(u32, u32)]) {
    if text.is_ascii() {
        return;
    }
    for (s, e) in offsets.iter_mut() {
        let (mut a, mut b) = (*s as usize, *e as usize);
        while a > 0 && !text.is_char_boundary(a) {
            a -= 1;
        }
        while b < text.len() && !text.is_char_boundary(b) {
            b += 1;
        }
        *s = a as u32;
        *e = b as u32;
    }
}

/// Convert byte offsets in `text` (on character boundaries) to character offsets, in place.
pub fn byte_to_char_offsets(text: &str, offsets: &mut [(u32, u32)]) {
    if text.is_ascii() {
        return;
    }
    let mut index = vec![0u32; text.len() + 1];
    let mut n = 0u32;
    for (i, c) in text.char_indices() {
        for k in 0..c.len_utf8() {
            index[i + k] = n;
        }
        n += 1;
    }
    index[text.len()] = n;
    for (s, e) in offsets.iter_mut() {
        *s = index[*s as usize];
        *e = index[*e as usize];
    }
}
