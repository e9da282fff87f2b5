"""Random scenes for every contact model: what goes wrong, counted.

    python benchmarks/fuzz.py [--scenes N] [--overlap-scenes M] [--models hard,penalty,smoothed]
                              [--quick] [--no-grad] [--workers W] [--out DIR]
                              [--executor threads|processes|dask] [--dask-address A]
    python benchmarks/fuzz.py --replay SEED [--models ...]

Each scene (seeded; seed s >= OVERLAP_SEED is a scene with initial overlaps) is a ground plane
and 1 to 8 spheres, boxes and capsules: half sizes 0.01-0.25 m, masses 0.05-20 kg
(log-uniform), speeds up to 10 m/s and spins up to 20 rad/s in random directions, friction
0-1.5, restitution 0-1, in half the scenes torsional and rolling friction 0-0.02 m, some
stacked on others, dt 1-5 ms, 50-300 steps, default settings of each model. Scenes without overlap place every body's bounding sphere clear of the others and of
the ground; overlap scenes push some bodies into others or into the ground.

Per model it counts, over the scenes: SimulationError by kind (diverged, refused as unstable,
other), raw exceptions by type (anything else escaping, e.g. numpy's LinAlgError), results
returned non-finite with no error, results returned finite but absurd (a body faster than
ABSURD_SPEED at the end) with no error, energy gains above 1% (scenes without overlap; mechanical
energy over the run against the start's, no controls), scenes with a solver failure, and
scenes ending with a penetration deeper than 1 cm (and of them, those whose deepest pair is
still moving: its bodies' relative speed above 0.1 m/s); and the same for
``value_and_grad`` of a random linear loss on the final state (its non-finite gradients too).
Overlap scenes report the largest speed a body gained. The table goes to stdout and
``DIR/fuzz.md``, one row per scene and model to ``DIR/scenes.csv``.
"""
import argparse
import collections
import csv
import os
import platform
import shlex
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import simcore as sc  # noqa: E402
from simcore.kernels import consts  # noqa: E402
from simcore.kernels.collision import collide  # noqa: E402
from scenarios._common import add_sweep_arguments, parallel_map  # noqa: E402

MODELS = {"hard": sc.HardContact, "penalty": sc.PenaltyContact, "smoothed": sc.SmoothedContact}
OVERLAP_SEED = 1_000_000     # seeds from here on are scenes with initial overlap
ABSURD_SPEED = 100.0         # m/s: a body faster than this at the end is absurd
ENERGY_GAIN = 0.01           # a rise of the mechanical energy above this fraction is a gain
DEEP = 0.01                  # m: a penetration deeper than this at the end is counted
MOVING = 0.1                 # m/s: ... and counted as still moving when its pair's relative
                             # speed is above this
QUICK_SCENES, QUICK_OVERLAP = 30, 10


def random_scene(seed):
    """(Scene, steps) of the given seed (overlapping bodies when seed >= OVERLAP_SEED)."""
    rng = np.random.default_rng(seed)
    overlap = seed >= OVERLAP_SEED
    scene = sc.Scene(dt=float(rng.uniform(1e-3, 5e-3)))
    steps = int(rng.integers(50, 301))
    scene.add_plane(friction=float(rng.uniform(0, 1.5)), restitution=float(rng.uniform(0, 1)))
    placed = []  # (centre, bounding radius)
    for _ in range(int(rng.integers(1, 9))):
        shape = rng.choice(["sphere", "box", "capsule"])
        half = np.exp(rng.uniform(np.log(0.01), np.log(0.25), size=3))
        rb = {"sphere": half[0], "box": np.linalg.norm(half),
              "capsule": half[0] + half[1]}[shape]
        pos = _place(rng, placed, rb, overlap)
        placed.append((pos, rb))
        quat = rng.normal(size=4)
        kw = dict(mass=float(np.exp(rng.uniform(np.log(0.05), np.log(20.0)))), pos=pos,
                  quat=quat / np.linalg.norm(quat), vel=_random_vector(rng, 10.0),
                  ang_vel=_random_vector(rng, 20.0), friction=float(rng.uniform(0, 1.5)),
                  restitution=float(rng.uniform(0, 1)))
        if shape == "sphere":
            scene.add_sphere(half[0], **kw)
        elif shape == "box":
            scene.add_box(half, **kw)
        else:
            scene.add_capsule(half[0], half[1], **kw)
    # torsional and rolling friction (0-0.02 m) on every body of half the scenes, from a stream
    # of their own (the scenes are otherwise those drawn without them)
    rr = np.random.default_rng(seed + 13)
    if rr.random() < 0.5:
        for body in scene.bodies:
            body["torsional_friction"], body["rolling_friction"] = rr.uniform(0, 0.02, size=2)
    return scene, steps


