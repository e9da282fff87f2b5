"""Throughput of simcore rollouts on falling piles, cold / warm start, and MuJoCo on the same piles.

    python benchmarks/throughput.py [--steps N] [--quick] [--no-mujoco] [--repeats R]
                                    [--time-cap S] [--contact {penalty,hard,smoothed}]
                                    [--no-startup] [--layout {lattice,columns}]

Prints the machine, library versions and command line, then one table. Every figure is measured
in the run that prints it. Each run starts from the scene's initial state (bodies in a lattice
just above the ground, or in touching columns: pile() and columns()), so it covers the fall and
the settling of the pile, and reports the contact solves' residuals and failures. Both engines
run single-threaded.

How a figure is timed: after a short warm-up call, a first run advances in chunks of CHUNK
steps and stops once it has taken ``--time-cap`` seconds (a slow contact model then reports
the steps it managed, and its ratio to MuJoCo is taken over the same first steps). A run that
finishes quickly is then repeated ``--repeats`` times as one uninterrupted call, and the best
of those is reported.
"""
import argparse
import dataclasses
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import simcore as sc  # noqa: E402  (after the path fix, so the repo's simcore is used)
from simcore.kernels import consts  # noqa: E402

RADIUS = 0.05        # sphere radius and box half extent (m)
GAP = 0.01           # gap between neighbours in the lattice and above the ground (m)
# (layout, kind, n): the lattice piles (pile()) and the columns of the solver-speed issue
# (columns()), which put bodies in contact with their neighbours from the start
SCENES = [("lattice", "sphere", 1), ("lattice", "sphere", 64), ("lattice", "sphere", 512),
          ("lattice", "box", 64),
          ("columns", "sphere", 1), ("columns", "sphere", 64), ("columns", "sphere", 512),
          ("columns", "box", 1), ("columns", "box", 64), ("columns", "box", 512)]
LAYOUTS = ("lattice", "columns")
STARTUP_SCENE = ("sphere", 64)
COLUMN_PITCH = 0.1   # columns(): neighbours' centres (m): spheres and cubes touch sideways
LAYER_PITCH = 0.12   # columns(): layers' centres (m)
COLUMN_MASS = 0.1    # columns(): each body's mass (kg)
DEFAULT_STEPS = 1000
QUICK_STEPS = 50
# a body faster than this (m/s) means the run diverged: the top of the 512 pile falls < 1 m
SPEED_LIMIT = 20.0
# substeps for a penalty run retried after diverging
FALLBACK_SUBSTEPS = 4
# time the mj_step loop too only when mujoco.rollout takes less than this per step (s)
LOOP_WORTH_S = 1e-3
# a first (chunked) run longer than this is not repeated
REPEAT_BUDGET_S = 4.0
# steps per chunk of the first run, and its default time cap (s)
CHUNK = 20
DEFAULT_TIME_CAP_S = 10.0


def pile(kind, n):
    """A Scene with n unit-mass spheres (radius 0.05) or boxes (half extents 0.05) in a lattice of
    layers a small gap above the ground plane z = 0; they fall and settle into a pile.

    Layers of side ceil(n^(1/3)), every other layer shifted by half a cell and every body nudged
    sideways by a seeded random amount below GAP / 2, so the columns do not stand exactly on
    top of each other (no body overlaps another at the start).
    """
    if kind not in ("sphere", "box"):
        raise ValueError(f"kind must be 'sphere' or 'box', got {kind!r}")
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(normal=(0.0, 0.0, 1.0), offset=0.0)
    side = int(np.ceil(n ** (1.0 / 3.0) - 1e-9))
    cell = 2.0 * RADIUS + GAP
    rng = np.random.default_rng(0)
    for i in range(n):
        layer, rest = divmod(i, side * side)
        row, col = divmod(rest, side)
        shift = 0.5 * cell * (layer % 2)
        jitter = rng.uniform(-0.4 * GAP, 0.4 * GAP, size=2)
        pos = ((col - 0.5 * (side - 1)) * cell + shift + jitter[0],
               (row - 0.5 * (side - 1)) * cell + shift + jitter[1],
               RADIUS + GAP + layer * cell)
        if kind == "sphere":
            scene.add_sphere(RADIUS, mass=1.0, pos=pos)
        else:
            scene.add_box((RADIUS, RADIUS, RADIUS), mass=1.0, pos=pos)
    return scene


