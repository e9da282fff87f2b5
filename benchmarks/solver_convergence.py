"""How often the hard contact solve misses rounding level, over a grid of a tumbling box's
friction and restitution (the box of scenarios/sysid_toss.py: tossed, landing, tumbling and
sliding on its corners, 600 steps of 1 ms).

    python benchmarks/solver_convergence.py [--grid N M] [--regularization R [R ...]]
                                            [--executor threads|processes|dask] [--workers W]

Prints, per HardContact regularization: the rollouts run, how many have a solve above a
relative residual of 1e-12 and how many a failed solve (above 1e-6, which the rollout warns
about), the largest residual and where. The implicit gradient is only as good as the solve it
is taken at (README, Known limits).
"""
import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import simcore as sc  # noqa: E402
from scenarios import sysid_toss  # noqa: E402
from scenarios._common import add_sweep_arguments, parallel_map  # noqa: E402


def scan_one(job):
    """One rollout of the grid, ``(regularization, friction, restitution)``: (friction,
    restitution, largest residual, failed solves, step of the largest residual)."""
    regularization, mu, e = job
    model, box = sysid_toss.build(sc.HardContact(regularization=regularization), mu, e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # counted in the row instead
        traj = sc.rollout(model, model.initial_state(), sysid_toss.STEPS, progress=False)
    r = traj.solver_residual
    return mu, e, float(r.max()), int(traj.solver_failures.sum()), int(r.argmax())


def scan(regularization, mus, es, args):
    """scan_one over the grid, on the executor of ``args`` (add_sweep_arguments)."""
    jobs = [(regularization, float(mu), float(e)) for mu in mus for e in es]
    return parallel_map(scan_one, jobs, args, what="rollouts")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", type=int, nargs=2, default=(27, 25), metavar=("N_MU", "N_E"),
                   help="grid points in friction (0.05-0.7) and restitution (0.1-0.7)")
    p.add_argument("--regularization", type=float, nargs="+", default=(1e-9, 1e-6),
                   help="HardContact regularization values to compare")
    add_sweep_arguments(p, "rollouts")
    args = p.parse_args(argv)
    if min(args.grid) < 1 or not all(r > 0 for r in args.regularization):
        p.error("--grid needs positive counts and --regularization positive values")
    mus, es = np.linspace(0.05, 0.7, args.grid[0]), np.linspace(0.1, 0.7, args.grid[1])
    print(f"{'regularization':>14} {'rollouts':>8} {'>1e-12':>7} {'failed':>7} "
          f"{'largest':>9}  at (friction, restitution, step)   seconds")
    for reg in args.regularization:
        started = time.time()
        rows = scan(reg, mus, es, args)
        worst = max(rows, key=lambda r: r[2])
        print(f"{reg:>14g} {len(rows):>8} {sum(r[2] > 1e-12 for r in rows):>7} "
              f"{sum(r[3] > 0 for r in rows):>7} {worst[2]:>9.2g}  "
              f"({worst[0]:.3f}, {worst[1]:.3f}, {worst[4]}){'':>14} "
              f"{time.time() - started:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