def _random_vector(rng, most):
    v = rng.normal(size=3)
    return v / np.linalg.norm(v) * rng.uniform(0, most)


def _place(rng, placed, rb, overlap):
    # a centre for a body of bounding radius rb: with overlap, often inside another body or
    # the ground; else clear of every bounding sphere and the ground, often stacked on another
    if overlap and placed and rng.random() < 0.6:
        c, r = placed[rng.integers(len(placed))]
        d = _random_vector(rng, 1.0)
        return c + d / max(np.linalg.norm(d), 1e-9) * rng.uniform(0.2, 0.9) * (r + rb)
    if overlap and rng.random() < 0.5:
        return np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.1, 0.9) * rb])
    for tries in range(1000):
        if placed and rng.random() < 0.3:  # on top of another, a little apart
            c, r = placed[rng.integers(len(placed))]
            pos = c + np.array([*rng.normal(scale=0.3 * r, size=2),
                                r + rb + rng.uniform(0.001, 0.05)])
        else:
            spread = 1.0 + 0.1 * tries
            pos = np.array([rng.uniform(-spread, spread), rng.uniform(-spread, spread),
                            rb + rng.uniform(0.001, 1.5)])
        if pos[2] > rb and all(np.linalg.norm(pos - c) > r + rb for c, r in placed):
            return pos
    raise RuntimeError("could not place a body")  # (not reached: the region keeps growing)


def mechanical_energy(model, pos, quat, vel, ang_vel):
    """Kinetic plus gravity's potential energy (height from the plane z = 0) of the dynamic
    bodies; arrays (..., n, k)."""
    dyn = model.body_kind == consts.BODY_DYNAMIC
    m, inertia = model.body_mass[dyn], model.body_inertia[dyn]
    q = quat[..., dyn, :]
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    # body-frame angular velocity: R^T w, R from the quaternion (columns: body axes)
    cols = np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], -1),
        np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], -1),
        np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], -1)], -2)
    wb = np.einsum("...ij,...j->...i", cols, ang_vel[..., dyn, :])
    ke = 0.5 * (m * np.sum(vel[..., dyn, :] ** 2, -1) + np.sum(inertia * wb * wb, -1))
    pe = -m * (pos[..., dyn, :] @ model.opt_gravity)
    return np.sum(ke + pe, -1)


def deepest_penetration(model, pos, quat, vel=None):
    """The largest penetration depth (m) between any two bodies at the poses given (0 if none),
    by the engine's own narrow phase; with ``vel`` (nbody, 3), (depth, the speed of that pair's
    bodies relative to each other)."""
    from simcore.kernels.rotation import quat_to_mat
    n = model.nbody
    R = np.empty((n, 3, 3))
    for i in range(n):
        quat_to_mat(np.ascontiguousarray(quat[i]), R[i])
    dist = np.empty(consts.MAXCON_PAIR)
    normal = np.empty((consts.MAXCON_PAIR, 3))
    point = np.empty((consts.MAXCON_PAIR, 3))
    deepest, speed = 0.0, 0.0
    for a in range(n):
        for b in range(n):
            ta, tb = model.geom_type[a], model.geom_type[b]
            if a == b or ta < tb or (ta == tb and a > b):
                continue
            if model.body_kind[a] != consts.BODY_DYNAMIC and \
                    model.body_kind[b] != consts.BODY_DYNAMIC:
                continue
            k = collide(ta, tb, np.ascontiguousarray(pos[a]), R[a], model.geom_size[a],
                        np.ascontiguousarray(pos[b]), R[b], model.geom_size[b], 0.0, 0, dist,
                        normal, point)
            if k and -float(dist[:k].min()) > deepest:
                deepest = -float(dist[:k].min())
                if vel is not None:
                    speed = float(np.linalg.norm(vel[a] - vel[b]))
    return deepest if vel is None else (deepest, speed)


def _classify_error(exc):
    if isinstance(exc, sc.SimulationError):
        msg = str(exc)
        if "unstable" in msg:
            return "refused"
        if "diverged" in msg:
            return "diverged"
        return "SimulationError (other)"
    return "raw " + type(exc).__name__