def columns(kind, n, gap=0.0):
    """A Scene with n spheres (radius 0.05) or cubes (half extent 0.05) of 0.1 kg in 8 x 8
    columns COLUMN_PITCH + gap apart, layers LAYER_PITCH apart, the first layer's centres at
    z = 0.2 (n = 1: one body there); friction 1 on the bodies and the ground, restitution 0. The
    bodies of a layer touch their neighbours (the cubes face to face; gap > 0: that far apart)
    and land on the ground together."""
    if kind not in ("sphere", "box"):
        raise ValueError(f"kind must be 'sphere' or 'box', got {kind!r}")
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(normal=(0.0, 0.0, 1.0), offset=0.0, friction=1.0)
    for i in range(n):
        layer, rest = divmod(i, 64)
        row, col = divmod(rest, 8)
        pitch = COLUMN_PITCH + gap
        pos = ((col - 3.5) * pitch, (row - 3.5) * pitch, 0.2 + layer * LAYER_PITCH)
        if n == 1:
            pos = (0.0, 0.0, 0.2)
        if kind == "sphere":
            scene.add_sphere(RADIUS, mass=COLUMN_MASS, pos=pos, friction=1.0)
        else:
            scene.add_box((RADIUS, RADIUS, RADIUS), mass=COLUMN_MASS, pos=pos, friction=1.0)
    return scene


def build_scene(layout, kind, n, gap=0.0):
    return pile(kind, n) if layout == "lattice" else columns(kind, n, gap)


def scene_name(layout, kind, n, gap=0.0):
    noun = kind + ("es" if kind == "box" else "s") if n > 1 else kind
    apart = f" {1e3 * gap:g} mm apart" if layout == "columns" and gap > 0.0 and n > 1 else ""
    return f"{'pile' if layout == 'lattice' else 'columns'} of {n} {noun}{apart}"


def n_dynamic(scene):
    return sum(b["kind"] == consts.BODY_DYNAMIC for b in scene.bodies)


def best_time(run, repeats):
    """Best wall time of ``run()`` over ``repeats`` calls, and the last call's result."""
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, out


def measure(advance, full_run, steps, repeats, cap):
    """Time a run: ``advance(k)`` continues the run by k steps, ``full_run()`` does all steps in
    one call from the start.

    Returns dict(steps=steps done, time=s for them, cum=[(steps, s)] at chunk ends, capped).
    """
    cum, done, t = [(0, 0.0)], 0, 0.0
    while done < steps:
        k = min(CHUNK, steps - done)
        t0 = time.perf_counter()
        advance(k)
        t += time.perf_counter() - t0
        done += k
        cum.append((done, t))
        if t > cap and done < steps:
            break
    out = dict(steps=done, time=t, cum=cum, capped=done < steps)
    if not out["capped"] and t < REPEAT_BUDGET_S:
        out["time"] = min(t, best_time(full_run, repeats)[0])
    return out


def time_at(cum, k):
    """Seconds a chunked run took for its first k steps (k a chunk end)."""
    return dict(cum)[k]


# ---------------------------------------------------------------- simcore


def contact_label(contact):
    """``PenaltyContact()``, or with the fields that differ from the defaults."""
    default = type(contact)()
    changed = [f"{f.name}={getattr(contact, f.name)!r}" for f in dataclasses.fields(contact)
               if getattr(contact, f.name) != getattr(default, f.name)]
    return f"{type(contact).__name__}({', '.join(changed)})"


def stable_fallback(contact):
    """A configuration to retry a diverged run with: penalty with more substeps, else None."""
    if isinstance(contact, sc.PenaltyContact) and contact.substeps < FALLBACK_SUBSTEPS:
        return dataclasses.replace(contact, substeps=FALLBACK_SUBSTEPS)
    return None


CONTACT_NAMES = {"penalty": sc.PenaltyContact, "hard": sc.HardContact,
                 "smoothed": sc.SmoothedContact}


def contact_configs(names=None):
    """The contact models (all by default) with their default settings, in the contract's
    order."""
    return [cls() for name, cls in CONTACT_NAMES.items() if not names or name in names]


