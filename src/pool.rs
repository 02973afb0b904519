//! The thread pool of every parallel call, made again in a child process after `fork`.
//!
//! rayon's global pool is created once per process. `fork` copies the pool's state into the
//! child but none of its threads, so the child's first parallel call queues work that nothing
//! will ever run, and hangs (HF tokenizers' `TOKENIZERS_PARALLELISM` warning is the same
//! disease). Here the pool is owned together with the id of the process that built it; a call
//! from another process (a forked child) builds a new pool for itself. The parent's pool is
//! left in place in the child, unused: dropping it would signal threads that do not exist there.
//!
//! A batch call that asks for fewer threads than there are cores (`num_threads=4` on a 16-core
//! machine) runs on a pool of that many threads of its own, as tiktoken's `num_threads` would:
//! two such calls at once get a pool each. A few pools are kept for later calls; the list of
//! them is only ever `try_lock`ed, so a child forked while another thread held it builds pools
//! for itself instead of waiting for a lock nobody will release.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use rayon::ThreadPool;

struct OwnedPool {
    pid: u32,
    pool: ThreadPool,
}

/// The current process's pool (null until the first parallel call).
static POOL: AtomicPtr<OwnedPool> = AtomicPtr::new(std::ptr::null_mut());

/// Pools of fewer threads than the whole pool not in use now: (process that built it, pool).
/// At most `MAX_SPARE` are kept, so that their idle threads stay few.
const MAX_SPARE: usize = 8;
static SPARE: Mutex<Vec<(u32, ThreadPool)>> = Mutex::new(Vec::new());

/// The pool of this process, built on first use (again in a forked child): one thread per core
/// (or `RAYON_NUM_THREADS`).
pub fn pool() -> &'static ThreadPool {
    pool_in(&POOL)
}

/// A pool of exactly `threads` threads (fewer than the whole pool) for one call: a spare one
/// built by this process, or a new one.
fn take_spare(threads: usize) -> ThreadPool {
    let pid = std::process::id();
    if let Ok(mut spare) = SPARE.try_lock() {
        let fits =
            |(p, pool): &(u32, ThreadPool)| *p == pid && pool.current_num_threads() == threads;
        if let Some(i) = spare.iter().position(fits) {
            return spare.swap_remove(i).1;
        }
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("toklm{threads}-{i}"))
        .build()
        .expect("cannot start the thread pool")
}

/// The pool in `slot`, built unless one built by this process is there.
fn pool_in(slot: &AtomicPtr<OwnedPool>) -> &'static ThreadPool {
    let pid = std::process::id();
    loop {
        let current = slot.load(Ordering::Acquire);
        // SAFETY: a non-null pointer in a slot comes from `Box::into_raw` below and is never
        // freed (a replaced pool is leaked), so it stays valid for the life of the process.
        if let Some(owned) = unsafe { current.as_ref() } {
            if owned.pid == pid {
                return &owned.pool;
            }
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("toklm-{i}"))
            .build()
            .expect("cannot start the thread pool");
        let fresh = Box::into_raw(Box::new(OwnedPool { pid, pool }));
        match slot.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` was just made by `Box::into_raw` and is now owned by the slot.
            Ok(_) => return unsafe { &(*fresh).pool },
            // Another thread installed a pool first: use that one, drop ours (its threads exist).
            // SAFETY: `fresh` was never shared, so this is its only owner.
            Err(_) => drop(unsafe { Box::from_raw(fresh) }),
        }
    }
}

/// Run `op` on `threads` threads: on the whole pool when that is at least its size (more
/// threads than cores would only take turns), else on a pool of `threads` of its own. Already
/// on a pool's thread, right there (as [`install`]).
pub fn install_on<R: Send>(threads: usize, op: impl FnOnce() -> R + Send) -> R {
    let all = pool();
    if rayon::current_thread_index().is_some() {
        return op();
    }
    if threads >= all.current_num_threads() {
        return all.install(op);
    }
    let own = take_spare(threads.max(1));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| own.install(op)));
    if let Ok(mut spare) = SPARE.try_lock() {
        if spare.len() < MAX_SPARE {
            spare.push((std::process::id(), own));
        }
    }
    out.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Run `op` inside this process's pool, so that rayon's parallel iterators in it use the pool.
/// Already on a pool's thread (this pool, or a pool the caller set up), `op` runs right there.
pub fn install<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        op()
    } else {
        pool().install(op)
    }
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;

    #[test]
    fn parallel_work_runs_in_the_pool() {
        let sum: u64 = super::install(|| (0..10_000u64).into_par_iter().sum());
        assert_eq!(sum, 49_995_000);
        assert!(std::ptr::eq(super::pool(), super::pool()));
    }

    #[test]
    fn a_call_asking_for_fewer_threads_runs_on_that_many() {
        let all = super::pool().current_num_threads();
        for threads in [1, 2, 3, all, all + 5, 1000] {
            let (n, sum) = super::install_on(threads, || {
                let sum: u64 = (0..10_000u64).into_par_iter().sum();
                (rayon::current_num_threads(), sum)
            });
            assert_eq!(n, threads.min(all), "{threads} threads asked for");
            assert_eq!(sum, 49_995_000);
        }
    }

    #[test]
    fn calls_at_once_get_a_pool_each() {
        let all = super::pool().current_num_threads();
        if all < 2 {
            return; // one core: every call runs on the whole pool, one at a time
        }
        // Two calls asking for one thread each, side by side: each sees a pool of one thread,
        // and the two run at the same time (each waits for the other to have started).
        let started = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    super::install_on(1, || {
                        assert_eq!(rayon::current_num_threads(), 1);
                        started.wait();
                    })
                });
            }
        });
    }
}
