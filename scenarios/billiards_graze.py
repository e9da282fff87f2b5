"""billiards_graze: the gradient of a struck ball's exit velocity in the impact parameter, per
contact model, from a head-on hit through grazing to a miss.

Two equal balls (radius r = 0.1 m, 1 kg, friction 0, restitution 1) float without gravity and
without ground (``Scene(gravity=(0, 0, 0))``, no plane). Ball A starts at (-0.5, b, 0) moving
at V = 1 m/s along +x; ball B rests at the origin. The rollout lasts T = 1 s (1000 steps of 1
ms); the latest contact (b -> 2r) happens at t = 0.5 s. The loss is B's final y velocity,
defined for every b (zero when A misses), and its gradient is taken in b (A's initial y).

Closed form, rigid, frictionless, equal masses, normal restitution e: at contact the centres
are 2r apart and the line of centres from A to B is n = (cos theta, -sin theta) with
sin theta = b / (2r). The normal impulse is along n only, so B leaves along n with speed
(1 + e) / 2 V cos theta:

    b < 2r    v_By = -(1 + e) / 2 V cos(theta) sin(theta) = -(1 + e) V sin(2 theta) / 4
              d v_By / db = -(1 + e) V cos(2 theta) / (4 r cos(theta))    (d theta/db =
              1 / (2 r cos theta))
    b > 2r    v_By = 0, d v_By / db = 0

The elastic case (e = 1) gives v_By = -V sin(2 theta) / 2 and -V cos(2 theta) / (2 r
cos theta). v_By is continuous at grazing (it goes to 0 like sqrt(2r - b)) but its gradient
grows without bound there (to +infinity as cos theta -> 0) and drops to 0 beyond. The hard and
penalty settings are elastic (restitution 1, penalty damping 0) and are compared with e = 1.
The smoothed model has no restitution: its normal impulse is plastic (the balls end with equal
normal velocities), so B leaves with half of A's normal speed, and it is compared with e = 0;
its contacts act over a distance band, so near-grazing misses still push B a little.

Settings: hard contact with time of impact and without (``HardContact(toi=..,
restitution_threshold=1e-3)``: the default threshold, 0.1 m/s, makes every impact with a
normal approach speed below it, V cos theta < 0.1, plastic, i.e. every b > 0.995 (2r), a jump
in the loss inside the grazing region; without gravity no resting contact needs the default,
and the full run adds the default threshold as one more setting to show the jump), penalty
(stiffness 1e5, damping 0) and smoothed (kappa 1e-4). b is swept from 0 (head-on; the sweep
includes b = 0 exactly) to 2.4 r, denser approaching grazing (2r - b from 1e-2 down to 1e-4 m).
Errors are tabulated by region: head-on (b < r), oblique (r <= b < 1.9 r), grazing
(1.9 r <= b <= 2 r) and no contact (b > 2r); the scaled error is |adjoint - closed form| /
max(1, |closed form|).

    python -m scenarios run billiards_graze [--out DIR] [--impacts N] [--quick] [--workers N]
                                            [--executor threads|processes|dask] [--dask-address A]
                                            [--animate]
"""
import argparse
import os
import sys
import time

import numpy as np

import simcore as sc
from scenarios._common import (add_sweep_arguments, out_dir, parallel_map, sweep_gif,
                               write_index, write_table)

DT, STEPS, RADIUS, V, XA = 1e-3, 1000, 0.1, 1.0, -0.5
FD_STEPS = (1e-2, 1e-4, 1e-6)
REGIONS = ("head-on", "oblique", "grazing", "no contact")


def settings(quick=False):
    """label -> (contact configuration, restitution of the closed form it is compared with)."""
    out = {"hard TOI": (sc.HardContact(restitution_threshold=1e-3), 1.0),
           "hard no TOI": (sc.HardContact(toi=False, restitution_threshold=1e-3), 1.0),
           "penalty k=1e5": (sc.PenaltyContact(stiffness=1e5, damping=0.0), 1.0),
           "smoothed kappa=0.0001": (sc.SmoothedContact(kappa=1e-4), 0.0)}
    if not quick:
        out["hard TOI, threshold 0.1"] = (sc.HardContact(), 1.0)
    return out


