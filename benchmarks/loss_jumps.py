"""Jumps in sysid_toss's loss: how often the hard model's outcome is discontinuous in a parameter.

The tossed, tumbling box of ``scenarios/sysid_toss.py`` (600 steps of 1 ms, HardContact with
time of impact) is rolled out at N box frictions evenly spaced over [MU_LO, MU_HI], for each of
several restitutions, and its fit loss against the recording (true friction 0.16, restitution
0.5) is evaluated at each. A jump shows as two neighbouring second differences of the loss
larger than FACTOR times their median over the sweep; the study prints the number of jumps per
restitution and their frictions (``--where``). Each marks a place where the fit's gradient says
nothing about the loss a step away: an impact that crosses a step boundary where the corner's
turn within the step is left out of its gap, or two corners striking near a step's end
(docs/known-limits.md).

    python benchmarks/loss_jumps.py [--n 2001] [--mu MU_LO MU_HI] [--e 0.3 0.5 0.7]
                                    [--factor 300] [--where]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import simcore as sc  # noqa: E402
from scenarios import sysid_toss as st  # noqa: E402


def losses(recorded, mus, e):
    """The fit loss at each box friction in mus, restitution e."""
    out = np.empty(len(mus))
    for j, mu in enumerate(mus):
        model, box = st.build(sc.HardContact(), mu, e)
        out[j] = st.fit_loss(recorded, box)(sc.rollout(model, model.initial_state(),
                                                      st.STEPS))[0]
    return out


def jumps(values, factor):
    """Indices i where values jumps between i and i + 1: the second differences centred on
    both neighbours exceed factor times their median."""
    d2 = np.abs(np.diff(values, 2))
    big = d2 > factor * np.median(d2)
    # d2[i] is centred on i + 1: a jump between i + 1 and i + 2 makes d2[i] and d2[i + 1] big
    return np.flatnonzero(big[:-1] & big[1:]) + 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2001, help="frictions per restitution")
    p.add_argument("--mu", type=float, nargs=2, default=(0.10, 0.30), help="friction range")
    p.add_argument("--e", type=float, nargs="+", default=(0.3, 0.5, 0.7),
                   help="restitutions")
    p.add_argument("--factor", type=float, default=300.0,
                   help="a jump: second differences above this times their median")
    p.add_argument("--where", action="store_true", help="list the frictions of the jumps")
    args = p.parse_args(argv)
    if args.n < 5 or not args.mu[0] < args.mu[1]:
        p.error("need --n >= 5 and an increasing --mu range")
    recorded, _ = st.reference(1e-3)
    mus = np.linspace(args.mu[0], args.mu[1], args.n)
    total = 0
    for e in args.e:
        t0 = time.perf_counter()
        found = jumps(losses(recorded, mus, e), args.factor)
        total += len(found)
        print(f"restitution {e}: {len(found)} jumps over {args.n} frictions in "
              f"[{args.mu[0]}, {args.mu[1]}] ({time.perf_counter() - t0:.1f} s)", flush=True)
        if args.where:
            print("  between frictions: " + ", ".join(f"{mus[i]:.5f}-{mus[i + 1]:.5f}"
                                                      for i in found))
    print(f"total: {total} jumps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
