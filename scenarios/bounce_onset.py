"""bounce_onset: the gradient of a dropped ball's final height in its drop height, per contact
model, as the drop crosses contact onset (the flagship gradient study).

A ball (radius 0.1 m, 1 kg) is dropped with its bottom H above the ground and rolled out for
T = 0.6 s (600 steps of 1 ms). H is swept from drops that do not reach the ground within T,
through the drop that touches exactly at T (onset, H = g T^2 / 2), to drops that bounce once
and twice. For each contact setting the study records the loss z(T) (the ball centre's
height), its adjoint gradient dz/dH, central differences at several steps, and the closed form
of a rigid ball in continuous time:

    before impact (t* = sqrt(2 H / g) > T)   dz/dH = 1
    after k >= 1 impacts with restitution e  z = r + e^k g t* (T - t_k) - g (T - t_k)^2 / 2,
        t_k = c_k t*, c_k = 1 + 2 (e + ... + e^(k-1)), so dz/dH = (dz/dt*) / (g t*).

The hard and penalty settings are elastic (restitution 1: the time-constant penalty, the
default, takes damping ratio 0 from it; the fixed springs have damping 0) and are compared with
e = 1; the smoothed model has no restitution (the ball lands and stays) and is compared
with e = 0. Errors are tabulated by region of tau = T - t* (time since the rigid ball's first
impact): pre-contact (tau < -5 ms), onset (|tau| <= 5 ms), sustained (5 ms < tau <= 35 ms,
the softest penalty spring's contact lasts 31 ms) and separation (tau > 35 ms).

When MuJoCo is installed, its central differences of the same scene (``Scene.to_mjcf``; its
default soft contact, without restitution: the ball lands and stays) are drawn and tabulated
beside ours (there the "adjoint" columns hold its smallest-step difference), against the e = 0
closed form.

    python -m scenarios run bounce_onset [--out DIR] [--heights N] [--quick] [--workers N]
                                         [--executor threads|processes|dask] [--dask-address A]
                                         [--no-mujoco] [--animate]
"""
import argparse
import os
import sys
import time

import numpy as np

import simcore as sc
from scenarios._common import add_sweep_arguments, out_dir, parallel_map, write_index, write_table

DT, STEPS, RADIUS, G = 1e-3, 600, 0.1, 9.81
FD_STEPS = (1e-2, 1e-4, 1e-6)
REGIONS = (("pre-contact", -np.inf, -5e-3), ("onset", -5e-3, 5e-3),
           ("sustained", 5e-3, 35e-3), ("separation", 35e-3, np.inf))


def settings(quick=False):
    """label -> (contact configuration, restitution of the closed form it is compared with)."""
    out = {"hard TOI": (sc.HardContact(), 1.0), "hard no TOI": (sc.HardContact(toi=False), 1.0)}
    out["penalty tau=5ms"] = (sc.PenaltyContact(), 1.0)  # the default: e = 1 gives zeta = 0
    for k in ((1e4, 1e5) if quick else (1e4, 1e5, 1e6)):
        out[f"penalty k={k:g}"] = (sc.PenaltyContact(stiffness=k, damping=0.0), 1.0)
    for kappa in ((1e-4,) if quick else (1e-3, 1e-5)):
        out[f"smoothed kappa={kappa:g}"] = (sc.SmoothedContact(kappa=kappa), 0.0)
    return out


def scene(height=1.0, restitution=1.0, dt=DT):
    """Ground and a ball (body 1) whose bottom starts ``height`` above it."""
    sce = sc.Scene(dt=dt, gravity=(0, 0, -G))
    sce.add_plane(friction=0.5, restitution=0.0)
    sce.add_sphere(RADIUS, mass=1.0, pos=(0, 0, RADIUS + height), friction=0.5,
                   restitution=restitution)
    return sce


def build(height=1.0, contact=None, restitution=1.0, dt=DT):
    """The scene built with ``contact``. Returns (model, ball)."""
    return scene(height, restitution, dt).build(contact=contact), 1


def mujoco_differences(H):
    """MuJoCo's own central differences of z(T) in H (the same scene through
    ``Scene.to_mjcf``, MuJoCo's default soft contact, which has no restitution), at FD_STEPS;
    None when MuJoCo is not installed. Returns {"loss", "adjoint" (the smallest step's
    difference, standing in for a gradient), "central" (n, len(FD_STEPS))}."""
    try:
        import mujoco
    except ImportError:
        return None
    m = mujoco.MjModel.from_xml_string(scene(1.0).to_mjcf())
    d = mujoco.MjData(m)

    def final_height(h):
        mujoco.mj_resetDataKeyframe(m, d, 0)
        d.qpos[2] = RADIUS + h  # free joint: x, y, z, then the quaternion
        for _ in range(STEPS):
            mujoco.mj_step(m, d)
        return float(d.qpos[2])
    loss = np.array([final_height(h) for h in H])
    central = np.array([[(final_height(h + s) - final_height(h - s)) / (2 * s) for s in FD_STEPS]
                        for h in H])
    return {"loss": loss, "adjoint": central[:, -1].copy(), "central": central}


