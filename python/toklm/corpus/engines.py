"""Where the shards of a job run: threads of this process, a Dask cluster or a Ray cluster.

Every engine runs the same `run_shard` on the same plans, so the output does not depend on the
engine. Workers of a cluster read the inputs and write the shards themselves: the input files and
the output directory must be visible to them at the same paths (one machine, or a shared file
system). A cluster is found from `address`, else ``DASK_SCHEDULER_ADDRESS`` / ``RAY_ADDRESS``, else
a local one is started for the job (two single-threaded workers) and stopped after it.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
from collections.abc import Callable
from typing import Any

from toklm.corpus.inputs import ShardPlan
from toklm.corpus.shard import CoreShare, ShardJob, run_shard
from toklm.native import DEFAULT_THREADS

__all__ = ["ENGINES", "EngineError", "run_shards", "start_local_dask_cluster"]

ENGINES = ("local", "dask", "ray")
# Workers of a cluster started for the job (Ray: tasks stay fewer than its CPUs, see run_ray).
LOCAL_CLUSTER_WORKERS = 2

Record = dict[str, Any]
OnDone = Callable[[Record], None]


class EngineError(RuntimeError):
    """An engine that is not installed or a cluster that cannot be reached."""


def run_shards(
    engine: str,
    job: ShardJob,
    plans: list[ShardPlan],
    on_done: OnDone,
    *,
    address: str | None = None,
    in_flight: int = 2,
) -> list[Record]:
    """Run every plan on `engine`; `on_done` sees each record as its shard finishes. Returns the
    records in plan order."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (use one of {', '.join(ENGINES)})")
    if not plans:
        return []
    run = {"local": _run_local, "dask": _run_dask, "ray": _run_ray}[engine]
    records = run(job, plans, on_done, address, in_flight)
    by_name = {r["name"]: r for r in records}
    return [by_name[r["name"]] for r in sorted(records, key=lambda r: r["name"])]


def _run_local(
    job: ShardJob, plans: list[ShardPlan], on_done: OnDone, address: str | None, in_flight: int
) -> list[Record]:
    # Two shards in flight overlap one's Python work (reading, writing, the fsync at its end)
    # with the other's encoding. Left to choose (num_threads 0), the shards running share the
    # cores block by block (`CoreShare`): on 2 cores the cores were ~92% busy with both shards
    # on the pool for every block, ~97% with a thread each and the pool for the last one.
    in_flight = max(1, in_flight)
    share = CoreShare(DEFAULT_THREADS) if job.num_threads == 0 else None
    records = []
    with cf.ThreadPoolExecutor(max_workers=in_flight) as pool:
        futures = [pool.submit(_run_in_share, job, plan, share) for plan in plans]
        try:
            for fut in cf.as_completed(futures):
                records.append(fut.result())
                on_done(records[-1])
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return records


def _run_in_share(job: ShardJob, plan: ShardPlan, share: CoreShare | None) -> Record:
    if share is None:
        return run_shard(job, plan)
    with share.running():
        return run_shard(job, plan, share)


def start_local_dask_cluster() -> Any:
    """The Dask cluster that ``--engine dask`` starts when no cluster is given: this machine,
    `LOCAL_CLUSTER_WORKERS` worker processes of one thread each. Its workers keep glibc's usual
    allocator settings: Dask's nanny otherwise sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its
    workers, which also pins glibc's mmap threshold at 128 KB, so every block's multi-megabyte
    buffers (the text read, the tokens) are fresh mappings faulted in page by page (measured on
    1 GB, 2 cores: 2.4-2.8 s of system time against 0.7-1.1 s). A cluster of your own keeps
    its settings; unset that variable in its ``distributed.nanny.pre-spawn-environ`` for the
    same effect."""
    import dask
    from dask.distributed import LocalCluster

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return LocalCluster(
            n_workers=LOCAL_CLUSTER_WORKERS,
            threads_per_worker=1,
            dashboard_address=None,
            processes=True,
            silence_logs=logging.ERROR,
        )


def _run_dask(
    job: ShardJob, plans: list[ShardPlan], on_done: OnDone, address: str | None, in_flight: int
) -> list[Record]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as e:
        raise EngineError(
            f"--engine dask needs dask[distributed] (pip install toklm[cluster]): {e}"
        ) from None
    address = address or os.environ.get("DASK_SCHEDULER_ADDRESS")
    cluster = None
    if address:
        try:
            client = Client(address, timeout="30s")
        except OSError as e:
            raise EngineError(f"cannot reach the Dask scheduler at {address}: {e}") from None
    else:
        cluster = start_local_dask_cluster()
        client = Client(cluster)
    try:
        job_future = client.scatter(job, broadcast=True)
        futures = [
            client.submit(run_shard, job_future, plan, pure=False, retries=0) for plan in plans
        ]
        records = []
        for fut in as_completed(futures):
            records.append(fut.result())
            on_done(records[-1])
        return records
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_ray(
    job: ShardJob, plans: list[ShardPlan], on_done: OnDone, address: str | None, in_flight: int
) -> list[Record]:
    try:
        import ray
    except ImportError as e:
        raise EngineError(f"--engine ray needs ray (pip install toklm[cluster]): {e}") from None
    address = address or os.environ.get("RAY_ADDRESS")
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        if address:
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError) as e:
                raise EngineError(f"cannot reach the Ray cluster at {address}: {e}") from None
        else:
            # Tasks (not actors) of one CPU each: a CPU is free again between shards, so the
            # cluster never deadlocks waiting for a CPU that an idle actor holds.
            ray.init(
                num_cpus=LOCAL_CLUSTER_WORKERS,
                include_dashboard=False,
                object_store_memory=200 << 20,
                **kwargs,
            )
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_shard)
        job_ref = ray.put(job)
        pending = [remote.remote(job_ref, plan) for plan in plans]
        records = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            records.append(ray.get(done[0]))
            on_done(records[-1])
        return records
    finally:
        if started:
            ray.shutdown()
