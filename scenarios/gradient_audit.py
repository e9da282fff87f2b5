"""gradient_audit: the adjoint against central differences on seeded random scenes, every model.

Each scene (seeded) is a ground plane and 1 to 4 spheres, boxes and capsules (half sizes 0.03 to
0.15 m, 0.2 to 3 kg) dropped, thrown and spun onto the ground and onto each other, some
stacked: speeds up to 2 m/s, spins up to 5 rad/s, friction 0.1 to 1, restitution 0 to 0.8, in
half the scenes torsional and rolling friction 0 to 0.02 m, dt = 2 ms, 60 to 150 steps; every
other scene has random per-step forces and torques. The loss
is a random linear function of the final positions and velocities. For each contact model
(hard with and without time of impact, penalty, smoothed) the adjoint of every initial position,
velocity and angular velocity, every mass, friction, restitution, torsional and rolling
friction, the model's scalars and a
sample of six control entries is compared with central differences at steps 1e-3 to 1e-7
(relative to the value for masses and the model's scalars), each stencil's rollouts read for
their contact mode switches (``Trajectory.mode_switches``):

- *match*: a stencil that keeps every mode switch of the centre agrees with the adjoint
  (relative error below 1e-5, against the larger of the two and 1e-6 of the scene's largest
  derivative, once the resolution 1e-14 |loss| / h of the widest such stencil is allowed), or
  Richardson's extrapolation of two such stencils does;
- *mismatch*: two mode-keeping stencils agree with each other to 1e-6 (the difference
  converged, beyond their resolution) and neither agrees with the adjoint: a wrong gradient;
- *not converged*: mode-keeping stencils that agree neither with each other nor the adjoint
  (a rollout passing within a hair of a mode switch, or a solve that did not converge, which the
  table counts per scene; the adjoint is not judged);
- *switch in every stencil*: the point sits on a mode switch (a kink or a jump); the one-sided
  differences at the smallest step are recorded, and the adjoint should follow the kink
  convention (``kink="mean"``: their mean);
- *non-finite*: a NaN or infinite adjoint;
- *at a bound*: a restitution of 0 or 1 (a one-sided input; not judged).

It writes a table per model (``summary.md``), every entry (``entries.csv``), a figure of the
error against the rollout's smallest margin to a mode switch (``error_vs_margin.png``), and the
seeds of every mismatch with the command that replays one.

    python -m scenarios run gradient_audit [--scenes N] [--models hard,hard-notoi,penalty,smoothed]
                                           [--quick] [--workers W] [--out DIR]
                                           [--executor threads|processes|dask] [--dask-address A]
    python -m scenarios run gradient_audit --replay SEED --models hard
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

import simcore as sc
from scenarios._common import add_sweep_arguments, out_dir, parallel_map, write_index, write_table
from simcore.kernels import consts
from simcore.params import PARAMS, applies

MODELS = {"hard": lambda: sc.HardContact(), "hard-notoi": lambda: sc.HardContact(toi=False),
          "penalty": lambda: sc.PenaltyContact(), "smoothed": lambda: sc.SmoothedContact()}
FD_STEPS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
RTOL, CONVERGED = 1e-5, 1e-6
# the loss's relative noise (its contact solves stop at relative residuals about 1e-14): a
# central difference at step h cannot resolve NOISE |loss| / h; both tests allow it at the
# widest step that keeps the modes (1e-11 for a loss of 1 at h = 1e-3)
NOISE = 1e-14
CLASSES = ("match", "mismatch", "not converged", "switch in every stencil", "non-finite",
           "at a bound")
DT = 2e-3
RELATIVE = ("mass", "stiffness", "damping", "kappa", "time_constant", "damping_ratio")  # (relative)


def random_scene(seed):
    """(Scene, steps, controls or None) of the given seed."""
    rng = np.random.default_rng(seed)
    scene = sc.Scene(dt=DT)
    scene.add_plane(friction=float(rng.uniform(0.1, 1.0)),
                    restitution=float(rng.uniform(0, 0.8)) if rng.random() < 0.7 else 0.0)
    placed = []
    for _ in range(int(rng.integers(1, 5))):
        shape = rng.choice(["sphere", "box", "capsule"])
        half = rng.uniform(0.03, 0.15, size=3)
        rb = {"sphere": half[0], "box": np.linalg.norm(half), "capsule": half[0] + half[1]}[shape]
        while True:
            if placed and rng.random() < 0.4:  # on top of another, a little apart
                c, r = placed[rng.integers(len(placed))]
                pos = c + np.array([*rng.normal(scale=0.3 * r, size=2),
                                    r + rb + rng.uniform(0.002, 0.1)])
            else:
                pos = np.array([*rng.uniform(-0.4, 0.4, size=2), rb + rng.uniform(0.002, 0.4)])
            if all(np.linalg.norm(pos - c) > r + rb for c, r in placed):
                break
        placed.append((pos, rb))
        q = rng.normal(size=4)
        kw = dict(mass=float(rng.uniform(0.2, 3.0)), pos=pos, quat=q / np.linalg.norm(q),
                  vel=rng.uniform(-2, 2, size=3), ang_vel=rng.uniform(-5, 5, size=3),
                  friction=float(rng.uniform(0.1, 1.0)),
                  restitution=float(rng.uniform(0, 0.8)) if rng.random() < 0.7 else 0.0)
        if shape == "sphere":
            scene.add_sphere(half[0], **kw)
        elif shape == "box":
            scene.add_box(half, **kw)
        else:
            scene.add_capsule(half[0], half[1], **kw)
    # torsional and rolling friction on every body of half the scenes, from a stream of their
    # own (the scenes are otherwise those drawn without them)
    rr = np.random.default_rng(seed + 13)
    if rr.random() < 0.5:
        for body in scene.bodies:
            body["torsional_friction"], body["rolling_friction"] = rr.uniform(0, 0.02, size=2)
    steps = int(rng.integers(60, 151))
    controls = None
    if seed % 2:  # smooth random forces and torques, up to a third of the weight
        n = len(scene.bodies)
        t = np.arange(steps)[:, None, None] * DT
        amp = rng.uniform(-1, 1, size=(1, n, 6)) * 3.0
        controls = amp * np.sin(2 * np.pi * rng.uniform(0.5, 3, size=(1, n, 6)) * t
                                + rng.uniform(0, 2 * np.pi, size=(1, n, 6)))
        controls[:, 0] = 0.0  # (the plane)
    return scene, steps, controls


def _loss(model, steps, seed):
    rng = np.random.default_rng(seed + 7)
    wp, wv = rng.normal(size=(model.nbody, 3)), rng.normal(size=(model.nbody, 3))

    def loss(traj):
        cp, cv = np.zeros_like(traj.pos), np.zeros_like(traj.vel)
        cp[-1], cv[-1] = wp, wv
        return float(np.sum(wp * traj.pos[-1]) + np.sum(wv * traj.vel[-1])), \
            {"pos": cp, "vel": cv}
    return loss


def problems(name, seed):
    """The scene's (model, steps, loss) and its two Problems: the dynamic bodies' state, mass,
    controls and the model's scalars; every body's friction, restitution, torsional and rolling
    friction."""
    scene, steps, controls = random_scene(seed)
    model = scene.build(contact=MODELS[name]())
    state = model.initial_state()
    loss = _loss(model, steps, seed)
    dyn = np.flatnonzero(model.body_kind == consts.BODY_DYNAMIC)
    scalars = tuple(p for p in PARAMS if PARAMS[p].contact == model.opt_contact
                    and applies(p, model))
    first = sc.Problem(model, state, steps, loss, ("pos", "vel", "ang_vel", "mass", "controls")
                       + scalars, controls=controls, bodies=dyn)
    second = sc.Problem(model, state, steps, loss, ("friction", "restitution",
                                                    "torsional_friction", "rolling_friction"),
                        controls=controls, bodies=np.arange(model.nbody))
    return model, steps, loss, (first, second)


def _labels(prob):
    out = []
    for name, v in prob._pieces(prob.model, prob.state, prob.controls):
        if name == "controls":
            for t, i, j in np.ndindex(*v.shape):
                out.append(f"controls[{t}, body {prob.bodies[i]}, {j}]")
        elif v.ndim == 2:
            out += [f"{name}[body {prob.bodies[i]}, {j}]" for i, j in np.ndindex(*v.shape)]
        elif v.size == 1 and not PARAMS[name].per_body:
            out.append(name)
        else:
            out += [f"{name}[body {prob.bodies[i]}]" for i in range(v.size)]
    return out


def classify(run, f0, key0, g, scale, lo=None, hi=None):
    """(class, central differences per FD_STEPS, relative error, forward, backward) of one
    entry: ``run(h)`` gives (loss, mode-switch key) at x + h; f0, key0 at x; g the adjoint;
    scale the scene's largest derivative."""
    if not np.isfinite(g):
        return CLASSES[4], [], np.nan, np.nan, np.nan
    if (lo is not None and lo >= 0.0) or (hi is not None and hi <= 0.0):
        return CLASSES[5], [], np.nan, np.nan, np.nan
    central, keep = [], []
    for h in FD_STEPS:
        fp = fm = np.nan
        if (lo is not None and -h < lo) or (hi is not None and h > hi):
            central.append(np.nan)
            keep.append(False)
            continue
        (fp, kp), (fm, km) = run(h), run(-h)
        central.append((fp - fm) / (2 * h))
        keep.append(kp == key0 == km)
    central = np.array(central)
    floor = max(CONVERGED * scale, 1e-12)
    if not any(keep):  # one-sided differences at the smallest step (fp, fm: its rollouts)
        return CLASSES[3], central, np.nan, (fp - f0) / h, (f0 - fm) / h
    # what the widest mode-keeping stencil cannot resolve: the loss's noise over its step
    slack = NOISE * max(abs(f0), 1.0) / max(h for h, k in zip(FD_STEPS, keep) if k)
    kept = central[keep]
    cands = list(kept) + [(100 * b - a) / 99 for a, b, ka, kb in
                          zip(central[:-1], central[1:], keep[:-1], keep[1:]) if ka and kb]
    err = min(max(abs(c - g) - slack, 0.0) / max(abs(c), abs(g), floor) for c in cands)
    if err < RTOL:
        return CLASSES[0], central, err, np.nan, np.nan
    converged = any(ka and kb and abs(a - b) <= CONVERGED * max(abs(a), abs(b), floor) + slack
                    for a, b, ka, kb in zip(central[:-1], central[1:], keep[:-1], keep[1:]))
    return CLASSES[1] if converged else CLASSES[2], central, err, np.nan, np.nan