def loss(traj, ball=1):
    """Final height of the ball's centre, with its cotangent."""
    return sc.losses.final(ball)(traj)


def closed_form(height, e, T=STEPS * DT):
    """(z(T), dz/dH) of a rigid ball in continuous time dropped from ``height`` (arrays)."""
    H = np.atleast_1d(np.asarray(height, dtype=np.float64))
    z, dz = np.empty_like(H), np.empty_like(H)
    for i, h in enumerate(H):
        ts = np.sqrt(2 * h / G)
        if ts >= T:
            z[i], dz[i] = RADIUS + h - G * T * T / 2, 1.0
            continue
        if e == 0.0 or (e < 1.0 and 1.0 + 2.0 * e / (1.0 - e) <= T / ts):
            z[i], dz[i] = RADIUS, 0.0  # landed for good (e < 1: infinitely many bounces first)
            continue
        k, c = 1, 1.0  # impacts so far, t_k = c t*
        while c + 2 * e ** k <= T / ts:
            c += 2 * e ** k
            k += 1
        tau = T - c * ts
        z[i] = RADIUS + e ** k * G * ts * tau - G * tau * tau / 2
        dz_dts = e ** k * G * (tau - c * ts) + G * tau * c
        dz[i] = dz_dts / (G * ts)
    return z, dz


def onset_height(T=STEPS * DT):
    return 0.5 * G * T * T


