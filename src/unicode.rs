//! Unicode character classes for the hand-written scanners (filled by the pretokenizer work).
