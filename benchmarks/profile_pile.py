"""Where a pile's contact step spends its time, by subtraction, for the hard and smoothed solvers.

    python benchmarks/profile_pile.py [--kind box|sphere] [--n N] [--steps S]

The pile is benchmarks/throughput.py's touching columns (default: 64 cubes in one layer, which
land on the ground together at about step 175; 300 steps of 1 ms). Per contact model, the same
rollout runs three times:
  - with the default settings (the full step);
  - with one Gauss-Seidel sweep per solve (max_iter=1, polish_max_contacts=0): for HardContact
    what the step costs besides the solver's iterations (collision, contact frames, islands,
    warm start, integration, one sweep, no Newton); SmoothedContact still finishes a solve
    whose band is affordable with its global Newton, so there the difference is the sweeps;
  - free fall only (the steps before the first contact), which prices the step without contacts.
It prints per-step times over the steps with contacts, the contacts per step, the largest island
(contacts coupled through dynamic bodies, from the trajectory's contact list), and the steps
whose solve ended above 1e-12 (for the hard solver: Gauss-Seidel ran to max_iter there).
"""
import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import simcore as sc  # noqa: E402
from throughput import columns, scene_name  # noqa: E402


def largest_island(traj, t, nbody):
    """Contacts in the largest set coupled through dynamic bodies at step t (body 0 the plane:
    static, so it couples nothing)."""
    pairs, _, _ = traj.contacts(t)
    parent = list(range(nbody))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for a, b in pairs:
        if a > 0 and b > 0:
            parent[root(a)] = root(b)
    counts = {}
    for a, b in pairs:
        r = root(a if a > 0 else b)
        counts[r] = counts.get(r, 0) + 1
    return max(counts.values()) if counts else 0


def timed(model, steps):
    state = model.initial_state()
    with warnings.catch_warnings():  # the solver's warnings: counted in the report instead
        warnings.simplefilter("ignore")
        sc.rollout(model, state, 2, progress=False)  # compile or load
        t0 = time.perf_counter()
        traj = sc.rollout(model, state, steps, progress=False)
        return time.perf_counter() - t0, traj


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("box", "sphere"), default="box")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--contact", action="append", choices=("hard", "smoothed"),
                        help="only this model (repeatable; default both)")
    args = parser.parse_args(argv)
    scene = columns(args.kind, args.n)
    print(f"{scene_name('columns', args.kind, args.n)}, {args.steps} steps of 1 ms", flush=True)
    configs = {"hard": (sc.HardContact(), sc.HardContact(max_iter=1, polish_max_contacts=0)),
               "smoothed": (sc.SmoothedContact(),
                            sc.SmoothedContact(max_iter=1, polish_max_contacts=0))}
    for name in args.contact or ("hard", "smoothed"):
        full, bare = configs[name]
        t_full, traj = timed(scene.build(contact=full), args.steps)
        t_bare, _ = timed(scene.build(contact=bare), args.steps)
        first = int(np.argmax(traj.ncon > 0)) if traj.ncon.any() else args.steps
        per_fall = timed(scene.build(contact=full), first)[0] / first if first else 0.0
        k = args.steps - first  # steps with contacts
        if k == 0:
            print(f"\n{full!r}: no contacts in {args.steps} steps")
            continue
        ms = 1e3 / max(k, 1)
        contact_full = t_full - per_fall * first
        contact_bare = t_bare - per_fall * first
        islands = [largest_island(traj, t, scene.build().nbody) for t in range(first, args.steps)]
        res = traj.solver_residual[first:]
        print(f"\n{full!r}: {k} steps with contacts (from step {first}); "
              f"contacts per step median {int(np.median(traj.ncon[first:]))}, "
              f"max {traj.ncon.max()}; largest island median {int(np.median(islands))}, "
              f"max {max(islands)} contacts")
        what = "sweeps after the first" if name == "smoothed" else "solver iterations"
        print(f"  {'full step:':42s}{ms * contact_full:8.2f} ms")
        print(f"  {'one sweep per solve:':42s}{ms * contact_bare:8.2f} ms")
        print(f"  {what + ' (the difference):':42s}{ms * (contact_full - contact_bare):8.2f} ms"
              f"  ({100 * (contact_full - contact_bare) / contact_full:.0f}%)")
        if first:
            print(f"  {'a step without contacts:':42s}{1e3 * per_fall:8.3f} ms")
        high = res[res > 1e-12]
        span = f" (from {high.min():.1e} to {high.max():.1e})" if high.size else ""
        print(f"  steps whose solve ended above 1e-12: {high.size} of {k}{span}; residual median "
              f"{np.median(res):.1e}; failed solves {int(traj.solver_failures.sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
