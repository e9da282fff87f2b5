"""push_box: per-step velocities of a pusher bring a box to a goal, per contact model.

A box (0.2 m cube, 1 kg, friction 0.3 with the ground) rests at x = 0; a kinematic ball
(radius 0.05 m) at the box's mid-height starts GAP = 0.05 m behind it. The pusher's x velocity
at each of the 200 steps (0.2 s) is a variable (held in [-2, 2] m/s); the loss is the squared
distance of the box's final x to the goal x = 0.15 m plus 1e-4 times the mean squared pusher
speed. L-BFGS-B starts from a pusher at rest, which never touches the box.

The scene's speculative margin is 0.1 m, so the smoothed model's distance band reaches the
pusher's start: there its contact force fades in smoothly with distance and the gradient pulls
the pusher towards the box. The hard model has no force, and so no gradient, until the bodies
touch (its contacts within the margin are only speculative), so from rest it cannot move.
Every setting's result is replayed with the hard model, and the hard model is also run from
the smoothed model's plan (continuation).

    python -m scenarios run push_box [--out DIR] [--iters N] [--quick] [--animate]
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.optimize

import simcore as sc
from scenarios._common import out_dir, spread, sweep_gif, write_index, write_table

DT, STEPS, HALF, R, GAP, GOAL, REG = 1e-3, 200, 0.1, 0.05, 0.05, 0.15, 1e-4
SMOOTHED = "smoothed kappa=1e-3"  # the setting that moves the box from rest


def settings(quick=False):
    out = {"hard TOI": sc.HardContact(), SMOOTHED: sc.SmoothedContact(kappa=1e-3)}
    if not quick:
        out["penalty k=1e5"] = sc.PenaltyContact(stiffness=1e5, damping=5.0)
    return out


def build(contact=None):
    """Ground, box and pusher. Returns (model, box, pusher)."""
    scene = sc.Scene(dt=DT, margin=0.1)
    scene.add_plane(friction=0.3)
    box = scene.add_box((HALF, HALF, HALF), mass=1.0, pos=(0, 0, HALF), friction=0.3)
    pusher = scene.add_sphere(R, pos=(-HALF - R - GAP, 0, HALF), kind="kinematic",
                              friction=0.3)
    return scene.build(contact=contact), box, pusher


def controls_from(u, model, pusher):
    """(steps, n, 6) controls: the pusher's x velocity u per step, nothing else."""
    ctrl = np.zeros((STEPS, model.nbody, 6))
    ctrl[:, pusher, 0] = u
    return ctrl


def objective(contact):
    """f(u) -> (loss, gradient) over the pusher's per-step x velocities, and a replay."""
    model, box, pusher = build(contact)
    state = model.initial_state()

    def task(traj):
        d = traj.pos[-1, box, 0] - GOAL
        cot = np.zeros_like(traj.pos)
        cot[-1, box, 0] = 2.0 * d
        return float(d * d), {"pos": cot}

    def f(u):
        value, grad = sc.value_and_grad(model, state, STEPS, task,
                                        controls=controls_from(u, model, pusher))
        return value + REG * np.mean(u * u), grad.controls[:, pusher, 0] + 2 * REG * u / STEPS

    def final_x(u):
        return sc.rollout(model, state, STEPS, controls_from(u, model, pusher)).pos[-1, box, 0]
    return f, final_x


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run push_box", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/push_box", help="output folder (created)")
    p.add_argument("--iters", type=int, default=50, help="L-BFGS-B iterations at most")
    p.add_argument("--quick", action="store_true", help="fewer settings (for tests)")
    p.add_argument("--animate", action="store_true",
                   help=f"also write iterations.gif: the {SMOOTHED} push at (at most 6 of) "
                        "its L-BFGS-B iterations, drawn with its own model")
    args = p.parse_args(argv)
    if args.iters < 1:
        p.error("--iters must be at least 1")
    out = out_dir(args.out)
    from viz.plots import plot_convergence, plot_lines

    _, replay_x = objective(sc.HardContact())
    rows, histories, plans, iterates = [], {}, {}, {}
    runs = [(label, contact, None) for label, contact in settings(args.quick).items()]
    # continuation: the hard model started from the smoothed model's plan
    runs.append(("hard TOI from the smoothed plan", sc.HardContact(), SMOOTHED))
    for label, contact, start in runs:
        started = time.time()
        f, own_x = objective(contact)
        history = []

        def fun(u):
            value, grad = f(u)
            history.append(value)
            return value, grad
        u0 = np.zeros(STEPS) if start is None else plans[start]
        g0 = f(u0)[1]
        iterates[label] = [u0]
        res = scipy.optimize.minimize(fun, u0, jac=True, method="L-BFGS-B",
                                      bounds=[(-2.0, 2.0)] * STEPS,
                                      options={"maxiter": args.iters, "gtol": 1e-14,
                                               "ftol": 1e-15},
                                      callback=lambda x: iterates[label].append(x.copy()))
        histories[label], plans[label] = np.array(history), res.x
        x_hard = replay_x(res.x)
        rows.append({"setting": label, "evaluations": int(res.nfev),
                     "gradient norm at the start": float(np.linalg.norm(g0)),
                     "final loss": float(history[-1]), "box x (own model)": float(own_x(res.x)),
                     "box x replayed with hard TOI": float(x_hard), "goal": GOAL,
                     "seconds": round(time.time() - started, 2)})
        print(f"{label}: |gradient| at the start {np.linalg.norm(g0):.3g}; loss "
              f"{history[0]:.3g} -> {history[-1]:.3g} in {res.nfev} evaluations; box ends at "
              f"x = {x_hard:.4f} replayed with hard TOI (goal {GOAL})", file=sys.stderr)
    f1 = plot_convergence(histories, os.path.join(out, "convergence.png"),
                          "evaluation", "loss",
                          "push_box: L-BFGS-B on the pusher's velocities")
    f2 = plot_lines(np.arange(STEPS) * DT, plans, os.path.join(out, "plans.png"), "time (s)",
                    "pusher x velocity (m/s)", "Optimised pusher velocities")
    table = write_table(rows, out, "summary")
    np.savez(os.path.join(out, "result.npz"),
             **{f"{k.replace(' ', '_')}_history": h for k, h in histories.items()},
             **{f"{k.replace(' ', '_')}_plan": v for k, v in plans.items()})
    print(table)
    written = {f1: "loss per evaluation, per setting",
               f2: "each setting's optimised pusher velocities over time",
               os.path.join(out, "summary.md"): "per setting: gradient at the start, final loss, "
                                                "box x with its own model and replayed (table)",
               os.path.join(out, "summary.csv"): "the same table as CSV",
               os.path.join(out, "result.npz"): "loss histories and plans per setting"}
    if args.animate:
        gif = animate_iterations(os.path.join(out, "iterations.gif"), iterates[SMOOTHED])
        written[gif] = f"the {SMOOTHED} push at L-BFGS-B's iterations"
    write_index(out, "push_box", __doc__, written, table)
    return 0


def animate_iterations(path, plans, most=6):
    """A GIF of the smoothed model's pushes for (at most ``most`` of) the plans an optimisation
    went through, side view."""
    model, _, pusher = build(settings()[SMOOTHED])
    its = spread(len(plans), most)
    runs = [(model, model.initial_state(), controls_from(plans[i], model, pusher)) for i in its]
    return sweep_gif(path, runs, STEPS, [f"iteration {i}" for i in its],
                     f"push_box, {SMOOTHED}: the push at L-BFGS-B's iterations")


if __name__ == "__main__":
    sys.exit(main())
