"""What a step costs when there is almost nothing to do: one body, per contact model, beside
MuJoCo on the same scene.

    python benchmarks/step_overhead.py [--steps N] [--repeats R] [--no-mujoco]

Scenes (dt = 1 ms, a 0.1 kg body of half size 0.05 m): a sphere in free flight (no ground), a
sphere resting on the ground, a cube resting on it. Per scene and model: the time per step of a
rollout of --steps steps (the best of --repeats), and MuJoCo's mj_step on the scene
``Scene.to_mjcf()`` writes, in the same run when MuJoCo is installed (the rate columns: steps
per second over MuJoCo's, as in throughput.py). Then HardContact's
per-step Jacobians (``transition_jacobians``) of the resting sphere, one row per tangent
coordinate (12), against its step. These are the costs every step and every Jacobian row pays
before any physics: the calls between the stages and the arrays they allocate.
"""
import argparse
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (str(ROOT), str(ROOT / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

import simcore as sc  # noqa: E402
from throughput import best_time  # noqa: E402

MODELS = {"hard": sc.HardContact, "penalty": sc.PenaltyContact, "smoothed": sc.SmoothedContact}
SCENES = ("sphere, free flight", "sphere at rest", "cube at rest")


def scene(name):
    s = sc.Scene(dt=1e-3)
    if name != "sphere, free flight":
        s.add_plane(friction=1.0)
    z = 1.0 if name == "sphere, free flight" else 0.05
    if name.startswith("sphere"):
        s.add_sphere(0.05, mass=0.1, pos=(0, 0, z))
    else:
        s.add_box((0.05, 0.05, 0.05), mass=0.1, pos=(0, 0, z))
    return s


def best(run, repeats):
    return best_time(run, repeats)[0]


def mujoco_step(mujoco, s, steps, repeats):
    m = mujoco.MjModel.from_xml_string(s.to_mjcf())
    d = mujoco.MjData(m)

    def run():
        mujoco.mj_resetDataKeyframe(m, d, 0)
        for _ in range(steps):
            mujoco.mj_step(m, d)
    return best(run, repeats) / steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-mujoco", action="store_true")
    args = p.parse_args(argv)
    mujoco = None
    if not args.no_mujoco:
        try:
            import mujoco
        except ImportError:
            print("(MuJoCo not installed: its column is left out; pip install mujoco)")
    given = argv if argv is not None else sys.argv[1:]
    print(f"# python benchmarks/step_overhead.py {' '.join(given)}")
    print(f"# {platform.processor() or platform.machine()}, python "
          f"{platform.python_version()}, {args.steps} steps, best of {args.repeats}")
    head = ["scene"] + [f"{name} us/step" for name in MODELS]
    if mujoco:
        head += ["MuJoCo us/step"] + [f"{name} rate / MuJoCo's" for name in MODELS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in SCENES:
        s = scene(name)
        ours = []
        for contact in MODELS.values():
            model = s.build(contact=contact())
            state = model.initial_state()
            sc.rollout(model, state, 2, progress=False)  # (compiles, not timed)
            ours.append(best(lambda: sc.rollout(model, state, args.steps, progress=False),
                             args.repeats) / args.steps)
        row = [name] + [f"{t * 1e6:.2f}" for t in ours]
        if mujoco:
            mj = mujoco_step(mujoco, s, args.steps, args.repeats)
            row += [f"{mj * 1e6:.2f}"] + [f"{mj / t:.2f}" for t in ours]
        print("| " + " | ".join(row) + " |", flush=True)
    model = scene("sphere at rest").build(contact=sc.HardContact())
    state = model.initial_state()
    n = max(1, args.steps // 50)
    sc.transition_jacobians(model, state, 2, progress=False)  # (compiles, not timed)
    t_jac = best(lambda: sc.transition_jacobians(model, state, n, progress=False),
                 args.repeats) / n
    t_step = best(lambda: sc.rollout(model, state, n, progress=False), args.repeats) / n
    print(f"\nHardContact, sphere at rest: Jacobians {t_jac * 1e6:.1f} us per step "
          f"({t_jac / t_step:.1f} steps; {n} steps timed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
