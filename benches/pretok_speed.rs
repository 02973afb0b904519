//! Throughput of each hand-written pre-tokenizer next to fancy-regex on the shared corpora (best
//! of 5 wall-clock runs; on a busy machine the ratio is the steadier number). A development aid:
//! `cargo bench --bench pretok_speed`. Needs the shared corpora in `../shared/corpora`.

use std::time::Instant;

use fancy_regex::Regex;
use toklm::pretok::{Pretokenizer, CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN};

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
    let time = |mb: f64, f: &dyn Fn() -> usize| {
        let (mut best, mut count) = (f64::MAX, 0);
        for _ in 0..5 {
            let start = Instant::now();
            count = f();
            best = best.min(start.elapsed().as_secs_f64());
        }
        (mb / best, count)
    };
    for name in ["en", "en_sotu", "ko", "ja", "zh", "code"] {
        let path = dir.join(format!("{name}.txt"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("note: skipping corpus {}: {e}", path.display());
                continue;
            }
        };
        for (family, pattern) in [
            ("r50k", R50K_PATTERN),
            ("cl100k", CL100K_PATTERN),
            ("o200k", O200K_PATTERN),
        ] {
            let scanner = Pretokenizer::new(pattern).unwrap();
            let regex = Regex::new(pattern).unwrap();
            let mb = text.len() as f64 / 1e6;
            let (ours, n1) = time(mb, &|| {
                let mut n = 0;
                scanner.for_each_piece(&text, |_, _| n += 1).unwrap();
                n
            });
            let (theirs, n2) = time(mb, &|| regex.find_iter(&text).count());
            assert_eq!(n1, n2);
            println!(
                "{name:8} {family:7} {mb:6.2} MB {n1:9} pieces  scanner {ours:7.1} MB/s  \
                 fancy-regex {theirs:5.1} MB/s  x{:.1}",
                ours / theirs
            );
        }
    }
}
