"""Cost of exact per-step Jacobians (sc.transition_jacobians) against a step, and MuJoCo's
finite-difference ones (mjd_transitionFD) on the same scene.

    python benchmarks/transition_cost.py [--steps N] [--settle N] [--no-mujoco] [--quick]
                                         [--contact {hard,penalty,smoothed}]

The scenes are throughput.py's lattice piles (1, 8 and 64 spheres or boxes of 1 kg, a small
gap above the ground), run for --settle steps first so that the bodies rest on each other and
the ground; then, from that state, --steps steps are timed three ways: a plain rollout, the
rollout with every step's Jacobians (A: 12n x 12n, B: 12n x 6n), and (when MuJoCo is installed)
MuJoCo's own pile from its own settled state: mj_step, and mjd_transitionFD with forward and
with centred differences (eps 1e-6; its A is (2 nv) x (2 nv) = 12n x 12n; the scene has no
actuators, so its B is empty where simcore's covers every body's force and torque). Per run:
the contact solves' largest residual and failures. Every figure is measured in the run that
prints it, single-threaded, the best of --repeats runs within 5 s; a pile whose one step of
Jacobians takes over JAC_ONE_S is timed over that one step (the column says how many).
"""
import argparse
import platform
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

SCENES = [("sphere", 1), ("sphere", 8), ("sphere", 64), ("box", 1), ("box", 8), ("box", 64)]
CONTACTS = {"hard": sc.HardContact, "penalty": sc.PenaltyContact,
            "smoothed": sc.SmoothedContact}
FD_EPS = 1e-6
JAC_ONE_S = 2.0  # a step's Jacobians longer than this (s) are timed over that one step


def best(run, repeats, budget=5.0):
    """The best time of up to ``repeats`` runs, stopping once they have taken ``budget`` s."""
    out, spent = np.inf, 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        took = time.perf_counter() - t0
        out, spent = min(out, took), spent + took
        if spent > budget:
            break
    return out


def bench_simcore(kind, n, contact, settle, steps, repeats):
    """Per step: a rollout's time and the Jacobians' (over ``steps`` steps, or over one when a
    step's Jacobians take more than JAC_ONE_S), the solves' largest residual and failures."""
    warm = pile(kind, 1).build(contact=CONTACTS[contact]())  # (compiles, not timed)
    sc.transition_jacobians(warm, warm.initial_state(), 2, progress=False)
    model = pile(kind, n).build(contact=CONTACTS[contact]())
    state = sc.rollout(model, model.initial_state(), settle, progress=False).state(settle)
    t_step = best(lambda: sc.rollout(model, state, steps, progress=False), repeats) / steps
    # (the last result only is kept, as a caller replacing it would: with every result alive,
    # each call's output would also take fresh memory from the system, which on the machine of
    # docs/benchmarks.md can cost more than the Jacobians themselves at 64 bodies)
    jac = []

    def run(n_steps):
        jac.clear()
        jac.append(sc.transition_jacobians(model, state, n_steps, progress=False))

    t0 = time.perf_counter()
    run(1)
    one = time.perf_counter() - t0
    timed = 1
    if one < JAC_ONE_S:
        timed = steps
        one = best(lambda: run(steps), repeats) / steps
    traj = jac[-1].traj
    return {"step": t_step, "jac": one, "jac_steps": timed,
            "resid": float(traj.solver_residual.max()),
            "fails": int(traj.solver_failures.sum())}


def bench_mujoco(mujoco, kind, n, settle, steps, repeats):
    m = mujoco.MjModel.from_xml_string(pile(kind, n).to_mjcf())
    d = mujoco.MjData(m)
    mujoco.mj_resetDataKeyframe(m, d, 0)
    for _ in range(settle):
        mujoco.mj_step(m, d)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    start = np.zeros(mujoco.mj_stateSize(m, spec))
    mujoco.mj_getState(m, d, start, spec)
    nx = 2 * m.nv + m.na
    A = np.zeros((nx, nx))

    def steps_only():
        mujoco.mj_setState(m, d, start, spec)
        for _ in range(steps):
            mujoco.mj_step(m, d)

    def with_fd(centred):
        def run():
            mujoco.mj_setState(m, d, start, spec)
            for _ in range(steps):
                mujoco.mjd_transitionFD(m, d, FD_EPS, centred, A, None, None, None)
                mujoco.mj_step(m, d)
        return run
    t_step = best(steps_only, repeats) / steps
    t_fwd = best(with_fd(0), repeats) / steps - t_step
    t_cen = best(with_fd(1), repeats) / steps - t_step
    return {"step": t_step, "fd": t_fwd, "fd_centred": t_cen}


def fmt_time(s):
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20, help="steps timed (default 20)")
    p.add_argument("--settle", type=int, default=300,
                   help="steps run first so the pile rests (default 300)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--contact", choices=sorted(CONTACTS), default="hard")
    p.add_argument("--no-mujoco", action="store_true")
    p.add_argument("--quick", action="store_true", help="2 steps, 1 repeat, 8 bodies at most")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.settle = 2, 1, 50
    scenes = [s for s in SCENES if not (args.quick and s[1] > 8)]
    mujoco = None
    if not args.no_mujoco:
        try:
            import mujoco
        except ImportError:
            print("(MuJoCo not installed: its columns are left out; pip install mujoco)")
    warnings.simplefilter("ignore", RuntimeWarning)  # (the compile notice is not timed)
    print(f"# transition_cost: {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, numpy {np.__version__}, mujoco "
          f"{mujoco.__version__ if mujoco else 'not used'}")
    given = argv if argv is not None else sys.argv[1:]
    print(f"# python benchmarks/transition_cost.py {' '.join(given)}")
    print(f"# {args.contact} contact, {args.steps} steps after {args.settle}, best of "
          f"{args.repeats}; times per step")
    head = ["scene", "simcore step", "simcore Jacobians (steps timed)", "Jacobians / step",
            "solver residual max", "solver failures"]
    if mujoco:
        head += ["MuJoCo step", "mjd_transitionFD forward", "centred",
                 "simcore Jacobians / MuJoCo FD forward", "/ centred"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for kind, n in scenes:
        ours = bench_simcore(kind, n, args.contact, args.settle, args.steps, args.repeats)
        row = [f"{n} {kind}{'es' if kind == 'box' and n > 1 else 's' if n > 1 else ''}",
               fmt_time(ours["step"]), f"{fmt_time(ours['jac'])} ({ours['jac_steps']})",
               f"{ours['jac'] / ours['step']:.0f}",
               f"{ours['resid']:.1e}", str(ours["fails"])]
        if mujoco:
            mj = bench_mujoco(mujoco, kind, n, args.settle, args.steps, args.repeats)
            row += [fmt_time(mj["step"]), fmt_time(mj["fd"]), fmt_time(mj["fd_centred"]),
                    f"{ours['jac'] / mj['fd']:.2f}", f"{ours['jac'] / mj['fd_centred']:.2f}"]
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
