"""sysid_toss: recover the friction and restitution of a tossed, tumbling box from a noisy
recording of its motion, per contact model.

A box (0.2 x 0.15 x 0.1 m, 1 kg) is tossed spinning from 0.3 m onto the ground and bounces,
tumbles and slides for 0.6 s (600 steps of 1 ms). The reference is made with the hard model
(time of impact) at a contact friction of 0.4 and restitution 0.5: the ground's friction is 1
and its restitution 0, so a contact's friction sqrt(mu_box mu_ground) is sqrt(mu_box), and the
box's own value mu_box = 0.16 is what is recovered. Its centre positions get Gaussian noise
(1 mm). Starting from friction 0.64 and restitution 0.2 (``--start``), L-BFGS-B (bounds from
``Problem.bounds``) fits both to the recording by least squares over every recorded position,
and ``simcore.gradcheck`` then checks the friction gradient where it stopped. Only the hard
model has restitution: penalty contact fits friction and its damping, smoothed contact
friction alone.

    python -m scenarios run sysid_toss [--out DIR] [--iters N] [--noise M] [--start MU E]
                                       [--quick] [--animate]
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.optimize

import simcore as sc
from scenarios._common import out_dir, sweep_gif, write_index, write_table

DT, STEPS = 1e-3, 600
TRUE_MU_BOX, TRUE_E = 0.16, 0.5
START_MU_BOX, START_E = 0.64, 0.2


def settings(quick=False):
    out = {"hard TOI": sc.HardContact()}
    if not quick:
        out["penalty k=1e5"] = sc.PenaltyContact(stiffness=1e5, damping=2.0)
        out["smoothed kappa=1e-4"] = sc.SmoothedContact(kappa=1e-4)
    return out


def build(contact=None, mu_box=START_MU_BOX, e=START_E):
    """Ground and the tossed box. Returns (model, box)."""
    scene = sc.Scene(dt=DT, gravity=(0, 0, -9.81))
    scene.add_plane(friction=1.0, restitution=0.0)
    box = scene.add_box((0.1, 0.075, 0.05), mass=1.0, pos=(0, 0, 0.3),
                        quat=(np.cos(0.1), np.sin(0.1), 0.0, 0.0), vel=(2.0, 0.0, 0.5),
                        ang_vel=(0.0, -3.0, 1.0), friction=mu_box, restitution=e)
    return scene.build(contact=contact), box


def reference(noise, seed=0):
    """The recorded centre positions (steps+1, 3) with noise, and the clean ones."""
    model, box = build(sc.HardContact(), TRUE_MU_BOX, TRUE_E)
    clean = sc.rollout(model, model.initial_state(), STEPS).pos[:, box]
    rng = np.random.default_rng(seed)
    return clean + noise * rng.normal(size=clean.shape), clean


def fit_loss(recorded, box):
    """Mean squared distance between the rollout's and the recorded centres."""
    n = recorded.shape[0]

    def loss(traj):
        diff = traj.pos[:, box] - recorded
        cot = np.zeros_like(traj.pos)
        cot[:, box] = 2.0 * diff / n
        return float(np.sum(diff * diff) / n), {"pos": cot}
    return loss


def variables(contact):
    """What is fitted: friction and restitution for the hard model; the other models have no
    restitution (penalty fits its damping instead, smoothed friction alone)."""
    if isinstance(contact, sc.HardContact):
        return ("friction", "restitution")
    if isinstance(contact, sc.PenaltyContact):
        return ("friction", "damping")
    return ("friction",)