def bench_simcore(scene, contact, steps, repeats, cap):
    """measure() dict plus ncon_end, vmax_end, vmax (over the run), the contact solves'
    residuals (the largest relative residual of each step: median and max over the run's
    steps) and failures (solves not converged, summed), and warning; or dict(skip=reason)."""
    model = scene.build(contact=contact)
    dyn = model.body_kind == consts.BODY_DYNAMIC
    state0 = model.initial_state()
    run = dict(state=state0, vmax=0.0, ncon_end=0, vmax_end=0.0, residuals=[], failures=0)

    def advance(k):
        traj = sc.rollout(model, run["state"], k, progress=False)
        speed = np.linalg.norm(traj.vel[:, dyn], axis=2)
        run.update(state=traj.state(k), vmax=max(run["vmax"], float(speed.max())),
                   ncon_end=int(traj.ncon[-1]), vmax_end=float(speed[-1].max()),
                   failures=run["failures"] + int(np.sum(traj.solver_failures)))
        run["residuals"].append(traj.solver_residual)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sc.rollout(model, state0, min(steps, 10), progress=False)  # warm-up: compile / load
            del caught[:]
            out = measure(advance, lambda: sc.rollout(model, state0, steps, progress=False),
                          steps, repeats, cap)
        except sc.SimulationError as err:
            return dict(skip=f"SimulationError: {err}")
    # a warning (e.g. a contact solve that did not converge) goes into the table's note
    warning = ""
    if caught:  # step numbers in a message count from the start of its (chunk) call
        first = str(caught[0].message).split(". ")[0].split(", first at step")[0]
        warning = f"{first} (warned in {len(caught)} rollout call(s))"
    res = np.concatenate(run["residuals"]) if run["residuals"] else np.zeros(1)
    out.update(ncon_end=run["ncon_end"], vmax_end=run["vmax_end"], vmax=run["vmax"],
               warning=warning, res_median=float(np.median(res)), res_max=float(res.max()),
               failures=run["failures"])
    return out


# ---------------------------------------------------------------- startup (fresh process)

_STARTUP_CODE = """
import json, sys, time
t0 = time.perf_counter()
import simcore as sc
t1 = time.perf_counter()
sys.path.insert(0, {bench_dir!r})
from throughput import pile
scene = pile({kind!r}, {n})
model = scene.build()
sc.rollout(model, model.initial_state(), 1, progress=False)
t2 = time.perf_counter()
from simcore._jit import CACHE_DIR
print(json.dumps(dict(import_s=t1 - t0, first_rollout_s=t2 - t1, total_s=t2 - t0,
                      cache_dir=CACHE_DIR)))
"""
# the cache folder is keyed by a hash of the sources: an edit between the cold and the warm run
# (someone working on simcore meanwhile) makes the warm run compile again; retry that many times
STARTUP_ATTEMPTS = 2


def _startup_once(code, env):
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(ROOT),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"startup subprocess failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_startup():
    """(cold, warm, note): dicts of import_s, first_rollout_s, total_s, cache_dir; the cold run
    gets an empty NUMBA_CACHE_DIR, the warm run the same directory again."""
    kind, n = STARTUP_SCENE
    code = _STARTUP_CODE.format(bench_dir=str(Path(__file__).resolve().parent), kind=kind, n=n)
    pythonpath = [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH")
                                else [])
    for attempt in range(STARTUP_ATTEMPTS):
        cache = tempfile.mkdtemp(prefix="simcore_bench_cache_")
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=os.pathsep.join(pythonpath))
        try:
            cold = _startup_once(code, env)
            warm = _startup_once(code, env)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        if cold["cache_dir"] == warm["cache_dir"]:
            return cold, warm, ""
    return cold, warm, "simcore sources changed between the cold and the warm run: warm invalid"


# ---------------------------------------------------------------- MuJoCo