def audit_scene(job):
    """Every entry of one scene under one model: a list of row dicts (or one error row)."""
    name, seed, n_controls = job
    base = dict(model=name, seed=seed)
    # (a solve that does not converge is counted per scene, not warned about per rollout; every
    # model gets the same scenes, restitution and all; set here, where each process or Dask
    # worker that runs scenes passes)
    warnings.filterwarnings("ignore", message="the contact solver did not converge")
    warnings.filterwarnings("ignore", message=r"Scene\.build: bodies .* have restitution")
    try:
        model, steps, loss, probs = problems(name, seed)
        rows = []
        rng = np.random.default_rng(seed + 11)
        for prob in probs:
            f0, flat, grad = prob.evaluate(prob.x0)
            key0 = tuple(map(tuple, grad.mode_switches.tolist()))
            labels = _labels(prob)
            ctrl = [i for i, lab in enumerate(labels) if lab.startswith("controls")]
            pick = [i for i, lab in enumerate(labels) if not lab.startswith("controls")]
            if ctrl:
                pick += sorted(rng.choice(ctrl, size=min(n_controls, len(ctrl)), replace=False))
            scale = float(np.max(np.abs(flat[np.isfinite(flat)]), initial=0.0))
            for i in pick:
                # steps relative to the value for masses and the model's scalars (kappa = 1e-4,
                # time_constant = 5e-3), absolute for the rest
                u = np.zeros(prob.x0.size)
                u[i] = abs(prob.x0[i]) if labels[i].split("[")[0] in RELATIVE else 1.0

                def run(h, u=u):
                    m, s, c = prob.unpack(prob.x0 + h * u)
                    tr = sc.rollout(m, s, steps, c, progress=False)
                    return float(loss(tr)[0]), tuple(map(tuple, tr.mode_switches().tolist()))
                lo, hi = prob.bounds[i]
                cls, central, err, fwd, bwd = classify(
                    run, f0, key0, flat[i] * u[i], scale * u[i],
                    None if lo is None else (lo - prob.x0[i]) / u[i],
                    None if hi is None else (hi - prob.x0[i]) / u[i])
                close = float(central[np.nanargmin(np.abs(central - flat[i] * u[i]))]) / u[i] \
                    if np.any(np.isfinite(central)) else np.nan
                rows.append(dict(base, entry=labels[i], cls=cls, adjoint=float(flat[i]),
                                 central=close, rel_error=err, forward=fwd / u[i],
                                 backward=bwd / u[i], min_margin=float(grad.min_margin),
                                 solver_failures=int(grad.solver_failures.size), error=""))
        return rows
    except sc.SimulationError as exc:
        return [dict(base, entry="", cls="", adjoint=np.nan, central=np.nan, rel_error=np.nan,
                     forward=np.nan, backward=np.nan, min_margin=np.nan, solver_failures=0,
                     error=str(exc).splitlines()[0][:120])]