def fit(contact, recorded, iters, start=(START_MU_BOX, START_E)):
    """L-BFGS-B over ``variables(contact)`` from box friction and restitution ``start``.
    Returns (x, history, evaluations)."""
    model, box = build(contact, *start)
    prob = sc.Problem(model, model.initial_state(), STEPS, fit_loss(recorded, box),
                      variables=variables(contact), bodies=[box])
    history = []

    def fun(x):
        value, grad = prob(x)
        history.append(value)
        return value, grad
    res = scipy.optimize.minimize(fun, prob.x0, jac=True, method="L-BFGS-B", bounds=prob.bounds,
                                  options={"maxiter": iters, "gtol": 1e-12, "ftol": 1e-14})
    return res.x, np.array(history), int(res.nfev)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run sysid_toss", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/sysid_toss", help="output folder (created)")
    p.add_argument("--iters", type=int, default=40, help="L-BFGS-B iterations at most")
    p.add_argument("--noise", type=float, default=1e-3, help="recording noise (m, std)")
    p.add_argument("--start", type=float, nargs=2, default=(START_MU_BOX, START_E),
                   metavar=("FRICTION", "RESTITUTION"),
                   help=f"the box's first guess (default {START_MU_BOX:g} {START_E:g})")
    p.add_argument("--quick", action="store_true", help="the hard model only (for tests)")
    p.add_argument("--animate", action="store_true",
                   help="also write fits.gif: the reference toss (without noise), the starting "
                        "guess and each setting's fitted toss")
    args = p.parse_args(argv)
    if args.iters < 1 or not args.noise >= 0:
        p.error("--iters must be at least 1 and --noise non-negative")
    if not (args.start[0] > 0 and 0 <= args.start[1] <= 1):
        p.error(f"--start needs a friction > 0 and a restitution in [0, 1], got {args.start}")
    out = out_dir(args.out)
    from viz.plots import plot_convergence

    recorded, clean = reference(args.noise)
    rows, histories, fits = [], {}, {}
    for label, contact in settings(args.quick).items():
        started = time.time()
        x, hist, nfev = fit(contact, recorded, args.iters, args.start)
        histories[label] = hist
        fitted = dict(zip(variables(contact), x))
        # is the gradient the optimiser stopped on right? (friction, at the optimum)
        model, box = build(contact, fitted["friction"], fitted.get("restitution", args.start[1]))
        if "damping" in fitted:
            model = model._replace(pen_damping=float(fitted["damping"]))
        fits[label] = (model, fitted)
        check = sc.gradcheck(model, model.initial_state(), STEPS, fit_loss(recorded, box),
                             "friction", box, fd_steps=(1e-2, 1e-3, 1e-4, 1e-5, 1e-6))
        rows.append({"setting": label, "fitted": ", ".join(fitted), "evaluations": nfev,
                     "friction (box)": float(fitted["friction"]), "true friction": TRUE_MU_BOX,
                     "restitution": float(fitted.get("restitution", np.nan)),
                     "true restitution": TRUE_E, "final loss (m^2)": float(hist[-1]),
                     "gradcheck at the optimum (friction)": check.verdict,
                     "noise floor (m^2)": float(np.mean(np.sum((recorded - clean) ** 2, 1))),
                     "seconds": round(time.time() - started, 2)})
        print(f"{label}: fitted {fitted} (true friction {TRUE_MU_BOX}, restitution {TRUE_E}),"
              f" loss {hist[-1]:.3g} after {nfev} evaluations; gradcheck "
              f"there: {check.verdict}: {check.summary}", file=sys.stderr)
    f1 = plot_convergence(histories, os.path.join(out, "convergence.png"),
                          "evaluation", "loss (m^2)",
                          "sysid_toss: fitting friction and restitution")
    table = write_table(rows, out, "summary")
    np.savez(os.path.join(out, "result.npz"), recorded=recorded, clean=clean,
             **{f"{k.replace(' ', '_')}_history": h for k, h in histories.items()})
    print(table)
    written = {f1: "fit loss per evaluation, per setting",
               os.path.join(out, "summary.md"): "per setting: fitted values against the true "
                                                "ones, final loss, gradient check (table)",
               os.path.join(out, "summary.csv"): "the same table as CSV",
               os.path.join(out, "result.npz"): "the recording (noisy and clean) and the loss "
                                                "histories"}
    if args.animate:
        gif = animate_fits(os.path.join(out, "fits.gif"), fits, args.start)
        written[gif] = "the reference toss, the starting guess and each setting's fitted toss"
    write_index(out, "sysid_toss", __doc__, written, table)
    return 0


def animate_fits(path, fits, start=(START_MU_BOX, START_E)):
    """A GIF of the reference toss (hard TOI at the true values, without noise, as
    ``reference``), the starting guess (the hard setting) and the fitted tosses, ``fits``:
    label -> (fitted model, {variable: value}), each rolled out with its own model."""
    true, _ = build(sc.HardContact(), TRUE_MU_BOX, TRUE_E)
    first, _ = build(settings(quick=True)["hard TOI"], *start)
    runs = [(m, m.initial_state()) for m in [true, first] + [m for m, _ in fits.values()]]
    labels = [f"reference: friction {TRUE_MU_BOX:g}, restitution {TRUE_E:g}",
              f"start: friction {start[0]:g}, restitution {start[1]:g}"]
    labels += [f"{label} fit: " + ", ".join(f"{k} {v:.3g}" for k, v in fitted.items())
               for label, (_, fitted) in fits.items()]
    return sweep_gif(path, runs, STEPS, labels, "sysid_toss: the recorded toss and the fits")


if __name__ == "__main__":
    sys.exit(main())