def bench_mujoco(mujoco, scene, steps, repeats, cap):
    """MuJoCo on ``scene.to_mjcf()``: measure() dict plus how, ncon_end, vmax_end, note.

    ``mujoco.rollout`` (no Python per step) when available; an ``mj_step`` loop as well when a
    step is short enough for Python's per-call overhead to matter; the faster is returned.
    """
    m = mujoco.MjModel.from_xml_string(scene.to_mjcf())
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    d = mujoco.MjData(m)
    mujoco.mj_resetDataKeyframe(m, d, 0)
    init = np.zeros(mujoco.mj_stateSize(m, spec))
    mujoco.mj_getState(m, d, init, spec)
    short = min(steps, 10)
    try:
        from mujoco import rollout as mj_rollout
    except ImportError:
        mj_rollout = None

    def finish(out, how):
        # contacts and speeds after the last step of the chunked run, which d now holds
        mujoco.mj_forward(m, d)
        out.update(how=how, ncon_end=int(d.ncon), vmax_end=_vmax(m, d))
        return out

    results = []
    if mj_rollout is not None:
        d_roll = mujoco.MjData(m)

        def advance_roll(k):
            # continue from d's state, with the solver's warm start carried over
            cur = np.zeros_like(init)
            mujoco.mj_getState(m, d, cur, spec)
            state, _ = mj_rollout.rollout(m, d_roll, cur[None], nstep=k,
                                          initial_warmstart=d.qacc_warmstart[None].copy())
            mujoco.mj_setState(m, d, state[0, -1], spec)
            d.qacc_warmstart[:] = d_roll.qacc_warmstart

        mj_rollout.rollout(m, d_roll, init[None], nstep=short)  # warm-up
        mujoco.mj_resetDataKeyframe(m, d, 0)
        results.append(finish(measure(
            advance_roll, lambda: mj_rollout.rollout(m, d_roll, init[None], nstep=steps),
            steps, repeats, cap), "mujoco.rollout"))

    per_step = results[0]["time"] / results[0]["steps"] if results else 0.0
    if per_step < LOOP_WORTH_S:
        def advance_loop(k):
            for _ in range(k):
                mujoco.mj_step(m, d)

        def full_loop():
            mujoco.mj_resetDataKeyframe(m, d, 0)
            for _ in range(steps):
                mujoco.mj_step(m, d)

        advance_loop(short)  # warm-up
        mujoco.mj_resetDataKeyframe(m, d, 0)
        results.append(finish(measure(advance_loop, full_loop, steps, repeats, cap),
                              "mj_step loop"))
        note = "faster of " + " / ".join(f"{r['how']} {r['time']:.4g} s" for r in results)
    else:
        note = (f"mj_step loop not timed: a step takes {1e3 * per_step:.2g} ms, "
                f"Python's ~1 us per call is noise")
    if mj_rollout is None:
        note = "mujoco.rollout not available"
    best = min(results, key=lambda r: (-r["steps"], r["time"]))
    best["note"] = note
    return best


def _vmax(m, d):
    # largest body speed (centre of the free body) in the current state
    if m.nv == 0:
        return 0.0
    v = d.qvel.reshape(-1, 6)[:, :3]
    return float(np.linalg.norm(v, axis=1).max())


# ---------------------------------------------------------------- report


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(args, mujoco):
    lines = [
        f"command: {shlex.join([Path(sys.executable).name] + sys.argv)}",
        f"machine: {platform.platform()}, {cpu_name()}, {os.cpu_count()} CPUs",
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"numba {__import__('numba').__version__}, simcore {sc.__version__}, "
        f"mujoco {mujoco.__version__ if mujoco else 'not used'}",
        f"steps per run: {args.steps} (dt 1e-3 s); runs stop after {args.time_cap:g} s; a run "
        f"under {REPEAT_BUDGET_S:g} s is repeated {args.repeats} times as one call, best "
        f"reported; single-threaded; load average at start {os.getloadavg()[0]:.2f}",
    ]
    return "\n".join(lines)


def fmt_rate(x):
    return f"{x:,.0f}"


