"""Cost of adjoint gradients: value_and_grad over rollout, adjoint over central differences, and
the tape's memory.

    python benchmarks/grad_cost.py [--steps N] [--repeats R] [--cube-steps N] [--quick]

Prints, from one run:
1. value_and_grad time / rollout time on the 64-sphere pile (benchmarks/throughput.py's scene,
   from its start: the fall and the settling) for each contact model with an adjoint, and on
   the columns of 64 cubes (throughput.py's, one timing; --cube-steps, 0 to skip) for the hard
   and smoothed models;
2. for a 300-parameter control problem (one sphere rolling and bouncing on the ground, 50 steps
   of 6 controls), the adjoint's time against the 600 rollouts of central differences;
3. the memory the reverse sweep holds for a 10,000-step rollout of the 64-sphere pile, measured
   with tracemalloc (numpy arrays are traced), against 13 float64 per body per substep.
"""
import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for p in (str(ROOT), str(ROOT / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

import simcore as sc  # noqa: E402
from throughput import (CONTACT_NAMES, best_time, columns, contact_label, header,  # noqa: E402
                        pile)


def mean_height_loss(traj):
    """Mean final height of the dynamic bodies (index 1.. : body 0 is the ground)."""
    z = traj.pos[-1, 1:, 2]
    cot = np.zeros_like(traj.pos)
    cot[-1, 1:, 2] = 1.0 / z.size
    return float(z.mean()), {"pos": cot}


def pile_ratio(contact, steps, repeats, scene=None):
    model = (scene or pile("sphere", 64)).build(contact=contact)
    state = model.initial_state()
    sc.value_and_grad(model, state, 2, mean_height_loss, progress=False)  # compile / load
    sc.rollout(model, state, 2, progress=False)
    t_roll, _ = best_time(lambda: sc.rollout(model, state, steps, progress=False), repeats)
    t_grad, _ = best_time(lambda: sc.value_and_grad(model, state, steps, mean_height_loss,
                                                    progress=False), repeats)
    return t_roll, t_grad


def control_problem(repeats):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.5)
    scene.add_sphere(0.1, pos=(0, 0, 0.101), vel=(1.0, 0, -0.5), ang_vel=(0, 5, 0),
                     friction=0.5)
    model = scene.build(contact=sc.PenaltyContact(stiffness=1e5, exponent=1.5,
                                                  friction_smoothing=0.1))
    steps = 50
    state = model.initial_state()
    rng = np.random.default_rng(0)
    u0 = np.zeros((steps, 2, 6))
    u0[:, 1] = rng.normal(scale=0.5, size=(steps, 6))
    target = np.array([0.1, 0.02, 0.1])

    def loss(traj):
        d = traj.pos[-1, 1] - target
        cot = np.zeros_like(traj.pos)
        cot[-1, 1] = 2 * d
        return float(d @ d), {"pos": cot}

    def adjoint():
        return sc.value_and_grad(model, state, steps, loss, controls=u0,
                                 progress=False)[1].controls[:, 1]

    def central(eps=1e-6):
        g = np.empty((steps, 6))
        for t in range(steps):
            for k in range(6):
                up, um = u0.copy(), u0.copy()
                up[t, 1, k] += eps
                um[t, 1, k] -= eps
                g[t, k] = (loss(sc.rollout(model, state, steps, controls=up, progress=False))[0]
                           - loss(sc.rollout(model, state, steps, controls=um,
                                             progress=False))[0]) / (2 * eps)
        return g

    adjoint()
    t_adj, g_adj = best_time(adjoint, repeats)
    t_fd, g_fd = best_time(central, 1)
    err = np.max(np.abs(g_adj - g_fd)) / np.max(np.abs(g_fd))
    return g_adj.size, t_adj, t_fd, err


def tape_memory(steps):
    model = pile("sphere", 64).build(contact=sc.PenaltyContact())
    state = model.initial_state()
    tracemalloc.start()
    t0 = time.perf_counter()
    sc.value_and_grad(model, state, steps, mean_height_loss, progress=False)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_state = model.nbody * 13 * 8  # pos, quat, vel, ang_vel in float64
    return peak, per_state * steps * model.opt_substeps, elapsed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000, help="steps of the pile runs")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    ap.add_argument("--cube-steps", type=int, default=200,
                    help="steps of the 64-cube columns runs (0: skip them)")
    ap.add_argument("--quick", action="store_true", help="small runs (a smoke test)")
    args = ap.parse_args(argv)
    mem_steps = 10_000
    if args.quick:
        args.steps, args.repeats, mem_steps, args.cube_steps = 50, 1, 200, 10
    args.time_cap = float("inf")
    print("\n".join(header(args, None).split("\n")[:3]))  # command, machine, versions
    print(f"best of {args.repeats} timings; single-threaded")
    print()
    print("1. value_and_grad / rollout, 64-sphere pile, "
          f"{args.steps} steps (aim: at most 3)")
    print(f"   {'contact':<28} {'rollout s':>10} {'grad s':>10} {'ratio':>7}")
    for name, cls in CONTACT_NAMES.items():
        contact = cls()
        t_roll, t_grad = pile_ratio(contact, args.steps, args.repeats)
        print(f"   {contact_label(contact):<28} {t_roll:>10.4f} {t_grad:>10.4f} "
              f"{t_grad / t_roll:>7.2f}")
    if args.cube_steps > 0:
        print(f"   columns of 64 cubes, {args.cube_steps} steps (they land at step 175), "
              "one timing:")
        for contact in (sc.HardContact(), sc.SmoothedContact()):
            t_roll, t_grad = pile_ratio(contact, args.cube_steps, 1, columns("box", 64))
            print(f"   {contact_label(contact):<28} {t_roll:>10.4f} {t_grad:>10.4f} "
                  f"{t_grad / t_roll:>7.2f}")
    print()
    n, t_adj, t_fd, err = control_problem(args.repeats)
    print(f"2. {n} control parameters (PenaltyContact, one sphere, 50 steps): adjoint "
          f"{t_adj * 1e3:.2f} ms, central differences ({2 * n} rollouts) {t_fd * 1e3:.0f} ms: "
          f"{t_fd / t_adj:.0f}x faster (aim: over 100x); largest difference "
          f"{err:.1e} of the gradient's size")
    print()
    peak, tape, elapsed = tape_memory(mem_steps)
    print(f"3. {mem_steps}-step value_and_grad of the 64-sphere pile (PenaltyContact): peak traced "
          f"memory {peak / 2 ** 20:.0f} MiB (the substep tape alone: {tape / 2 ** 20:.0f} MiB; "
          f"the trajectory the loss sees is as large again); {elapsed:.1f} s")


if __name__ == "__main__":
    main()
