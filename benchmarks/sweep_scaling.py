"""A sweep's wall time and efficiency against the number of workers, per executor.

    python benchmarks/sweep_scaling.py [--scenes N] [--model hard] [--workers 1 2 ...]
                                       [--executors threads,processes,dask]
                                       [--dask-address ADDRESS] [--quick]

The sweep is the gradient audit's (``python -m scenarios run gradient_audit``): per random
scene, the adjoint of every initial-state and parameter entry and of a few controls, each
against central differences at several step sizes, so each scene is one to a few seconds of
rollouts. It runs first as a plain loop in this process (the kernels loaded beforehand), then
on each executor with each worker count: the wall time includes starting the processes or the
local Dask cluster, which is what a user waits for. Speed-up is the loop's time over the run's;
efficiency is speed-up over workers. Every run's rows are compared with the loop's, bit for
bit (``same``).

With ``--dask-address`` the Dask runs go to that cluster (its workers as they are: --workers does
not apply), for the README's recipe: start ``dask scheduler`` on one host and ``dask worker
tcp://HOST:8786 --nthreads 1 --nworkers N`` on each machine, all with simcore installed.
"""
import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scenarios import gradient_audit  # noqa: E402
from simcore.parallel import EXECUTORS, sweep  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", type=int, default=48, help="random scenes in the sweep")
    p.add_argument("--model", default="hard", choices=list(gradient_audit.MODELS))
    p.add_argument("--controls", type=int, default=2, help="control entries checked per scene")
    p.add_argument("--workers", type=int, nargs="+", default=None,
                   help="worker counts (default: 1 to the machine's cores, doubling)")
    p.add_argument("--executors", default=",".join(EXECUTORS))
    p.add_argument("--dask-address", default=None, metavar="ADDRESS")
    p.add_argument("--quick", action="store_true", help="two scenes, one worker count (tests)")
    args = p.parse_args(argv)
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    for e in executors:
        if e not in EXECUTORS:
            p.error(f"unknown executor {e!r}; choose from {', '.join(EXECUTORS)}")
    cores = os.cpu_count() or 1
    counts = args.workers or [2 ** k for k in range(cores.bit_length()) if 2 ** k <= cores]
    if args.quick:
        args.scenes, counts = 2, counts[-1:]
    if args.scenes < 1 or min(counts) < 1:
        p.error("--scenes and --workers must be positive")
    jobs = [(args.model, seed, args.controls) for seed in range(args.scenes)]

    print(f"# sweep_scaling: gradient_audit, {args.scenes} scenes, model {args.model}; "
          f"{cores} cores, load average {os.getloadavg()[0]:.2f}, python "
          f"{platform.python_version()}")
    gradient_audit.audit_scene(jobs[0])  # the kernels compiled or loaded before the clock
    started = time.time()
    reference = [gradient_audit.audit_scene(job) for job in jobs]
    loop = time.time() - started
    print(f"plain loop in this process: {loop:.2f} s, {loop / len(jobs):.2f} s a scene")
    print(f"{'executor':<10} {'workers':>7} {'wall (s)':>9} {'speed-up':>9} {'efficiency':>10}"
          "  same")
    for executor in executors:
        for w in counts:
            remote = executor == "dask" and args.dask_address
            started = time.time()
            rows = sweep(gradient_audit.audit_scene, jobs, executor,
                         None if remote else w, args.dask_address if remote else None,
                         progress=False)
            wall = time.time() - started
            same = "yes" if repr(rows) == repr(reference) else "NO"
            n = "cluster" if remote else str(w)
            eff = "-" if remote else f"{loop / wall / w:.2f}"  # (a cluster's own size)
            print(f"{executor:<10} {n:>7} {wall:>9.2f} {loop / wall:>9.2f} {eff:>10}  {same}")
            if remote:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