def result_row(name, nb, label, r, args):
    """scene .. body-steps/s columns; a run stopped at the time cap shows 'done/steps'."""
    steps = f"{r['steps']}/{args.steps}" if r["capped"] else r["steps"]
    return [name, nb, label, steps, f"{r['time']:.4g}", fmt_rate(r["steps"] / r["time"]),
            fmt_rate(nb * r["steps"] / r["time"])]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None,
                        help=f"steps per rollout (default {DEFAULT_STEPS}, --quick "
                             f"{QUICK_STEPS})")
    parser.add_argument("--quick", action="store_true", help="few steps, one repeat (smoke test)")
    parser.add_argument("--no-mujoco", action="store_true", help="skip the MuJoCo comparison")
    parser.add_argument("--time-cap", type=float, default=DEFAULT_TIME_CAP_S,
                        help="stop a run after about this many seconds (default "
                             f"{DEFAULT_TIME_CAP_S:g}); its rates then cover the first steps")
    parser.add_argument("--no-startup", action="store_true",
                        help="skip the cold / warm start measurement (a cold start compiles "
                             "every kernel: minutes)")
    parser.add_argument("--contact", action="append", choices=sorted(CONTACT_NAMES),
                        help="only this contact model (repeatable; default: all)")
    parser.add_argument("--layout", action="append", choices=LAYOUTS,
                        help="only this layout of piles (repeatable; default: both): the "
                             "lattice piles or the touching columns")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure "
                        "(default 3, --quick 1)")
    parser.add_argument("--column-gap", type=float, default=0.0,
                        help="the columns' bodies this far apart (m) instead of touching "
                             "(default 0)")
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = QUICK_STEPS if args.quick else DEFAULT_STEPS
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be at least 1")
    if not args.time_cap > 0:
        parser.error("--time-cap must be positive")
    if not 0.0 <= args.column_gap < 1.0:
        parser.error("--column-gap must be in [0, 1) m")

    mujoco = None
    if not args.no_mujoco:
        try:
            import mujoco
        except ImportError:
            mujoco = None
    print(header(args, mujoco), flush=True)

    cols = ["scene", "bodies", "engine", "steps", "time [s]", "steps/s", "body-steps/s",
            "simcore/MuJoCo", "contacts end", "max |v| end", "residual median", "residual max",
            "failed solves", "note"]
    rows = []
    t_start = time.perf_counter()
    for layout, kind, n in SCENES:
        if args.layout and layout not in args.layout:
            continue
        scene = build_scene(layout, kind, n, args.column_gap)
        nb = n_dynamic(scene)
        name = scene_name(layout, kind, n, args.column_gap)
        mj = bench_mujoco(mujoco, scene, args.steps, args.repeats, args.time_cap) \
            if mujoco else None
        configs = contact_configs(args.contact)
        while configs:
            contact = configs.pop(0)
            label = f"simcore {contact_label(contact)}"
            r = bench_simcore(scene, contact, args.steps, args.repeats, args.time_cap)
            if "skip" in r:
                rows.append([name, nb, label] + ["-"] * 10 + [r["skip"]])
                continue
            notes = [r["warning"]] if r["warning"] else []
            if r["vmax"] > SPEED_LIMIT:
                notes.insert(0, f"DIVERGED: a body reached {r['vmax']:.3g} m/s")
                fallback = stable_fallback(contact)
                if fallback is not None:
                    notes.append(f"retried as {contact_label(fallback)}")
                    configs.insert(0, fallback)
            ratio = "-"
            if mj:
                k = min(r["steps"], mj["steps"])
                if k == args.steps:
                    ratio = f"{mj['time'] / r['time']:.3g}"
                else:
                    ratio = f"{time_at(mj['cum'], k) / time_at(r['cum'], k):.3g}"
                    notes.append(f"ratio over the first {k} steps")
            rows.append(result_row(name, nb, label, r, args) + [ratio, r["ncon_end"],
                        f"{r['vmax_end']:.3g}", f"{r['res_median']:.1e}",
                        f"{r['res_max']:.1e}", r["failures"], "; ".join(notes)])
        if mj:
            rows.append(result_row(name, nb, f"MuJoCo ({mj['how']})", mj, args)
                        + ["(ref)", mj["ncon_end"], f"{mj['vmax_end']:.3g}", "-", "-", "-",
                           mj["note"]])
        print(f"  ... {name} done ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr,
              flush=True)

    if not args.no_startup:
        cold, warm, startup_note = bench_startup()
        print(f"  ... startup done ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr,
              flush=True)
        kind, n = STARTUP_SCENE
        for label, r in (("simcore cold start (empty NUMBA_CACHE_DIR)", cold),
                         ("simcore warm start (same cache dir)", warm)):
            rows.append([f"startup, pile of {n} {kind}s", n, label, 1, f"{r['total_s']:.2f}"]
                        + ["-"] * 8 + [f"import simcore {r['import_s']:.2f} s + build and 1-step "
                                       f"rollout {r['first_rollout_s']:.2f} s"
                                       + (f"; {startup_note}" if startup_note else "")])

    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(cols)]
    left = (0, 2, len(cols) - 1)
    line = "  ".join("-" * w for w in widths)
    print()
    print("  ".join(f"{c:<{w}}" for c, w in zip(cols, widths)).rstrip())
    print(line)
    for r in rows:
        print("  ".join(f"{str(x):<{w}}" if i in left else f"{str(x):>{w}}"
                        for i, (x, w) in enumerate(zip(r, widths))).rstrip())
    print(line)
    print("steps 'k/N': the run hit the time cap after k steps; its rates cover the fall, not "
          "the settled pile.\n"
          "body-steps/s = dynamic bodies x steps / s. simcore/MuJoCo = ratio of body-steps/s. "
          "contacts end, max |v| end: contact count and largest body speed (m/s) after the last "
          "step.\nresidual median / max: over the run's steps, of each step's largest relative "
          "residual of its contact solves (0 for the fixed penalty spring: no solve); failed solves: those above "
          "the model's failure line, summed.\nA run is DIVERGED when a body exceeded "
          f"{SPEED_LIMIT:g} m/s (free fall from the top of the largest pile reaches ~4 m/s). "
          "Startup rows: a fresh `python -c` process.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