def summarise(rows, models):
    table = []
    for name in models:
        mine = [r for r in rows if r["model"] == name]
        entries = [r for r in mine if not r["error"]]
        scenes = {r["seed"] for r in mine}
        count = {c: sum(r["cls"] == c for r in entries) for c in CLASSES}
        kinks = [r for r in entries if r["cls"] == CLASSES[3] and np.isfinite(r["forward"])]
        at_mean = sum(abs(r["adjoint"] - 0.5 * (r["forward"] + r["backward"]))
                      <= 1e-3 * max(abs(r["forward"]), abs(r["backward"]), 1e-9) for r in kinks)
        errs = [r["rel_error"] for r in entries if r["cls"] == CLASSES[0]]
        table.append({"model": name, "scenes": len(scenes),
                      "raised SimulationError": len({r["seed"] for r in mine if r["error"]}),
                      "with a failed solve": len({r["seed"] for r in entries
                                                  if r["solver_failures"]}),
                      "entries": len(entries), **count,
                      "kinks: adjoint at the one-sided mean": f"{at_mean} of {len(kinks)}",
                      "worst matching error": max(errs) if errs else np.nan})
    return table


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run gradient_audit",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/gradient_audit")
    p.add_argument("--scenes", type=int, default=200, help="scenes per model")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--controls", type=int, default=6, help="control entries checked per scene")
    p.add_argument("--quick", action="store_true", help="a few scenes (for tests)")
    p.add_argument("--replay", type=int, default=None, metavar="SEED",
                   help="audit one scene and print every entry")
    add_sweep_arguments(p, "scenes")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            p.error(f"unknown model {m!r}; known: {', '.join(MODELS)}")
    if args.scenes < 1:
        p.error("--scenes must be at least 1")
    if args.replay is not None:
        for name in models:
            print(f"{name}, seed {args.replay}:")
            for r in audit_scene((name, args.replay, args.controls)):
                print(f"  {r['entry']:<28} {r['cls']:<24} adjoint {r['adjoint']: .9g}  central "
                      f"{r['central']: .9g}  rel. error {r['rel_error']:.2e}  smallest margin "
                      f"{r['min_margin']:.2e} m/s {r['error']}")
        return 0
    scenes = 4 if args.quick else args.scenes
    out = out_dir(args.out)
    jobs = [(name, seed, args.controls) for name in models for seed in range(scenes)]
    started = time.time()
    rows = [r for part in parallel_map(audit_scene, jobs, args, what="scenes")
            for r in part]
    elapsed = time.time() - started
    table = write_table(summarise(rows, models), out, "summary")
    write_table(rows, out, "entries")
    os.remove(os.path.join(out, "entries.md"))  # (one row per entry: the CSV is the record)
    from viz.plots import plot_scatter
    fig = plot_scatter(
        {name: ([r["min_margin"] for r in rows if r["model"] == name and r["cls"] == CLASSES[0]],
                [max(r["rel_error"], 1e-17) for r in rows
                 if r["model"] == name and r["cls"] == CLASSES[0]]) for name in models},
        os.path.join(out, "error_vs_margin.png"), "smallest margin to a mode switch (m/s)",
        "relative error (matching entries)", "Adjoint against central differences",
        loglog=True)
    bad = sorted({(r["model"], r["seed"]) for r in rows if r["cls"] == CLASSES[1]})
    lines = [f"- {m} seed {s}: `python -m scenarios run gradient_audit --replay {s} "
             f"--models {m}`" for m, s in bad]
    with open(os.path.join(out, "mismatches.md"), "w") as f:
        f.write("# Mismatches\n\n" + ("\n".join(lines) if lines else "none") + "\n")
    written = {os.path.join(out, "summary.md"): "entries by class, per model (table)",
               os.path.join(out, "summary.csv"): "the same table as CSV",
               os.path.join(out, "entries.csv"): "every entry: class, adjoint, closest central "
                                                 "difference, relative error, one-sided "
                                                 "differences at a switch, smallest margin",
               fig: "relative error of matching entries against the rollout's smallest margin",
               os.path.join(out, "mismatches.md"): "the scenes with a mismatch, with the "
                                                   "command that replays each"}
    print(f"gradient_audit: {scenes} scenes per model, {len(rows)} entries in {elapsed:.0f} s")
    print(table)
    write_index(out, "gradient_audit", __doc__, written, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