def build(b=0.1, contact=None, dt=DT):
    """Ball A at (XA, b, 0) moving at V along +x, ball B at rest at the origin; no gravity, no
    ground, friction 0, restitution 1. Returns (model, A, B)."""
    scene = sc.Scene(dt=dt, gravity=(0, 0, 0))
    a = scene.add_sphere(RADIUS, mass=1.0, pos=(XA, b, 0), vel=(V, 0, 0), friction=0.0,
                         restitution=1.0)
    bb = scene.add_sphere(RADIUS, mass=1.0, pos=(0, 0, 0), friction=0.0, restitution=1.0)
    return scene.build(contact=contact), a, bb


def loss(traj, ball=1):
    """Final y velocity of ball B, with its cotangent."""
    return sc.losses.final(ball, key="vel", axis=1)(traj)


def closed_form(b, e=1.0):
    """(v_By, d v_By / db) of rigid frictionless equal balls with restitution e (arrays)."""
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    hit = np.abs(b) < 2 * RADIUS
    s = np.where(hit, b / (2 * RADIUS), 0.0)
    c = np.sqrt(1.0 - s * s)
    f = (1.0 + e) / 2.0
    vy = np.where(hit, -f * V * c * s, 0.0)
    dvy = np.where(hit, -f * V * (c * c - s * s) / (2 * RADIUS * np.where(hit, c, 1.0)), 0.0)
    return vy, dvy


def impact_parameters(n):
    """n impact parameters from 0 to 2.4 r: even steps to 1.9 r, then approaching grazing
    geometrically (2r - b from 1e-2 to 1e-4 m), then misses, denser near 2r."""
    n_graze, n_miss = n // 4, n // 6
    body = np.linspace(0.0, 1.9 * RADIUS, n - n_graze - n_miss, endpoint=False)
    graze = 2 * RADIUS - np.geomspace(0.1 * RADIUS, 1e-3 * RADIUS, n_graze)
    miss = 2 * RADIUS + 0.4 * RADIUS * np.linspace(0.0, 1.0, n_miss + 1)[1:] ** 2
    return np.unique(np.concatenate([body, graze, miss]))


def region_of(b):
    b = np.asarray(b, dtype=np.float64)
    names = np.empty(b.shape, dtype=object)
    names[b < RADIUS] = "head-on"
    names[(b >= RADIUS) & (b < 1.9 * RADIUS)] = "oblique"
    names[(b >= 1.9 * RADIUS) & (b <= 2 * RADIUS)] = "grazing"
    names[b > 2 * RADIUS] = "no contact"
    return names


def _final_vy(b, contact):
    model, _, ball = build(b, contact)
    return loss(sc.rollout(model, model.initial_state(), STEPS, progress=False), ball)[0]


def study_one(args):
    """Loss, adjoint and central differences at one (setting, b)."""
    contact, b = args
    model, a, ball = build(b, contact)
    value, grad = sc.value_and_grad(model, model.initial_state(), STEPS,
                                    lambda tr: loss(tr, ball), progress=False)
    fds = [(_final_vy(b + h, contact) - _final_vy(b - h, contact)) / (2 * h) for h in FD_STEPS]
    return value, float(grad.pos[a, 1]), fds


def error_rows(B, results, cases):
    regions = region_of(B)
    rows = []
    for label, (_, e) in cases.items():
        _, closed = closed_form(B, e)
        adj, fd = results[label]["adjoint"], results[label]["central"]
        for name in REGIONS:
            sel = regions == name
            if not np.any(sel):
                continue
            err = np.abs(adj[sel] - closed[sel])
            rows.append({
                "setting": label, "region": name, "impacts": int(sel.sum()),
                "adjoint vs closed form, median": float(np.median(err)),
                "adjoint vs closed form, max": float(np.max(err)),
                "max scaled error": float(np.max(err / np.maximum(1.0, np.abs(closed[sel])))),
                f"central h={FD_STEPS[0]:g} vs closed form, median":
                    float(np.median(np.abs(fd[sel, 0] - closed[sel]))),
                f"central h={FD_STEPS[-1]:g} vs adjoint, max":
                    float(np.max(np.abs(fd[sel, -1] - adj[sel])))})
    return rows


