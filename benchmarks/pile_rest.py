"""Does a pile come to rest? The 64-sphere lattice pile with and without rolling and torsional
friction, in simcore and (when installed) in MuJoCo on the same exported scene.

    python benchmarks/pile_rest.py [--seconds 20] [--contact hard] [--friction 0 0.0005 0.002]
                                   [--no-mujoco] [--quick]

The scene is throughput.py's lattice pile of 64 spheres (radius 0.05, 1 kg, 4 x 4 x 4, a
centimetre apart, friction 0.5) with every body's torsional and rolling friction set to each
value of --friction (metres; the ground keeps 0: a pair takes the larger). Without them the
spheres that roll off the pile never stop. Per run, after --seconds of simulated time: when the
pile came to rest (the last time any sphere moved faster than REST_SPEED, m/s), the spheres' mean
and largest speed and largest spin at the end, how far the farthest rolled from the pile's
centre, the wall time, and the contact solves' largest residual and failures. MuJoCo runs the
scene ``Scene.to_mjcf()`` writes (condim 6 and the elliptic cone where these frictions are set).
"""
import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for p in (str(ROOT), str(ROOT / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

import simcore as sc  # noqa: E402
from throughput import pile  # noqa: E402

CONTACTS = {"hard": sc.HardContact, "penalty": sc.PenaltyContact,
            "smoothed": sc.SmoothedContact}
REST_SPEED = 1e-3  # m/s


def scene_with(friction):
    scene = pile("sphere", 64)
    for b in scene.bodies[1:]:
        b["torsional_friction"] = b["rolling_friction"] = friction
    return scene


def summary(dt, vel, ang_vel, pos):
    """Rest time, final mean / largest speed, largest spin, and the farthest sphere's distance
    from the pile's starting centre, from (steps + 1, n, 3) arrays of the dynamic bodies."""
    speed = np.linalg.norm(vel, axis=2)
    moving = np.flatnonzero(speed.max(axis=1) > REST_SPEED)
    rest = np.inf if moving.size and moving[-1] == len(speed) - 1 else \
        (moving[-1] + 1) * dt if moving.size else 0.0
    centre = pos[0, :, :2].mean(axis=0)
    reach = np.linalg.norm(pos[-1, :, :2] - centre, axis=1).max()
    return dict(rest=rest, mean=speed[-1].mean(), top=speed[-1].max(),
                spin=np.linalg.norm(ang_vel[-1], axis=1).max(), reach=reach)


def run_simcore(scene, contact, steps):
    model = scene.build(contact=CONTACTS[contact]())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (failed solves are counted below)
        traj = sc.rollout(model, model.initial_state(), steps, progress=False)
    wall = time.perf_counter() - t0
    out = summary(model.opt_dt, traj.vel[:, 1:], traj.ang_vel[:, 1:], traj.pos[:, 1:])
    return dict(out, wall=wall, residual=float(traj.solver_residual.max()),
                failures=int(traj.solver_failures.sum()))


def run_mujoco(mujoco, scene, steps):
    mm = mujoco.MjModel.from_xml_string(scene.to_mjcf())
    md = mujoco.MjData(mm)
    mujoco.mj_resetDataKeyframe(mm, md, 0)
    n = mm.nbody - 1
    pos, vel, ang = (np.empty((steps + 1, n, 3)) for _ in range(3))

    def record(t):
        q, v = md.qpos.reshape(n, 7), md.qvel.reshape(n, 6)
        pos[t], vel[t] = q[:, :3], v[:, :3]
        ang[t] = v[:, 3:]  # (body frame: its norm is the spin)
    record(0)
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        mujoco.mj_step(mm, md)
        record(t)
    wall = time.perf_counter() - t0
    return dict(summary(mm.opt.timestep, vel, ang, pos), wall=wall, residual=np.nan,
                failures=0)


def row(engine, friction, r):
    rest = "never" if not np.isfinite(r["rest"]) else f"{r['rest']:.2f} s"
    res = "" if np.isnan(r["residual"]) else f"{r['residual']:.1e}"
    return (f"| {engine} | {friction:g} | {rest} | {r['mean']:.2g} | {r['top']:.2g} | "
            f"{r['spin']:.2g} | {r['reach']:.2f} | {r['wall']:.1f} | {res} | {r['failures']} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="simulated time per run")
    p.add_argument("--contact", default="hard", choices=sorted(CONTACTS))
    p.add_argument("--friction", type=float, nargs="+", default=[0.0, 0.0005, 0.002],
                   help="torsional and rolling friction of every sphere (m)")
    p.add_argument("--no-mujoco", action="store_true", help="skip MuJoCo even if installed")
    p.add_argument("--quick", action="store_true", help="0.2 s, two values (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.friction = 0.2, [0.0, 0.002]
    if args.seconds <= 0 or any(f < 0 for f in args.friction):
        p.error("--seconds must be positive and --friction values non-negative")
    mujoco = None
    if not args.no_mujoco:
        try:
            import mujoco
        except ImportError:
            print("(MuJoCo not installed: simcore only)", file=sys.stderr)
    dt = scene_with(0.0).dt
    steps = int(round(args.seconds / dt))
    print(f"64-sphere lattice pile, {args.seconds:g} s ({steps} steps of {dt:g} s), "
          f"{CONTACTS[args.contact].__name__}(); at rest: every sphere below {REST_SPEED:g} m/s\n")
    print("| engine | torsional = rolling friction (m) | at rest from | mean speed at end (m/s) "
          "| largest speed | largest spin (rad/s) | farthest from centre (m) | wall (s) "
          "| largest residual | failed solves |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for friction in args.friction:
        scene = scene_with(friction)
        print(f"  simcore, friction {friction:g} ...", file=sys.stderr, flush=True)
        print(row("simcore", friction, run_simcore(scene, args.contact, steps)), flush=True)
        if mujoco is not None:
            print(f"  MuJoCo, friction {friction:g} ...", file=sys.stderr, flush=True)
            print(row(f"MuJoCo {mujoco.__version__}", friction,
                      run_mujoco(mujoco, scene, steps)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
