//! Tests of the vocabulary: lookup both ways, the compact format, and its errors.

use super::*;

#[test]
fn a_rank_past_the_limit_is_refused_before_allocating() {
    let err = Vocab::from_pairs([(&b"a"[..], 0), (&b"qq"[..], u32::MAX - 1)]).unwrap_err();
    assert_eq!(err.index, 1);
    assert!(
        err.message
            .starts_with("rank 4294967294 of token \"qq\" is beyond what a vocabulary of 2"),
        "{}",
        err.message
    );
    let limit = id_limit(2) as Rank;
    assert!(Vocab::from_pairs([(&b"a"[..], 0), (&b"b"[..], limit - 1)]).is_ok());
    assert!(Vocab::from_pairs([(&b"a"[..], 0), (&b"b"[..], limit)]).is_err());
}

fn toy() -> Vocab {
    let pairs: Vec<(Vec<u8>, Rank)> = vec![
        (b"a".to_vec(), 0),
        (b"b".to_vec(), 1),
        (b"ab".to_vec(), 2),
        (b"abc".to_vec(), 5),
        (b"c".to_vec(), 3),
    ];
    Vocab::from_pairs(pairs.iter().map(|(b, r)| (b.as_slice(), *r))).unwrap()
}

#[test]
fn lookup_both_ways() {
    let v = toy();
    assert_eq!(v.len(), 5);
    assert_eq!(v.n_ranks(), 6);
    assert_eq!(v.rank(b"abc"), Some(5));
    assert_eq!(v.rank(b"ab"), Some(2));
    assert_eq!(v.rank(b"c"), Some(3));
    assert_eq!(v.rank(b"abcd"), None);
    assert_eq!(v.token_bytes(5), b"abc");
    assert!(!v.contains_rank(4));
    assert!(!v.contains_rank(99));
}

#[test]
fn shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Vocab>();
}

#[test]
fn compact_round_trip() {
    let v = toy();
    let blob = v.to_compact().unwrap();
    let w = Vocab::from_compact(&blob).unwrap();
    assert_eq!(v.iter().collect::<Vec<_>>(), w.iter().collect::<Vec<_>>());
    assert!(Vocab::from_compact(&[3, b'a']).is_err());
}

#[test]
fn duplicates_are_errors() {
    let dup_rank = Vocab::from_pairs([(&b"a"[..], 0), (&b"b"[..], 0)]);
    assert!(dup_rank.unwrap_err().message.contains("two tokens"));
    let dup_token = Vocab::from_pairs([(&b"a"[..], 0), (&b"a"[..], 1)]);
    let e = dup_token.unwrap_err();
    assert!(e.message.contains("two ranks"), "{e}");
    assert_eq!(e.index, 1);
    assert!(Vocab::from_pairs([(&b""[..], 0)]).is_err());
}