def run_scene(seed, name, grad=True):
    """One scene with one contact model: a dict of what happened."""
    scene, steps = random_scene(seed)
    with warnings.catch_warnings():  # (the scenes set restitution for every model)
        warnings.filterwarnings("ignore", message="Scene.build: bodies .* have restitution")
        model = scene.build(contact=MODELS[name]())
    state = model.initial_state()
    row = dict(seed=seed, model=name, bodies=model.nbody - 1, steps=steps, dt=model.opt_dt,
               overlap=seed >= OVERLAP_SEED, error="", error_message="", nonfinite=False,
               absurd=False, energy_gain=np.nan, solver_failures=0, deepest=np.nan,
               deepest_speed=np.nan,
               speed_gained=np.nan, grad_error="", grad_nonfinite=False)
    try:
        traj = sc.rollout(model, state, steps, progress=False)
    except Exception as exc:  # noqa: BLE001  (counting what escapes is the point)
        row["error"] = _classify_error(exc)
        row["error_message"] = str(exc).splitlines()[0][:200] if str(exc) else repr(exc)
        if row["error"].startswith("raw"):
            row["error_message"] += " | " + traceback.format_exc(limit=-1).splitlines()[-2]
        return row
    arrays = (traj.pos, traj.quat, traj.vel, traj.ang_vel)
    if not all(np.all(np.isfinite(a)) for a in arrays):
        row["nonfinite"] = True
        return row
    dyn = model.body_kind == consts.BODY_DYNAMIC
    speed = np.linalg.norm(traj.vel[:, dyn], axis=-1)
    row["absurd"] = bool(speed[-1].max() > ABSURD_SPEED)
    row["speed_gained"] = float(np.max(speed.max(axis=0) - speed[0]))
    e = mechanical_energy(model, *arrays)
    row["energy_gain"] = float((e.max() - e[0]) / max(abs(e[0]), 1e-12))
    row["solver_failures"] = int(traj.solver_failures.sum())
    row["deepest"], row["deepest_speed"] = deepest_penetration(model, traj.pos[-1],
                                                               traj.quat[-1], traj.vel[-1])
    if grad:
        rng = np.random.default_rng(seed + 17)
        wp, wv = rng.normal(size=traj.pos.shape[1:]), rng.normal(size=traj.vel.shape[1:])

        def loss(tr):
            cp, cv = np.zeros_like(tr.pos), np.zeros_like(tr.vel)
            cp[-1], cv[-1] = wp, wv
            return float(np.sum(wp * tr.pos[-1]) + np.sum(wv * tr.vel[-1])), \
                {"pos": cp, "vel": cv}
        try:
            _, g = sc.value_and_grad(model, state, steps, loss,
                                     params=("mass", "friction", "torsional_friction",
                                             "rolling_friction"), progress=False)
            row["grad_nonfinite"] = not all(np.all(np.isfinite(a)) for a in (
                g.pos, g.quat, g.vel, g.ang_vel, g.controls, *g.params.values()))
        except Exception as exc:  # noqa: BLE001
            row["grad_error"] = _classify_error(exc) if not isinstance(
                exc, FloatingPointError) else "FloatingPointError"
            if row["grad_error"].startswith("raw"):
                row["error_message"] = (str(exc).splitlines()[0][:200] + " | "
                                        + traceback.format_exc(limit=-1).splitlines()[-2])
    return row


def summarise(rows, name, overlap):
    """One table row (a dict) for a model over its scenes with or without overlap."""
    rows = [r for r in rows if r["model"] == name and r["overlap"] == overlap]
    ran = [r for r in rows if not r["error"] and not r["nonfinite"]]
    errors = collections.Counter(r["error"] for r in rows if r["error"])
    grad_errors = collections.Counter(r["grad_error"] for r in rows if r["grad_error"])
    raw = collections.Counter({k: v for k, v in errors.items() if k.startswith("raw")})
    raw.update({k: v for k, v in grad_errors.items() if k.startswith("raw")})
    out = {
        "model": name + (" (overlap)" if overlap else ""),
        "scenes": len(rows),
        "diverged": errors.get("diverged", 0),
        "refused": errors.get("refused", 0),
        "raw exceptions": sum(raw.values()),
        "non-finite, no error": sum(r["nonfinite"] for r in rows),
        "absurd, no error": sum(r["absurd"] for r in ran),
        f"energy gain > {ENERGY_GAIN:.0%}": (f"{sum(r['energy_gain'] > ENERGY_GAIN for r in ran)}"
                                             f" of {len(ran)}") if not overlap else "",
        "solver failures": sum(r["solver_failures"] > 0 for r in ran),
        f"deeper than {DEEP * 100:g} cm": sum(r["deepest"] > DEEP for r in ran),
        "of them moving": sum(r["deepest"] > DEEP and r["deepest_speed"] > MOVING
                              for r in ran),
        "grad errors": sum(v for k, v in grad_errors.items() if not k.startswith("raw")),
        "grad non-finite": sum(r["grad_nonfinite"] for r in rows),
        "largest speed gained (m/s)": (f"{max((r['speed_gained'] for r in ran), default=0):.3g}"
                                       if overlap else ""),
    }
    other = {k: v for k, v in errors.items() if k not in ("diverged", "refused")}
    other.update({"grad " + k: v for k, v in grad_errors.items()})
    out["other"] = ", ".join(f"{k}: {v}" for k, v in sorted(other.items())) or "none"
    return out


