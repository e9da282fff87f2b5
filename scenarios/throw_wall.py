"""throw_wall: choose a ball's launch velocity so that it bounces off the ground, then a wall,
and ends on a target (the setup of Zhong et al. 2022, task 2), per contact model.

A ball of radius 0.1 m starts at (x, z) = (-0.5, 1) with the initial guess v0 = (5, -5) m/s,
gravity 9.8, a wall at x = 1.75 (normal -x), restitution 0.92, and must be at the target
(-2, 1.5) after 0.6 s (288 steps). Loss: the squared distance of the ball's final centre to the
target. The launch velocity (x and z) is optimised by L-BFGS-B with the adjoint gradient as
``jac``. Every setting's optimum is then replayed with the hard model with time of impact (the
physical reference), so a model whose gradients lead elsewhere shows it.

    python -m scenarios run throw_wall [--out DIR] [--iters N] [--quick] [--animate]
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.optimize

import simcore as sc
from scenarios._common import out_dir, series_gif, spread, write_index, write_table

T, STEPS, R, G, E = 0.6, 288, 0.1, 9.8, 0.92
START, V0, TARGET, WALL = (-0.5, 1.0), (5.0, -5.0), (-2.0, 1.5), 1.75


def settings(quick=False):
    out = {"hard TOI": sc.HardContact(), "hard no TOI": sc.HardContact(toi=False),
           "penalty k=1e5": sc.PenaltyContact(stiffness=1e5, damping=2.0)}
    if not quick:
        out["smoothed kappa=1e-4"] = sc.SmoothedContact(kappa=1e-4)
    return out


def build(contact=None, v0=V0):
    """Ground, wall and ball. Returns (model, ball)."""
    scene = sc.Scene(dt=T / STEPS, gravity=(0, 0, -G))
    scene.add_plane(friction=0.0, restitution=E)
    scene.add_plane(normal=(-1, 0, 0), offset=-WALL, friction=0.0, restitution=E)
    ball = scene.add_sphere(R, mass=1.0, pos=(START[0], 0, START[1]), vel=(v0[0], 0, v0[1]),
                            friction=0.0, restitution=E)
    return scene.build(contact=contact), ball


def loss(traj, ball=2):
    """Squared distance of the final centre to the target (in the x-z plane)."""
    return sc.losses.final_distance(ball, (TARGET[0], 0.0, TARGET[1]))(traj)


def optimise(contact, iters):
    """L-BFGS-B over the launch velocity. Returns (v0, losses per iteration, the launch
    velocities (x, z) per iteration, evaluations, a note: why it stopped early, if it did)."""
    model, ball = build(contact)
    prob = sc.Problem(model, model.initial_state(), STEPS, lambda tr: loss(tr, ball),
                      variables=("vel",), bodies=[ball])
    history, iterates = [prob(prob.x0)[0]], [prob.x0[[0, 2]].copy()]
    nfev = [0]

    def fun(x):
        nfev[0] += 1
        return prob(x)

    def record(x):
        history.append(prob(x)[0])
        iterates.append(x[[0, 2]].copy())
    try:
        res = scipy.optimize.minimize(fun, prob.x0, jac=True, method="L-BFGS-B",
                                      options={"maxiter": iters, "gtol": 1e-12, "ftol": 1e-15},
                                      callback=record)
        v0, note = res.x[[0, 2]], ""
    except sc.SimulationError as err:  # a trial throw the model cannot simulate: stop there
        v0, note = iterates[-1], f"stopped: a trial throw diverged ({str(err).split(':')[0]})"
    return (float(v0[0]), float(v0[1])), np.array(history), np.array(iterates), nfev[0], note


def replay(v0):
    """The physical reference: the hard model with time of impact, at launch velocity v0."""
    model, ball = build(sc.HardContact(), v0)
    traj = sc.rollout(model, model.initial_state(), STEPS)
    return traj, loss(traj, ball)[0]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run throw_wall", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/throw_wall", help="output folder (created)")
    p.add_argument("--iters", type=int, default=60, help="L-BFGS-B iterations at most")
    p.add_argument("--quick", action="store_true", help="fewer settings (for tests)")
    p.add_argument("--animate", action="store_true",
                   help="also write iterations.gif: the hard TOI throw at each iteration "
                        "(at most 10 of them)")
    args = p.parse_args(argv)
    if args.iters < 1:
        p.error("--iters must be at least 1")
    out = out_dir(args.out)
    from viz.plots import plot_convergence, plot_paths

    rows, histories, paths = [], {}, {}
    for label, contact in settings(args.quick).items():
        started = time.time()
        v0, hist, iterates, nfev, note = optimise(contact, args.iters)
        if label == "hard TOI":
            hard_iterates = iterates
        traj, physical = replay(v0)
        histories[label] = hist
        paths[label] = traj.pos[:, 2, [0, 2]]
        rows.append({"setting": label, "iterations": len(hist) - 1, "evaluations": nfev,
                     "final loss (own model)": float(hist[-1]), "v0 x": v0[0], "v0 z": v0[1],
                     "loss replayed with hard TOI": float(physical),
                     "seconds": round(time.time() - started, 2), "note": note})
        print(f"{label}: " + " -> ".join(f"{h:.3g}" for h in hist[:: max(1, len(hist) // 8)])
              + f" ({len(hist) - 1} iterations); replayed with hard TOI: {physical:.3g}",
              file=sys.stderr)
    f1 = plot_convergence(histories, os.path.join(out, "convergence.png"),
                          "iteration", "loss (m^2)",
                          "throw_wall: L-BFGS-B on the launch velocity")
    f2 = plot_paths(paths, os.path.join(out, "paths.png"), "x (m)", "z (m)",
                    "Optimised throws, replayed with hard contact and time of impact",
                    points=[(*TARGET, "r*", "target"), (*START, "ko", "start")],
                    hlines=[0.0], vlines=[WALL])
    table = write_table(rows, out, "summary")
    np.savez(os.path.join(out, "result.npz"),
             **{f"{k.replace(' ', '_')}_history": h for k, h in histories.items()},
             **{f"{k.replace(' ', '_')}_path": v for k, v in paths.items()})
    written = {f1: "loss per L-BFGS-B iteration, per setting",
               f2: "each setting's optimised throw replayed with hard TOI, with wall and target",
               os.path.join(out, "summary.md"): "per setting: iterations, launch velocity, "
                                                "final loss and the loss replayed (table)",
               os.path.join(out, "summary.csv"): "the same table as CSV",
               os.path.join(out, "result.npz"): "loss histories and replayed paths per setting"}
    if args.animate:  # the hard TOI optimisation's throws, iteration by iteration
        its = spread(len(hard_iterates), 10)
        gif = series_gif(os.path.join(out, "iterations.gif"), build()[0],
                         [replay(hard_iterates[i])[0] for i in its],
                         [f"iteration {i}" for i in its],
                         "throw_wall, hard TOI: the throw at L-BFGS-B's iterations")
        written[gif] = ("the hard TOI throw at L-BFGS-B's iterations "
                        + ", ".join(str(i) for i in its))
    print(table)
    write_index(out, "throw_wall", __doc__, written, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