def animate_sweep(path, ratios=(0.0, 1.0, 1.6, 1.95, 2.2)):
    """A GIF of impacts at b = ratio x r (hard TOI), from head-on through grazing to a miss,
    seen from the top."""
    contact = settings(quick=True)["hard TOI"][0]
    runs = [build(RADIUS * k, contact)[0] for k in ratios]
    return sweep_gif(path, [(m, m.initial_state()) for m in runs], STEPS,
                     [f"b = {k:g} r" + (" (miss)" if k > 2 else "") for k in ratios],
                     "billiards_graze: head-on to grazing to a miss (hard TOI)", view="xy")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run billiards_graze",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/billiards_graze", help="output folder (created)")
    p.add_argument("--impacts", type=int, default=60, help="impact parameters in the sweep")
    p.add_argument("--quick", action="store_true", help="a small sweep (for tests)")
    add_sweep_arguments(p, "rollouts")
    p.add_argument("--animate", action="store_true",
                   help="also write sweep.gif: five impacts (hard TOI) from head-on through "
                        "grazing to a miss, top view")
    args = p.parse_args(argv)
    if args.impacts < 8:
        p.error("--impacts must be at least 8")
    if args.quick:
        args.impacts = min(args.impacts, 12)
    out = out_dir(args.out)
    from viz.plots import plot_lines, plot_panels

    B = impact_parameters(args.impacts)
    cases = settings(args.quick)
    jobs = [(contact, b) for contact, _ in cases.values() for b in B]
    started = time.time()
    flat = parallel_map(study_one, jobs, args, what="impacts (adjoint + differences)")
    results = {}
    for c, label in enumerate(cases):
        part = flat[c * len(B):(c + 1) * len(B)]
        results[label] = {"loss": np.array([r[0] for r in part]),
                          "adjoint": np.array([r[1] for r in part]),
                          "central": np.array([r[2] for r in part])}
    elapsed = time.time() - started

    graze = 2 * RADIUS
    vc1, gc1 = closed_form(B, 1.0)
    vc0, gc0 = closed_form(B, 0.0)
    f1 = plot_lines(B, {**{k: v["loss"] for k, v in results.items()},
                        "rigid, e = 0 (closed form)": vc0},
                    os.path.join(out, "loss.png"), "impact parameter b (m)",
                    f"B's y velocity at T = {STEPS * DT:g} s (m/s)",
                    "Exit velocity of the struck ball across grazing",
                    reference=("rigid, e = 1 (closed form)", B, vc1), markers=True, vline=graze)
    panels = {}
    for label, (_, e) in cases.items():
        panels[label] = ({"adjoint": results[label]["adjoint"],
                          **{f"central h={h:g}": results[label]["central"][:, j]
                             for j, h in enumerate(FD_STEPS)}},
                         (f"closed form, e = {e:g}", B, gc1 if e > 0 else gc0))
    f2 = plot_panels(B, panels, os.path.join(out, "gradients.png"), "impact parameter b (m)",
                     "d v_By / db (1/s)", f"Gradient of B's exit velocity; grazing at b = "
                     f"{graze:g} m", vline=graze, ylim=(-8, 40))
    errs = {label: np.maximum(np.abs(results[label]["adjoint"] - (gc1 if e > 0 else gc0)),
                              1e-16) for label, (_, e) in cases.items()}
    f3 = plot_lines(B, errs, os.path.join(out, "gradient_error.png"), "impact parameter b (m)",
                    "|adjoint - closed form|", "Adjoint error against the rigid closed form",
                    logy=True, vline=graze)
    rows = error_rows(B, results, cases)
    table = write_table(rows, out, "summary")
    np.savez(os.path.join(out, "sweep.npz"), impact=B, radius=RADIUS, fd_steps=FD_STEPS,
             closed_e1=gc1, closed_e0=gc0, closed_vy_e1=vc1, closed_vy_e0=vc0,
             **{f"{k.replace(' ', '_').replace(',', '')}_{q}": v[q]
                for k, v in results.items() for q in v})
    written = {f1: "B's exit velocity against b, per setting, with the closed forms",
               f2: "d v_By / db: adjoint and central differences per setting, with the closed "
                   "form",
               f3: "|adjoint - closed form| per setting",
               os.path.join(out, "summary.md"): "errors per setting and region (table)",
               os.path.join(out, "summary.csv"): "the same table as CSV",
               os.path.join(out, "sweep.npz"): "impact parameters, closed forms, losses, "
                                               "adjoints and differences per setting"}
    if args.animate:
        written[animate_sweep(os.path.join(out, "sweep.gif"))] = \
            "five impacts (hard TOI) from head-on through grazing to a miss, top view"
    print(f"billiards_graze: {len(jobs)} impacts of {STEPS} steps (adjoint and "
          f"{2 * len(FD_STEPS)} rollouts each) in {elapsed:.1f} s; grazing at b = {graze:g} m")
    print(table)
    write_index(out, "billiards_graze", __doc__, written, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
