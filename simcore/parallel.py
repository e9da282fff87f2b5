"""Sweeps of independent runs on threads, processes or a Dask cluster, with the same results.

``sweep(fn, items)`` is ``[fn(item) for item in items]``, run in parallel. Every gradient study,
audit and fuzz run is such a sweep; the executor only decides where each call runs:

- ``"threads"`` (default): a pool of threads in this process. The kernels release the GIL, so
  this scales on one machine's cores with no start-up cost and no pickling.
- ``"processes"``: a pool of fresh (spawned) Python processes on this machine. ``fn`` and the
  items must pickle: a module-level function, or a ``functools.partial`` of one.
- ``"dask"``: a ``dask.distributed`` cluster, the one at ``address`` (``tcp://host:8786``, a
  scheduler started with ``dask scheduler``), or without an address a local cluster of
  ``workers`` single-threaded worker processes started here and closed afterwards. Needs
  ``pip install "simcore[dask]"``; the cluster's workers need simcore installed, at the same
  version, and the module ``fn`` comes from (scenarios are part of the package; a function of a
  script run as ``__main__`` travels by value).

Results come back in the order of ``items`` and are the same, bit for bit, whatever the
executor: every call is the same compiled code on the same inputs.

Work leaves in chunks of consecutive items, one task each, so that a task is long enough for a
scheduler to be worth its cost (Dask's own guidance: at least about 100 ms a task; a rollout
with its adjoint here takes 10 ms to seconds). By default a worker gets about four chunks, to
balance uneven items. Each worker process loads the kernels from numba's cache once
(``cache=True``; one folder for every process of a machine). For processes and Dask the first
item runs in this process before the rest leave, so on a cold cache the kernels it needs are
compiled once, not by every worker at the same time.
"""
import math
import multiprocessing
import os
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed

EXECUTORS = ("threads", "processes", "dask")
CHUNKS_PER_WORKER = 4


def show_progress(done, total, started, what="rollouts"):
    """A one-line progress bar on stderr, redrawn about 100 times over the run; ends the line
    when done == total."""
    if done != total and done % max(1, total // 100) != 0:
        return
    frac = done / total
    elapsed = time.time() - started
    eta = elapsed / frac - elapsed if frac > 0 else 0.0
    sys.stderr.write(f"\r[{'#' * int(30 * frac):<30}] {done}/{total} {what}, "
                     f"{elapsed:.1f} s, {eta:.0f} s left ")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run_chunk(fn, items):
    """One task: ``[fn(item) for item in items]`` (module level, so that it pickles)."""
    return [fn(item) for item in items]


def _check(fn, executor, workers, address, chunk):
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    for name, v in (("workers", workers), ("chunk", chunk)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if address is not None and executor != "dask":
        raise ValueError(f"address is a Dask scheduler's; it needs executor='dask', "
                         f"not {executor!r}")
    if address is not None and workers is not None:
        raise ValueError("workers sets the size of a local Dask cluster; a cluster at an "
                         "address has the workers it was started with")
    if executor == "processes":
        try:
            pickle.dumps(fn)
        except Exception as exc:
            raise TypeError(
                f"executor='processes' sends fn to other processes by pickle, and {fn!r} does "
                f"not pickle ({exc}); use a module-level function (or a functools.partial of "
                f"one), or executor='threads' or 'dask'") from None


def _chunks(n, workers, chunk):
    size = chunk or max(1, math.ceil(n / (CHUNKS_PER_WORKER * workers)))
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _dask_client(address, workers):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError('executor="dask" needs dask.distributed: pip install "simcore[dask]" '
                          '(or "dask[distributed]")') from None
    if address is not None:
        return Client(address), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def sweep(fn, items, executor="threads", workers=None, address=None, chunk=None,
          progress=True, what="runs"):
    """``[fn(item) for item in items]`` on ``executor`` (``"threads"``, ``"processes"`` or
    ``"dask"``; module docstring), in the order of ``items``, with a progress bar on stderr
    (``what`` names the items). ``workers`` defaults to the machine's cores (threads, processes,
    a local Dask cluster); ``address`` is a Dask scheduler's; ``chunk`` is the number of items a
    task carries (default: about four tasks per worker for processes and Dask, one item per task
    for threads). An exception in ``fn`` is raised here, as it would be in a loop."""
    _check(fn, executor, workers, address, chunk)
    items = list(items)
    n = len(items)
    out = [None] * n
    if n == 0:
        return out
    started = time.time()
    done = 0

    def collect(rng, results):
        nonlocal done
        for i, r in zip(rng, results):
            out[i] = r
        done += len(rng)
        if progress:
            show_progress(done, n, started, what)

    client = cluster = None
    try:
        if executor == "dask":
            client, cluster = _dask_client(address, workers)
            workers = max(1, sum(client.nthreads().values()))
        workers = workers or os.cpu_count() or 1
        if executor == "threads":
            chunks = _chunks(n, workers, chunk or 1)
        else:
            # the first item here: the kernels it needs are compiled (or loaded) once, into
            # the cache the workers read, instead of by every worker at once
            collect(range(1), [fn(items[0])])
            chunks = [range(r.start + 1, r.stop + 1) for r in _chunks(n - 1, workers, chunk)]
        if executor == "dask":
            from dask.distributed import as_completed as dask_completed
            futures = {client.submit(run_chunk, fn, [items[i] for i in r], pure=False): r
                       for r in chunks}
            for fut in dask_completed(futures):
                collect(futures[fut], fut.result())
        else:
            pool = (ThreadPoolExecutor(max_workers=workers) if executor == "threads" else
                    ProcessPoolExecutor(max_workers=workers,
                                        mp_context=multiprocessing.get_context("spawn")))
            try:
                futures = {pool.submit(run_chunk, fn, [items[i] for i in r]): r for r in chunks}
                for fut in as_completed(futures):
                    collect(futures[fut], fut.result())
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return out
