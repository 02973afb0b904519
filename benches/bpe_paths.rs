//! Throughput of the BPE paths on the corpora's pieces, in this thread's CPU time (a development
//! aid: `cargo bench --bench bpe_paths`, optionally with `BENCH_ONLY=o200k_base:zh`). Columns:
//! the whole-piece lookup then the merge loop (the path before the backtracking encoder), the
//! same then `encode_piece`, and `encode_pretokenized`. Needs the shared corpora in
//! `../shared/corpora`.

use std::io::Read;
use std::time::Instant;

use toklm::bpe::PieceEncoder;
use toklm::pretok::{Pretokenizer, CL100K_PATTERN, O200K_PATTERN};
use toklm::vocab::{Rank, Vocab};

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// This thread's CPU time in seconds.
fn cpu() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: CLOCK_THREAD_CPUTIME_ID (3) with a valid timespec.
    unsafe { clock_gettime(3, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (name, pattern) in [
        ("cl100k_base", CL100K_PATTERN),
        ("o200k_base", O200K_PATTERN),
    ] {
        let z = std::fs::read(root.join(format!("python/toklm/data/{name}.ranks.z"))).unwrap();
        let mut blob = Vec::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut blob)
            .unwrap();
        let t0 = Instant::now();
        let enc = PieceEncoder::new(Vocab::from_compact(&blob).unwrap());
        let v = enc.vocab();
        let t1 = Instant::now();
        let bt = enc.wait_backtrack().unwrap();
        eprintln!(
            "{name}: vocab {:.1} ms, backtracking tables {:.1} ms later, {:.1} MB",
            (t1 - t0).as_secs_f64() * 1e3,
            t1.elapsed().as_secs_f64() * 1e3,
            bt.heap_size() as f64 / 1e6
        );
        let pretok = Pretokenizer::new(pattern).unwrap();
        for corpus in ["ko", "ja", "zh", "en", "code"] {
            if !only.is_empty() && only != format!("{name}:{corpus}") {
                continue;
            }
            let path = root.join(format!("../shared/corpora/{corpus}.txt"));
            let text = std::fs::read_to_string(path).unwrap();
            let bytes = text.as_bytes();
            let mut pieces = Vec::new();
            pretok
                .for_each_piece(&text, |s, e| pieces.push(&bytes[s..e]))
                .unwrap();
            let time = |f: &dyn Fn(&[u8], &mut Vec<Rank>)| {
                let mut best = f64::MAX;
                let mut out = Vec::new();
                for _ in 0..5 {
                    out.clear();
                    let t = cpu();
                    for p in &pieces {
                        f(p, &mut out);
                    }
                    best = best.min(cpu() - t);
                }
                bytes.len() as f64 / best / 1e6
            };
            type Bpe = fn(&PieceEncoder, &[u8], &mut Vec<Rank>);
            let whole_or = |p: &[u8], o: &mut Vec<Rank>, bpe: Bpe| match v.rank(p) {
                Some(r) => o.push(r),
                None => bpe(&enc, p, o),
            };
            let merge = time(&|p, o| whole_or(p, o, PieceEncoder::encode_by_merging));
            let piece = time(&|p, o| whole_or(p, o, PieceEncoder::encode_piece));
            let pretokenized = time(&|p, o| enc.encode_pretokenized(p, o));
            eprintln!(
                "  {corpus:<5} merge {merge:6.1}  encode_piece {piece:6.1}  \
                 encode_pretokenized {pretokenized:6.1} MB/s"
            );
        }
    }
}
