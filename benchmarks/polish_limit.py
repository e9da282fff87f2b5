"""HardContact's polish_max_contacts on the lattice piles: time per step and solver residuals.

    python benchmarks/polish_limit.py [--limits 32 64] [--steps 600] [--settle 300] [--quick]

Islands of at most polish_max_contacts contacts are finished by dense semismooth Newton; larger
ones by Gauss-Seidel, with Newton through their bodies where it stalls
(docs/contact-models.md). For each limit and each of throughput.py's lattice piles (8, 64 and
512 spheres, 8, 27 and 64 cubes), two runs: from the drop (--steps steps from the initial state),
and at rest (200 steps from the state after --settle steps). Per run: milliseconds per step,
the median and largest relative residual of the solves, and the failed solves. Every figure is
measured in the run that prints it (after one warm-up rollout).
"""
import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for p in (str(ROOT), str(ROOT / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

import simcore as sc  # noqa: E402
from throughput import pile  # noqa: E402

PILES = [("sphere", 8), ("sphere", 64), ("sphere", 512), ("box", 8), ("box", 27), ("box", 64)]
REST_STEPS = 200  # steps timed at rest


def run(model, state, steps):
    t0 = time.perf_counter()
    traj = sc.rollout(model, state, steps, progress=False)
    took = (time.perf_counter() - t0) / steps
    r = traj.solver_residual
    return traj, f"{took * 1e3:.3f} | {np.median(r):.1e} | {r.max():.1e} | " \
                 f"{int(traj.solver_failures.sum())}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limits", type=int, nargs="+", default=[32, 64])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--settle", type=int, default=300)
    p.add_argument("--quick", action="store_true", help="10 steps each, the 8-body piles only")
    args = p.parse_args(argv)
    rest_steps, piles = REST_STEPS, PILES
    if args.quick:
        args.steps = args.settle = rest_steps = 10
        piles = [(kind, n) for kind, n in PILES if n <= 8]
    warnings.simplefilter("ignore", RuntimeWarning)  # (failed solves are counted in the table)
    warm = pile("box", 1).build(contact=sc.HardContact())
    sc.rollout(warm, warm.initial_state(), 2, progress=False)  # (compiles, not timed)
    print(f"# python benchmarks/polish_limit.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print("| pile | polish_max_contacts | from the drop: ms/step | residual median | max | "
          f"failures | at rest ({rest_steps} steps): ms/step | residual median | max | failures |")
    print("|" + "---|" * 10)
    for kind, n in piles:
        name = f"{n} {'spheres' if kind == 'sphere' else 'cubes'}"
        for limit in args.limits:
            model = pile(kind, n).build(contact=sc.HardContact(polish_max_contacts=limit))
            _, drop = run(model, model.initial_state(), args.steps)
            settled = sc.rollout(model, model.initial_state(), args.settle, progress=False)
            _, rest = run(model, settled.state(args.settle), rest_steps)
            print(f"| {name} | {limit} | {drop} | {rest} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
