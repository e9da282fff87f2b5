"""drop: a ball dropped from a sweep of heights onto the ground.

Shows the ball's height over time and its final height against the drop height for several
contact settings. Before the ball can reach the ground within the horizon the final height has
a closed form (free fall under semi-implicit Euler), drawn for reference.

    python -m scenarios run drop [--out DIR] [--heights N] [--steps N] [--quick] [--animate]
                                 [--executor threads|processes|dask] [--workers N]
"""
import argparse
import os
import sys

import numpy as np

import simcore as sc
from scenarios._common import (add_sweep_arguments, out_dir, parallel_map, sweep_gif,
                               write_index, write_table)

DT, RADIUS, G = 1e-3, 0.1, 9.81


def build(height=1.0, contact=None, dt=DT):
    """Ground plane and a ball whose bottom starts ``height`` above it. Returns (model, ball)."""
    scene = sc.Scene(dt=dt, gravity=(0, 0, -G))
    scene.add_plane(friction=0.5)
    ball = scene.add_sphere(RADIUS, mass=1.0, pos=(0, 0, RADIUS + height), friction=0.5,
                            restitution=0.5)
    return scene.build(contact=contact), ball


def loss(traj, ball=1):
    """Final height of the ball's centre."""
    return float(traj.pos[-1, ball, 2])


def free_fall_final_height(height, steps, dt=DT):
    # semi-implicit Euler: z_T = z_0 - g dt^2 T (T + 1) / 2
    return RADIUS + height - G * dt * dt * steps * (steps + 1) / 2


def final_height(job):
    """One drop of the sweep, ``(height, contact, steps)``: the ball's final height, NaN for a
    drop the setting cannot simulate (it diverged)."""
    height, contact, steps = job
    model, ball = build(height, contact)
    try:
        return loss(sc.rollout(model, model.initial_state(), steps, progress=False), ball)
    except sc.SimulationError:
        return np.nan


def settings(quick):
    """Contact settings compared: penalty stiffnesses, hard with and without time of impact,
    smoothed kappas. The ball's restitution is 0.5 (the hard model's; penalty damping and the
    smoothed model's relaxation decide their own)."""
    stiff = (1e4, 1e5) if quick else (1e4, 1e5, 1e6)
    out = {f"penalty k={k:g}": sc.PenaltyContact(stiffness=k, damping=0.5) for k in stiff}
    out["hard TOI"] = sc.HardContact()
    out["hard no TOI"] = sc.HardContact(toi=False)
    for kappa in ((1e-3,) if quick else (1e-2, 1e-4)):
        out[f"smoothed kappa={kappa:g}"] = sc.SmoothedContact(kappa=kappa)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run drop", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/drop", help="output folder (created)")
    p.add_argument("--heights", type=int, default=121, help="drop heights in the sweep")
    p.add_argument("--steps", type=int, default=700, help="steps per rollout (dt = 1 ms)")
    p.add_argument("--quick", action="store_true", help="a small sweep (for tests)")
    p.add_argument("--animate", action="store_true",
                   help="also write drops.gif: the four drops of trajectories.png side by "
                        "side")
    add_sweep_arguments(p, "drops")
    args = p.parse_args(argv)
    if args.quick:
        args.heights, args.steps = min(args.heights, 13), min(args.steps, 400)
    out = out_dir(args.out)
    from viz.plots import plot_lines

    steps = args.steps
    T = steps * DT
    onset = 0.5 * G * T * T  # drop height at which the ball touches exactly at the horizon
    heights = np.linspace(0.2 * onset, 2.0 * onset, args.heights)
    finals, rows = {}, []
    cases = settings(args.quick)
    flat = parallel_map(final_height, [(h, c, steps) for c in cases.values() for h in heights],
                        args, what="drops")
    for c, label in enumerate(cases):
        fin = np.array(flat[c * len(heights):(c + 1) * len(heights)])
        finals[label] = fin
        free = heights > onset
        closed = free_fall_final_height(heights[free], steps)
        rows.append({"setting": label, "rollouts": len(heights),
                     "diverged": int(np.isnan(fin).sum()),
                     "max error without impact (m)": float(np.nanmax(np.abs(fin[free] - closed))),
                     "largest change between neighbouring drops (m)":
                         float(np.nanmax(np.abs(np.diff(fin)))),
                     "lowest final height (m)": float(np.nanmin(fin))})
    # trajectories of a few drops with the stiffest-but-one setting
    label = list(cases)[min(1, len(cases) - 1)]
    traj_series = {}
    drops = np.linspace(heights[0], heights[-1], 4)
    for hgt in drops:
        model, ball = build(hgt, cases[label])
        traj = sc.rollout(model, model.initial_state(), steps)
        traj_series[f"drop {hgt:.2f} m"] = traj.pos[:, ball, 2]
    f1 = plot_lines(np.arange(steps + 1) * DT, traj_series, os.path.join(out, "trajectories.png"),
                    "time (s)", "ball centre height (m)", f"Drops, {label}")
    fine = np.linspace(onset, heights[-1], 200)
    f2 = plot_lines(heights, finals, os.path.join(out, "final_height.png"), "drop height (m)",
                    f"height at t = {T:.3g} s (m)", "Final height against drop height",
                    reference=("free fall (closed form)", fine,
                               free_fall_final_height(fine, steps)), markers=True)
    np.savez(os.path.join(out, "sweep.npz"), heights=heights, onset=onset,
             **{k.replace(" ", "_"): v for k, v in finals.items()})
    table = write_table(rows, out, "summary")
    print(f"drop: {len(cases) * len(heights)} rollouts of {steps} steps; touch at the horizon "
          f"for a drop of {onset:.4f} m")
    print(table)
    written = {f1: f"ball height over time for four drops, {label}",
               f2: "final height against drop height, per setting, with free fall",
               os.path.join(out, "summary.md"): "errors and jumps per setting (table)",
               os.path.join(out, "summary.csv"): "the same table as CSV",
               os.path.join(out, "sweep.npz"): "heights, onset and final heights per setting"}
    if args.animate:
        gif = animate_drops(os.path.join(out, "drops.gif"), drops, label, cases[label], steps)
        written[gif] = f"the four drops of trajectories.png side by side, {label}"
    write_index(out, "drop", __doc__, written, table)
    return 0


def animate_drops(path, heights, label, contact, steps):
    """A GIF of the drops from ``heights`` with ``contact`` (called ``label``), side by side
    0.4 m apart in x (the ground is a plane: the offset changes nothing)."""
    runs = []
    for k, hgt in enumerate(heights):
        model, ball = build(hgt, contact)
        state = model.initial_state()
        state.pos[ball, 0] = 0.4 * k
        runs.append((model, state))
    return sweep_gif(path, runs, steps, [f"drop {h:.2f} m" for h in heights],
                     f"drop: {len(heights)} drops, {label}")


if __name__ == "__main__":
    sys.exit(main())
