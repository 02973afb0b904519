//! The thread pool of every parallel call, made again in a child process after `fork`.
//!
//! rayon's global pool is created once per process. `fork` copies the pool's state into the
//! child but none of its threads, so the child's first parallel call queues work that nothing
//! will ever run, and hangs (HF tokenizers' `TOKENIZERS_PARALLELISM` warning is the same
//! disease). Here the pool is owned together with the id of the process that built it; a call
//! from another process (a forked child) builds a new pool for itself. The parent's pool is
//! left in place in the child, unused: dropping it would signal threads that do not exist there.

use std::sync::atomic::{AtomicPtr, Ordering};

use rayon::ThreadPool;

struct OwnedPool {
    pid: u32,
    pool: ThreadPool,
}

/// The current process's pool (null until the first parallel call).
static POOL: AtomicPtr<OwnedPool> = AtomicPtr::new(std::ptr::null_mut());

/// The pool of this process, built on first use (again in a forked child).
pub fn pool() -> &'static ThreadPool {
    let pid = std::process::id();
    loop {
        let current = POOL.load(Ordering::Acquire);
        // SAFETY: a non-null pointer in POOL comes from `Box::into_raw` below and is never freed
        // (a replaced pool is leaked), so it stays valid for the life of the process.
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
        match POOL.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` was just made by `Box::into_raw` and is now owned by POOL.
            Ok(_) => return unsafe { &(*fresh).pool },
            // Another thread installed a pool first: use that one, drop ours (its threads exist).
            // SAFETY: `fresh` was never shared, so this is its only owner.
            Err(_) => drop(unsafe { Box::from_raw(fresh) }),
        }
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
}