def markdown(table):
    keys = list(table[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in table]
    return "\n".join(lines) + "\n"


def run_job(job):
    """One ``(seed, model, grad)`` of the sweep, its solver warnings silenced (the rows count
    them): module level, so that processes and Dask workers can run it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return run_scene(*job)


def run(seeds, models, grad=True, args=None):
    """Every (seed, model) on the executor of ``args`` (``add_sweep_arguments``; threads when
    None), with a progress bar on stderr; the rows in seed order."""
    jobs = [(s, m, grad) for m in models for s in seeds]
    args = args or argparse.Namespace(executor=None, workers=None, dask_address=None)
    # (run_job silences the warnings where it runs; on threads their catch_warnings race on the
    # one filter list, which this restores at the end)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return parallel_map(run_job, jobs, args, what="scenes")


def replay(seed, models, grad=True):
    scene, steps = random_scene(seed)
    print(f"seed {seed}: {len(scene.bodies) - 1} bodies, dt = {scene.dt:.4g} s, {steps} steps"
          + (" (initial overlap)" if seed >= OVERLAP_SEED else ""))
    for i, b in enumerate(scene.bodies):
        kind = {consts.GEOM_PLANE: "plane", consts.GEOM_SPHERE: "sphere",
                consts.GEOM_BOX: "box", consts.GEOM_CAPSULE: "capsule"}[b["type"]]
        print(f"  body {i}: {kind} size {np.round(b['size'], 4).tolist()} mass {b['mass']:.4g}"
              f" pos {np.round(b['pos'], 3).tolist()} vel {np.round(b['vel'], 2).tolist()}"
              f" ang_vel {np.round(b['ang_vel'], 2).tolist()} friction {b['friction']:.3g}"
              f" restitution {b['restitution']:.3g}")
    for name in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            row = run_scene(seed, name, grad)
        print(f"{name}: " + ", ".join(f"{k} = {v}" for k, v in row.items()
                                       if k not in ("seed", "model", "bodies", "steps", "dt")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=1000, help="scenes without overlap")
    parser.add_argument("--overlap-scenes", type=int, default=200)
    parser.add_argument("--models", default="hard,penalty,smoothed")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_SCENES} + {QUICK_OVERLAP} scenes per model")
    parser.add_argument("--no-grad", action="store_true", help="rollouts only")
    add_sweep_arguments(parser, "scenes")
    parser.add_argument("--out", default="out/fuzz")
    parser.add_argument("--replay", type=int, default=None, metavar="SEED")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
    if args.replay is not None:
        replay(args.replay, models, not args.no_grad)
        return 0
    n, k = (QUICK_SCENES, QUICK_OVERLAP) if args.quick else (args.scenes, args.overlap_scenes)
    if n < 0 or k < 0:
        parser.error("--scenes and --overlap-scenes must be non-negative")
    seeds = list(range(n)) + list(range(OVERLAP_SEED, OVERLAP_SEED + k))
    print(f"# fuzz: {n} scenes without overlap and {k} with, per model; "
          f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print(f"# command: python benchmarks/fuzz.py {shlex.join(argv or sys.argv[1:])}")
    started = time.time()
    rows = run(seeds, models, not args.no_grad, args)
    table = [summarise(rows, m, ov) for ov in (False, True) for m in models
             if any(r["model"] == m and r["overlap"] == ov for r in rows)]
    text = markdown(table)
    print(text)
    print(f"# {len(rows)} runs in {time.time() - started:.0f} s")
    bad = [r for r in rows if r["error"].startswith("raw") or r["nonfinite"] or r["absurd"]
           or r["grad_error"].startswith("raw") or r["grad_nonfinite"]]
    for r in bad[:20]:
        print(f"# replay: python benchmarks/fuzz.py --replay {r['seed']} --models {r['model']}"
              f"  ({r['error'] or r['grad_error'] or 'non-finite or absurd result'})")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "fuzz.md"), "w") as f:
        f.write(f"# fuzz\n\ncommand: `python benchmarks/fuzz.py "
                f"{shlex.join(argv or sys.argv[1:])}`\n\n" + text)
    with open(os.path.join(args.out, "scenes.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"# wrote {args.out}/fuzz.md and {args.out}/scenes.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