def heights(n, T=STEPS * DT):
    """n drop heights from two bounces to no impact, denser around onset."""
    on = onset_height(T)
    lo, hi = 0.06 * on, 1.3 * on
    n_near = 2 * (n // 6)  # even: the exact onset (a kink) is not among them
    near = on * (1 + np.linspace(-0.03, 0.03, n_near))
    return np.unique(np.concatenate([np.linspace(lo, hi, n - n_near), near]))


def region_of(height, T=STEPS * DT):
    tau = T - np.sqrt(2 * np.asarray(height) / G)
    names = np.empty(tau.shape, dtype=object)
    for name, a, b in REGIONS:
        names[(tau > a) & (tau <= b)] = name
    return names


def study_one(args):
    """Loss, adjoint and central differences at one (setting, height)."""
    contact, e, height = args
    model, ball = build(height, contact, restitution=e)
    state = model.initial_state()
    value, grad = sc.value_and_grad(model, state, STEPS, lambda tr: loss(tr, ball))
    fds = []
    for h in FD_STEPS:
        vals = []
        for s in (1, -1):
            m2, _ = build(height + s * h, contact, restitution=e)
            vals.append(loss(sc.rollout(m2, m2.initial_state(), STEPS), ball)[0])
        fds.append((vals[0] - vals[1]) / (2 * h))
    return value, grad.pos[ball, 2], fds


def error_rows(H, results, restitution):
    """Error table rows: per setting (``restitution`` maps it to its closed form's e) and
    region."""
    regions = region_of(H)
    rows = []
    for label, e in restitution.items():
        _, closed = closed_form(H, e)
        adj, fd = results[label]["adjoint"], results[label]["central"]
        for name, _, _ in REGIONS:
            sel = regions == name
            if not np.any(sel):
                continue
            err = np.abs(adj[sel] - closed[sel])
            wide = np.abs(fd[sel, 0] - closed[sel])
            tiny = np.abs(fd[sel, -1] - adj[sel])
            rows.append({
                "setting": label, "region": name, "drops": int(sel.sum()),
                "adjoint vs closed form, median": float(np.median(err)),
                "adjoint vs closed form, max": float(np.max(err)),
                "adjoint sign = closed form sign":
                    f"{np.mean(_same_sign(adj[sel], closed[sel])):.0%}",
                f"central h={FD_STEPS[0]:g} vs closed form, median": float(np.median(wide)),
                f"central h={FD_STEPS[-1]:g} vs adjoint, max": float(np.max(tiny))})
    return rows


def _same_sign(a, b, tol=1e-3):
    # both near zero counts as the same sign
    return (np.sign(np.where(np.abs(a) < tol, 0, a)) == np.sign(np.where(np.abs(b) < tol, 0, b)))


def animate_sweep(path, n=6, frames=100):
    """A GIF of n drops (hard TOI) whose heights cross onset: the ball that just reaches the
    ground at T among ones that bounce and ones that do not arrive."""
    from viz.animate import animate_series
    on = onset_height()
    hs = on * np.linspace(0.55, 1.15, n)
    model, ball = build(hs[0], sc.HardContact())
    trajs = []
    for h in hs:
        state = model.initial_state()
        state.pos[ball, 2] = RADIUS + h
        trajs.append(sc.rollout(model, state, STEPS))
    return animate_series(model, trajs, path, labels=[f"H = {h:.2f} m" for h in hs],
                          max_frames=frames, title="bounce_onset: drops across onset (hard TOI)")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run bounce_onset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/bounce_onset", help="output folder (created)")
    p.add_argument("--heights", type=int, default=90, help="drop heights in the sweep")
    p.add_argument("--quick", action="store_true", help="a small sweep (for tests)")
    p.add_argument("--animate", action="store_true",
                   help="also write sweep.gif: six drops across onset (hard TOI)")
    p.add_argument("--no-mujoco", action="store_true",
                   help="leave out MuJoCo's finite differences (drawn when it is installed)")
    add_sweep_arguments(p, "rollouts")
    args = p.parse_args(argv)
    if args.heights < 4:
        p.error("--heights must be at least 4")
    if args.quick:
        args.heights = min(args.heights, 12)
    out = out_dir(args.out)
    from viz.plots import plot_lines, plot_panels

    H = heights(args.heights)
    cases = settings(args.quick)
    jobs = [(contact, e, h) for contact, e in cases.values() for h in H]
    started = time.time()
    flat = parallel_map(study_one, jobs, args, what="drops (adjoint + differences)")
    results = {}
    for c, label in enumerate(cases):
        part = flat[c * len(H):(c + 1) * len(H)]
        results[label] = {"loss": np.array([r[0] for r in part]),
                          "adjoint": np.array([r[1] for r in part]),
                          "central": np.array([r[2] for r in part])}
    elapsed = time.time() - started
    restitution = {label: e for label, (_, e) in cases.items()}
    mj = None if args.no_mujoco else mujoco_differences(H)
    if mj is not None:  # a peer: its own differences; its ball lands and stays (e = 0)
        results["MuJoCo (differences)"] = mj
        restitution["MuJoCo (differences)"] = 0.0

    on = onset_height()
    zc1, gc1 = closed_form(H, 1.0)
    zc0, gc0 = closed_form(H, 0.0)
    f1 = plot_lines(H, {k: v["loss"] for k, v in results.items()},
                    os.path.join(out, "loss.png"), "drop height H (m)",
                    f"ball height at T = {STEPS * DT:g} s (m)",
                    "Loss landscape across contact onset",
                    reference=("rigid, e = 1 (closed form)", H, zc1), markers=True)
    panels = {}
    for label, e in restitution.items():
        series = {"adjoint": results[label]["adjoint"]} if label in cases else {}
        series.update({f"central h={h:g}": results[label]["central"][:, j]
                       for j, h in enumerate(FD_STEPS)})
        panels[label] = (series,
                         (f"closed form, e = {e:g}", H, gc1 if e > 0 else gc0))
    f2 = plot_panels(H, panels, os.path.join(out, "gradients.png"), "drop height H (m)",
                     "dz(T)/dH", f"Gradient of the final height; onset at H = {on:.3f} m",
                     vline=on, ylim=(-8, 8))
    errs = {label: np.maximum(np.abs(results[label]["adjoint"] - (gc1 if e > 0 else gc0)),
                              1e-16) for label, e in restitution.items()}
    f3 = plot_lines(H, errs, os.path.join(out, "gradient_error.png"), "drop height H (m)",
                    "|adjoint - closed form|", "Adjoint error against the rigid closed form",
                    logy=True, vline=on)
    rows = error_rows(H, results, restitution)
    table = write_table(rows, out, "summary")
    np.savez(os.path.join(out, "sweep.npz"), heights=H, onset=on, fd_steps=FD_STEPS,
             closed_e1=gc1, closed_e0=gc0,
             **{f"{k.replace(' ', '_')}_{q}": v[q] for k, v in results.items() for q in v})
    written = [f1, f2, f3, os.path.join(out, "summary.md"), os.path.join(out, "summary.csv"),
               os.path.join(out, "sweep.npz")]
    if args.animate:
        written.append(animate_sweep(os.path.join(out, "sweep.gif")))
    print(f"bounce_onset: {len(jobs)} drops of {STEPS} steps (adjoint and "
          f"{2 * len(FD_STEPS)} rollouts each) in {elapsed:.1f} s; onset at H = {on:.4f} m")
    print(table)
    write_index(out, "bounce_onset", __doc__, written, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
