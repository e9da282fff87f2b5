"""slide_stick: the gradient of a sliding box's final position in its launch speed and in the
friction coefficient, per contact model, as the box's stop crosses the horizon.

A box (half extents 0.1, 0.1, 0.05 m; 1 kg) rests on the ground (its bottom face touching it,
centre at x0 = 0) and is launched along +x at v0; Coulomb friction mu = 0.5, g = 9.81,
T = 0.5 s (500 steps of 1 ms). The friction coefficient of a contact is sqrt(mu_a mu_b), so
the ground and the box are both given the friction mu and "varying mu" varies both together:
dx/dmu is the sum of the per-body friction gradients of the ground and the box (each is
d sqrt(mu_a mu_b) / d mu_a = 1/2 times dx/dmu), and the differences move both. The loss is
the final x of the box's centre. Closed form of a rigid box in continuous time, with the stop
time t_s = v0 / (mu g):

    still sliding at T (t_s > T)   x = x0 + v0 T - mu g T^2 / 2,  dx/dv0 = T,
                                   dx/dmu = -g T^2 / 2
    stopped before T (t_s <= T)    x = x0 + v0^2 / (2 mu g),      dx/dv0 = v0 / (mu g) = t_s,
                                   dx/dmu = -v0^2 / (2 mu^2 g) = -g t_s^2 / 2

Both gradients are continuous at the onset t_s = T (dx/dv0 = T and dx/dmu = -g T^2 / 2 from
either side): x is C1 in (v0, mu) and only the gradients' slopes jump there (d2x/dv0^2 from
1/(mu g) to 0). Time stepping with a 1 ms step stops the box inside a step, so the discrete
dx/dv0 is h floor(t_s / h), a staircase within one step of t_s (an error below h = 1e-3), and
dx/dmu is off by about g t_s h / 2 (below 2.5e-3).

v0 is swept so that t_s runs from 0.3 T (sticks early) to 2 T (slides through the horizon),
denser around the onset, never stopping exactly on a step boundary. For each contact setting
the study records x(T), the adjoint gradients (``value_and_grad`` with
``params=("friction",)``) and central differences at steps 1e-2, 1e-4 and 1e-6 in v0 and in
mu. Settings: hard (``HardContact()``), penalty (stiffness 1e5, Hunt-Crossley damping 20 s/m,
friction smoothed below 1e-2 m/s, which blurs the stop) and smoothed (kappa 1e-4 and 1e-6;
``--quick`` runs 1e-4 only). The penalty box starts touching and never rises above its start.
Its damping is not critical: a heave critically damped at the static sink needs about 129 s/m,
which diverges at this step, because the four corner springs damp the pitch and roll modes 2.4
times faster than the heave (measured: 40 s/m is stable, 50 s/m grows slowly, 60 s/m
diverges). Errors are tabulated by region of s = T - t_s: "sticks before the horizon"
(s > 5 ms), "onset" (|s| <= 5 ms) and "still sliding" (s < -5 ms).

    python -m scenarios run slide_stick [--out DIR] [--speeds N] [--quick] [--workers N]
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

DT, STEPS, G, MU = 1e-3, 500, 9.81, 0.5
HALF = (0.1, 0.1, 0.05)
X0 = 0.0
PEN_STIFFNESS, PEN_DAMPING = 1e5, 20.0
FD_STEPS = (1e-2, 1e-4, 1e-6)
REGIONS = (("sticks before the horizon", 5e-3, np.inf), ("onset", -5e-3, 5e-3),
           ("still sliding", -np.inf, -5e-3))
GRADS = (("dx/dv0", "adjoint_v0", "central_v0", 1), ("dx/dmu", "adjoint_mu", "central_mu", 2))


def settings(quick=False):
    """label -> contact configuration."""
    out = {"hard": sc.HardContact(),
           f"penalty k={PEN_STIFFNESS:g} c={PEN_DAMPING:g}":
               sc.PenaltyContact(stiffness=PEN_STIFFNESS, damping=PEN_DAMPING)}
    for kappa in ((1e-4,) if quick else (1e-4, 1e-6)):
        out[f"smoothed kappa={kappa:g}"] = sc.SmoothedContact(kappa=kappa)
    return out


def build(v0=1.0, mu=MU, contact=None, dt=DT):
    """Ground and a box resting on it, launched along +x at ``v0``; both have friction ``mu``
    (so the contact's is mu). Returns (model, box); the ground is body 0."""
    scene = sc.Scene(dt=dt, gravity=(0, 0, -G))
    scene.add_plane(friction=mu, restitution=0.0)
    box = scene.add_box(HALF, mass=1.0, pos=(X0, 0, HALF[2]), vel=(v0, 0, 0), friction=mu,
                        restitution=0.0)
    return scene.build(contact=contact), box


def loss(traj, box=1):
    """Final x of the box's centre, with its cotangent."""
    return sc.losses.final(box, axis=0)(traj)


def closed_form(v0, mu=MU, T=STEPS * DT):
    """(x(T), dx/dv0, dx/dmu) of a rigid box sliding to rest in continuous time (arrays)."""
    v = np.atleast_1d(np.asarray(v0, dtype=np.float64))
    mu = np.broadcast_to(np.asarray(mu, dtype=np.float64), v.shape)
    ts = v / (mu * G)
    slide = ts > T
    x = np.where(slide, X0 + v * T - mu * G * T * T / 2, X0 + v * v / (2 * mu * G))
    dv = np.where(slide, T, ts)
    dmu = np.where(slide, -G * T * T / 2, -v * v / (2 * mu * mu * G))
    return x, dv, dmu


def onset_speed(mu=MU, T=STEPS * DT):
    return mu * G * T


def speeds(n, mu=MU, T=STEPS * DT):
    """n launch speeds with stop times from 0.3 T to 2 T, denser around the onset (|s| <= 10
    ms). All stop times are shifted by 0.37 of a step: a stop exactly on a step boundary leaves
    the box with a rounding-level speed (3e-12 m/s) on one side of the stick-slip kink, and the
    adjoint then gives that side's slope (the Gradient's min_margin, 5e-13 m/s, flags it)."""
    n_near = 2 * (n // 6)  # even: the exact onset (a kink) is not among them
    ts = np.concatenate([np.linspace(0.3 * T, 2.0 * T, n - n_near),
                         T * (1 + np.linspace(-0.02, 0.02, n_near))]) + 0.37 * DT
    return np.unique(mu * G * ts)


def region_of(v0, mu=MU, T=STEPS * DT):
    s = T - np.asarray(v0) / (mu * G)
    names = np.empty(s.shape, dtype=object)
    for name, a, b in REGIONS:
        names[(s > a) & (s <= b)] = name
    return names


def _final_x(v0, mu, contact):
    model, box = build(v0, mu, contact)
    return loss(sc.rollout(model, model.initial_state(), STEPS, progress=False), box)[0]


def study_one(args):
    """Loss, adjoint gradients in v0 and mu, and central differences at one (setting, v0)."""
    contact, v0 = args
    model, box = build(v0, MU, contact)
    value, grad = sc.value_and_grad(model, model.initial_state(), STEPS,
                                    lambda tr: loss(tr, box), params=("friction",),
                                    progress=False)
    # the contact's friction is sqrt(mu_ground mu_box); both are mu, so dx/dmu is their sum
    dmu = float(grad.params["friction"][0] + grad.params["friction"][box])
    fd_v, fd_mu = [], []
    for h in FD_STEPS:
        fd_v.append((_final_x(v0 + h, MU, contact) - _final_x(v0 - h, MU, contact)) / (2 * h))
        fd_mu.append((_final_x(v0, MU + h, contact) - _final_x(v0, MU - h, contact)) / (2 * h))
    return value, float(grad.vel[box, 0]), dmu, fd_v, fd_mu


def error_rows(V, results, cases):
    regions = region_of(V)
    closed = closed_form(V)
    rows = []
    for label in cases:
        for name, _, _ in REGIONS:
            sel = regions == name
            if not np.any(sel):
                continue
            for gname, akey, ckey, ci in GRADS:
                adj, fd, ref = results[label][akey][sel], results[label][ckey][sel], closed[ci][sel]
                err = np.abs(adj - ref)
                rows.append({
                    "setting": label, "region": name, "gradient": gname,
                    "speeds": int(sel.sum()),
                    "adjoint vs closed form, median": float(np.median(err)),
                    "adjoint vs closed form, max": float(np.max(err)),
                    f"central h={FD_STEPS[0]:g} vs closed form, median":
                        float(np.median(np.abs(fd[:, 0] - ref))),
                    f"central h={FD_STEPS[-1]:g} vs adjoint, max":
                        float(np.max(np.abs(fd[:, -1] - adj)))})
    return rows


def animate_sweep(path, n=5):
    """A GIF of n launches (hard) whose stop times t_s run from 0.6 T to 1.4 T: boxes that stop
    before the horizon, one that stops at it and ones still sliding at the end."""
    T = STEPS * DT
    V = onset_speed() * np.linspace(0.6, 1.4, n)
    runs = [build(v, MU, sc.HardContact()) for v in V]
    return sweep_gif(path, [(m, m.initial_state()) for m, _ in runs], STEPS,
                     [f"v0 = {v:.2f} m/s, t_s = {v / (MU * G):.2f} s" for v in V],
                     f"slide_stick: launches across the stop at T = {T:g} s (hard)")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run slide_stick", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/slide_stick", help="output folder (created)")
    p.add_argument("--speeds", type=int, default=48, help="launch speeds in the sweep")
    p.add_argument("--quick", action="store_true", help="a small sweep (for tests)")
    add_sweep_arguments(p, "rollouts")
    p.add_argument("--animate", action="store_true",
                   help="also write sweep.gif: five launches (hard) whose stops cross the "
                        "horizon")
    args = p.parse_args(argv)
    if args.speeds < 4:
        p.error("--speeds must be at least 4")
    if args.quick:
        args.speeds = min(args.speeds, 12)
    out = out_dir(args.out)
    from viz.plots import plot_lines, plot_panels

    V = speeds(args.speeds)
    cases = settings(args.quick)
    jobs = [(contact, v) for contact in cases.values() for v in V]
    started = time.time()
    flat = parallel_map(study_one, jobs, args, what="launches (adjoint + differences)")
    results = {}
    for c, label in enumerate(cases):
        part = flat[c * len(V):(c + 1) * len(V)]
        results[label] = {"loss": np.array([r[0] for r in part]),
                          "adjoint_v0": np.array([r[1] for r in part]),
                          "adjoint_mu": np.array([r[2] for r in part]),
                          "central_v0": np.array([r[3] for r in part]),
                          "central_mu": np.array([r[4] for r in part])}
    elapsed = time.time() - started

    on = onset_speed()
    xc, gv, gm = closed_form(V)
    T = STEPS * DT
    f1 = plot_lines(V, {k: v["loss"] for k, v in results.items()},
                    os.path.join(out, "loss.png"), "launch speed v0 (m/s)",
                    f"box x at T = {T:g} s (m)",
                    f"Final position across the stop onset (mu = {MU:g})",
                    reference=("rigid (closed form)", V, xc), markers=True, vline=on)
    figs = []
    for gname, akey, ckey, ref, stem, ylim in (
            ("dx/dv0", "adjoint_v0", "central_v0", gv, "grad_v0", (0.0, 0.6)),
            ("dx/dmu", "adjoint_mu", "central_mu", gm, "grad_mu", (-1.5, 0.1))):
        panels = {label: ({"adjoint": results[label][akey],
                           **{f"central h={h:g}": results[label][ckey][:, j]
                              for j, h in enumerate(FD_STEPS)}},
                          ("closed form (rigid)", V, ref)) for label in cases}
        figs.append(plot_panels(V, panels, os.path.join(out, stem + ".png"),
                                "launch speed v0 (m/s)", gname,
                                f"{gname} of the final position; onset at v0 = {on:.4f} m/s",
                                vline=on, ylim=ylim))
        errs = {label: np.maximum(np.abs(results[label][akey] - ref), 1e-16) for label in cases}
        figs.append(plot_lines(V, errs, os.path.join(out, stem + "_error.png"),
                               "launch speed v0 (m/s)", f"|adjoint - closed form| of {gname}",
                               f"Adjoint error of {gname} against the rigid closed form",
                               logy=True, vline=on))
    rows = error_rows(V, results, cases)
    table = write_table(rows, out, "summary")
    np.savez(os.path.join(out, "sweep.npz"), speeds=V, mu=MU, onset=on, fd_steps=FD_STEPS,
             closed_x=xc, closed_dv0=gv, closed_dmu=gm,
             **{f"{k.replace(' ', '_')}_{q}": v[q] for k, v in results.items() for q in v})
    written = {f1: "final position against launch speed, per setting, with the closed form",
               figs[0]: "dx/dv0: adjoint and central differences per setting, with the closed "
                        "form",
               figs[1]: "|adjoint - closed form| of dx/dv0",
               figs[2]: "dx/dmu: adjoint and central differences per setting, with the closed "
                        "form",
               figs[3]: "|adjoint - closed form| of dx/dmu",
               os.path.join(out, "summary.md"): "errors per setting, region and gradient (table)",
               os.path.join(out, "summary.csv"): "the same table as CSV",
               os.path.join(out, "sweep.npz"): "speeds, closed forms, losses, adjoints and "
                                               "differences per setting"}
    if args.animate:
        written[animate_sweep(os.path.join(out, "sweep.gif"))] = \
            "five launches (hard) whose stops cross the horizon"
    print(f"slide_stick: {len(jobs)} launches of {STEPS} steps (adjoint and "
          f"{4 * len(FD_STEPS)} rollouts each) in {elapsed:.1f} s; onset at v0 = {on:.4f} m/s")
    print(table)
    write_index(out, "slide_stick", __doc__, written, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
