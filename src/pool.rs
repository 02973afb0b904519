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
//! machine, several workers of a cluster on one host) runs on a pool of that size, as
//! tiktoken's `num_threads` would; such pools are built on first use too, one per size.

use std::sync::atomic::{AtomicPtr, Ordering};

use rayon::ThreadPool;

struct OwnedPool {
    pid: u32,
    pool: ThreadPool,
}

/// The current process's pool (null until the first parallel call).
static POOL: AtomicPtr<OwnedPool> = AtomicPtr::new(std::ptr::null_mut());

/// Pools of fewer threads than the whole pool, by size (index: number of threads).
const SMALL_POOLS: usize = 64;
static SMALL: [AtomicPtr<OwnedPool>; SMALL_POOLS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SMALL_POOLS];

/// The pool of this process, built on first use (again in a forked child): one thread per core
/// (or `RAYON_NUM_THREADS`).
pub fn pool() -> &'static ThreadPool {
    pool_in(&POOL, 0)
}

/// The pool for a call that asks for `threads` threads: the whole pool when that is at least
/// its size (more threads than cores would only take turns), else a pool of `threads`.
pub fn pool_with(threads: usize) -> &'static ThreadPool {
    let all = pool();
    match SMALL.get(threads.max(1)) {
        Some(slot) if threads < all.current_num_threads() => pool_in(slot, threads.max(1)),
        _ => all,
    }
}

/// The pool in `slot`, built with `threads` threads (0: rayon's default) unless one built by
/// this process is there.
fn pool_in(slot: &AtomicPtr<OwnedPool>, threads: usize) -> &'static ThreadPool {
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
            .num_threads(threads)
            .thread_name(move |i| match threads {
                0 => format!("toklm-{i}"),
                n => format!("toklm{n}-{i}"),
            })
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

/// Run `op` on the pool for `threads` threads ([`pool_with`]); already on a pool's thread,
/// right there (as [`install`]).
pub fn install_on<R: Send>(threads: usize, op: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        op()
    } else {
        pool_with(threads).install(op)
    }
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
        assert!(std::ptr::eq(super::pool_with(all), super::pool()));
        assert!(std::ptr::eq(super::pool_with(1), super::pool_with(1)));
    }
}
