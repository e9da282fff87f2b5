"""ilqr_push: iLQR on exact per-step Jacobians pushes a box to a goal position and yaw, then
runs as receding-horizon MPC through a kick; beside it, L-BFGS-B over all controls.

A flat box (0.16 x 0.16 x 0.08 m, 0.5 kg, friction 0.3 with the ground) rests at the origin; a
kinematic ball (radius 0.03 m) at the box's mid-height starts 1 cm behind it, 2 cm off its
centre line. The controls are the ball's x and y velocity at each of 150 steps of 10 ms (at
most 0.5 m/s per axis); the goal is the box at (0.25, 0.08) m, turned by 25 degrees, at rest,
at the end. The cost is half the squared residuals of the box's final position (weight 1e4 per
m^2), yaw (1e3 per rad^2), velocity and angular velocity (10), plus half 1e-3 times the sum of
the squared pusher velocities.

- **iLQR** (Gauss-Newton on the terminal residuals, Levenberg-Marquardt regularisation, a
  backtracking line search on the feedback rollout) runs on ``sc.transition_jacobians``:
  first with ``SmoothedContact(kappa=1e-3)`` (its distance band reaches the pusher's start, so
  the first iteration already has a gradient), then with ``HardContact()`` started from the
  smoothed plan (continuation; from rest the hard model has no gradient until the bodies
  touch).
- **L-BFGS-B** over all 300 controls, with ``sc.value_and_grad``, the same cost and starts.
- **MPC** on the hard model: every 10 steps iLQR plans 100 steps ahead from the current state
  (6 iterations from the previous plan, shifted; the first plan is the hard iLQR plan), and the
  hard model runs the plan's first 10 steps, for 200 steps; at step 80 the box is kicked
  (moved 2 cm in -y and turned by -8 degrees). Planned with the smoothed model, and with the
  hard model itself.

Reported per method and model: iterations, derivative calls, wall time, the final cost, the
box's final position and yaw error, and the plan replayed on the other model.

    python -m scenarios run ilqr_push [--out DIR] [--iters N] [--quick] [--animate]
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np
import scipy.optimize

import simcore as sc
from scenarios._common import out_dir, series_gif, write_index, write_table
from simcore.kernels.rotation import quat_bar_to_twist

DT, STEPS = 0.01, 150
HALF = (0.08, 0.08, 0.04)
R_PUSH = 0.03
GOAL_X, GOAL_Y, GOAL_YAW = 0.25, 0.08, np.radians(25.0)
W_POS, W_YAW, W_VEL, REG = 1e4, 1e3, 10.0, 1e-3
U_MAX = 0.5  # the pusher's speed limit per axis (m/s)
MPC_HORIZON, MPC_EVERY, MPC_ITERS, MPC_STEPS = 100, 10, 6, 200
KICK_STEP, KICK_MOVE, KICK_YAW = 80, (0.0, -0.02), np.radians(-8.0)
SMOOTHED = "smoothed kappa=1e-3"
HARD = "hard TOI"


def contacts():
    return {SMOOTHED: sc.SmoothedContact(kappa=1e-3), HARD: sc.HardContact()}


def build(contact):
    """Ground, box and pusher. Returns (model, box, pusher)."""
    scene = sc.Scene(dt=DT, margin=0.05)
    scene.add_plane(friction=0.3)
    box = scene.add_box(HALF, mass=0.5, pos=(0, 0, HALF[2]), friction=0.3)
    pusher = scene.add_sphere(R_PUSH, pos=(-HALF[0] - R_PUSH - 0.01, -0.02, HALF[2]),
                              kind="kinematic", friction=0.3)
    return scene.build(contact=contact), box, pusher


def yaw_of(q):
    w, x, y, z = q
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _yaw_quat_grad(q):
    w, x, y, z = q
    a, b = 2 * (w * z + x * y), 1 - 2 * (y * y + z * z)
    da = np.array([2 * z, 2 * y, 2 * x, 2 * w])
    db = np.array([0.0, 0.0, -4 * y, -4 * z])
    return (b * da - a * db) / (a * a + b * b)


def wrap(angle):
    return (angle + np.pi) % (2 * np.pi) - np.pi


class Task:
    """The cost of a plan for one model: terminal residuals of the box and the pushers'
    velocities; their gradients as trajectory cotangents (for value_and_grad) and in tangent
    coordinates (for iLQR)."""

    def __init__(self, contact):
        self.model, self.box, self.pusher = build(contact)
        self.n = self.model.nbody
        self.cols = [6 * self.pusher, 6 * self.pusher + 1]  # the pusher's vx, vy in B
        self.amplification = 1.0  # the largest Gradient.amplification of value_and_grad calls

    def controls(self, U):
        """(T, 2) pusher velocities -> (T, n, 6) controls."""
        ctrl = np.zeros((len(U), self.n, 6))
        ctrl[:, self.pusher, :2] = U
        return ctrl

    def residuals(self, state):
        """(r, Jr): the weighted terminal residuals of a final State and their Jacobian in
        tangent coordinates (rows x 12n)."""
        b = self.box
        q = state.quat[b]
        r = np.concatenate([np.sqrt(W_POS) * (state.pos[b, :2] - (GOAL_X, GOAL_Y)),
                            [np.sqrt(W_YAW) * wrap(yaw_of(q) - GOAL_YAW)],
                            np.sqrt(W_VEL) * state.vel[b], np.sqrt(W_VEL) * state.ang_vel[b]])
        Jr = np.zeros((9, 12 * self.n))
        Jr[0, 12 * b] = Jr[1, 12 * b + 1] = np.sqrt(W_POS)
        th = np.zeros(3)
        quat_bar_to_twist(q, _yaw_quat_grad(q), th)  # d yaw / d (world rotation vector)
        Jr[2, 12 * b + 3:12 * b + 6] = np.sqrt(W_YAW) * th
        for k in range(6):
            Jr[3 + k, 12 * b + 6 + k] = np.sqrt(W_VEL)
        return r, Jr

    def cost(self, final_state, U):
        r, _ = self.residuals(final_state)
        return 0.5 * float(r @ r) + 0.5 * REG * float(np.sum(U * U))

    def errors(self, state):
        """(position error in m, yaw error in degrees) of a State."""
        b = self.box
        return (float(np.hypot(state.pos[b, 0] - GOAL_X, state.pos[b, 1] - GOAL_Y)),
                float(np.degrees(abs(wrap(yaw_of(state.quat[b]) - GOAL_YAW)))))

    def value_and_grad(self, state, U):
        """The cost of the open-loop plan U from state and its gradient in U (value_and_grad)."""
        def loss(traj):
            final = traj.state(-1)
            r, _ = self.residuals(final)
            b = self.box
            cot = {k: np.zeros_like(getattr(traj, k)) for k in ("pos", "quat", "vel", "ang_vel")}
            cot["pos"][-1, b, :2] = np.sqrt(W_POS) * r[:2]
            cot["quat"][-1, b] = np.sqrt(W_YAW) * r[2] * _yaw_quat_grad(final.quat[b])
            cot["vel"][-1, b] = np.sqrt(W_VEL) * r[3:6]
            cot["ang_vel"][-1, b] = np.sqrt(W_VEL) * r[6:9]
            return 0.5 * float(r @ r), cot
        with warnings.catch_warnings():  # (the largest amplification goes in the table)
            warnings.simplefilter("ignore", RuntimeWarning)
            value, g = sc.value_and_grad(self.model, state, len(U), loss,
                                         controls=self.controls(U))
        self.amplification = max(self.amplification, g.amplification)
        return value + 0.5 * REG * float(np.sum(U * U)), g.controls[:, self.pusher, :2] + REG * U

    def rollout(self, state, U):
        return sc.rollout(self.model, state, len(U), controls=self.controls(U))


def ilqr(task, state, U, iters, tol=1e-6):
    """iLQR from ``state`` on the plan U (T, 2): returns (U, cost history, Jacobian calls).
    Stops after ``iters`` iterations, or when no step along the search lowers the cost by a
    relative tol."""
    T, n = len(U), task.n
    U = U.copy()
    J = sc.transition_jacobians(task.model, state, T, controls=task.controls(U))
    calls = 1
    cost = task.cost(J.traj.state(-1), U)
    history = [cost]
    mu = 1e-6
    for _ in range(iters):
        r, Jr = task.residuals(J.traj.state(-1))
        Vx, Vxx = Jr.T @ r, Jr.T @ Jr
        k = np.zeros((T, 2))
        K = np.zeros((T, 2, 12 * n))
        for t in range(T - 1, -1, -1):
            A, B = J.A[t], J.B[t][:, task.cols]
            Qx, Qu = A.T @ Vx, REG * U[t] + B.T @ Vx
            VA, VB = Vxx @ A, Vxx @ B
            Quu = REG * np.eye(2) + B.T @ VB + mu * np.eye(2)
            Qux = B.T @ VA
            k[t] = -np.linalg.solve(Quu, Qu)
            K[t] = -np.linalg.solve(Quu, Qux)
            Vx = Qx + K[t].T @ (Quu @ k[t]) + K[t].T @ Qu + Qux.T @ k[t]
            Vxx = A.T @ VA + K[t].T @ Quu @ K[t] + K[t].T @ Qux + Qux.T @ K[t]
            Vxx = 0.5 * (Vxx + Vxx.T)
        for alpha in (1.0, 0.5, 0.25, 0.1, 0.03, 0.01):
            Unew, x = _feedback_rollout(task, state, J.traj, U, alpha * k, K)
            new = np.inf if x is None else task.cost(x, Unew)
            if new < cost:
                break
        else:
            mu *= 10.0
            if mu > 1e3:
                break
            continue
        mu = max(mu / 3.0, 1e-9)
        improved = (cost - new) / max(cost, 1e-300)
        U, cost = Unew, new
        J = sc.transition_jacobians(task.model, state, T, controls=task.controls(U))
        calls += 1
        history.append(cost)
        if improved < tol:
            break
    return U, np.array(history), calls


def _feedback_rollout(task, state, nominal, U, dU, K):
    """The plan U + dU + K (x - nominal) rolled out step by step, the pusher's speed held within
    U_MAX per axis: (plan, final State), or (plan, None) when a step's solve fails or it
    diverges (the line search then takes a shorter step)."""
    x, Unew = state, np.empty_like(U)
    for t in range(len(U)):
        dx = sc.state_difference(task.model, x, nominal.state(t))
        Unew[t] = np.clip(U[t] + dU[t] + K[t] @ dx, -U_MAX, U_MAX)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                step = task.rollout(x, Unew[t][None])
        except sc.SimulationError:
            return Unew, None
        if step.solver_failures.any():
            return Unew, None
        x = step.state(1)
    return Unew, x


def lbfgs(task, state, U0, iters):
    """L-BFGS-B over every control, with value_and_grad: (U, cost history, gradient calls)."""
    history = []

    def fun(u):
        value, g = task.value_and_grad(state, u.reshape(-1, 2))
        history.append(value)
        return value, g.reshape(-1)
    res = scipy.optimize.minimize(fun, U0.reshape(-1), jac=True, method="L-BFGS-B",
                                  bounds=[(-U_MAX, U_MAX)] * U0.size,
                                  options={"maxiter": iters, "gtol": 1e-12, "ftol": 1e-15})
    return res.x.reshape(-1, 2), np.array(history), res.nfev


def kicked(task, state):
    """The state with the box moved by KICK_MOVE and turned by KICK_YAW about the vertical."""
    dx = np.zeros(12 * task.n)
    dx[12 * task.box:12 * task.box + 2] = KICK_MOVE
    dx[12 * task.box + 5] = KICK_YAW
    return sc.perturb_state(task.model, state, dx)


def mpc(planner, plant, U_plan, kick=True):
    """Receding-horizon iLQR from the start: every MPC_EVERY steps the planner's model plans
    MPC_HORIZON steps ahead (MPC_ITERS iLQR iterations from the previous plan, shifted) from the
    plant's current state, and the plant runs the plan's first steps. Returns (the plant's
    states as a dict of (steps+1, n, k) arrays, the pusher velocities applied)."""
    state = plant.model.initial_state()
    plan = np.zeros((MPC_HORIZON, 2))
    m = min(MPC_HORIZON, len(U_plan))
    plan[:m] = U_plan[:m]
    states, applied = [state], []
    t = 0
    while t < MPC_STEPS:
        if kick and t == KICK_STEP:
            state = kicked(plant, state)
            states[-1] = state
        plan, _, _ = ilqr(planner, state, plan, MPC_ITERS)
        run = min(MPC_EVERY, MPC_STEPS - t)
        traj = plant.rollout(state, plan[:run])
        states += [traj.state(s) for s in range(1, run + 1)]
        applied.append(plan[:run])
        state = traj.state(run)
        plan = np.concatenate([plan[run:], np.repeat(plan[-1:], run, axis=0)])
        t += run
    stack = lambda key: np.array([getattr(s, key) for s in states])
    return {k: stack(k) for k in ("pos", "quat", "vel", "ang_vel")}, np.concatenate(applied)


def as_trajectory(arrays):
    """The MPC's states as a Trajectory for the animation (no contact records)."""
    steps = len(arrays["pos"]) - 1
    return sc.Trajectory(**arrays, ncon=np.zeros(steps, dtype=np.int64), dt=DT,
                         solver_residual=np.zeros(steps),
                         solver_failures=np.zeros(steps, dtype=np.int64),
                         contact_offsets=np.zeros(steps + 1, dtype=np.int64),
                         contact_bodies=np.zeros((0, 2), dtype=np.int32),
                         contact_mode=np.zeros(0, dtype=np.int8),
                         contact_margin=np.zeros(0))


def _errors_row(task, state):
    pos_err, yaw_err = task.errors(state)
    return {"position error (m)": pos_err, "yaw error (deg)": yaw_err}


def run(iters=60, quick=False):
    """Rows of the comparison table, the plans, cost histories and the MPC runs (quick: iLQR
    and the MPC planned with the smoothed model only)."""
    tasks = {label: Task(c) for label, c in contacts().items()}
    start = np.zeros((STEPS, 2))
    rows, plans, histories = [], {}, {}
    for method in ("iLQR",) if quick else ("iLQR", "L-BFGS-B"):
        for label, from_label in ((SMOOTHED, None), (HARD, SMOOTHED)):
            task = tasks[label]
            U0 = start if from_label is None else plans[(method, from_label)]
            state = task.model.initial_state()
            t0 = time.perf_counter()
            if method == "iLQR":
                U, hist, calls = ilqr(task, state, U0, iters)
            else:
                U, hist, calls = lbfgs(task, state, U0, 4 * iters)
            seconds = time.perf_counter() - t0
            plans[(method, label)], histories[f"{method}, {label}"] = U, hist
            other = tasks[SMOOTHED if label == HARD else HARD]
            rows.append({"method": method, "planned with": label if from_label is None else
                         f"{label} from the smoothed plan", "run on": label,
                         "iterations": len(hist) - 1, "derivative calls": calls,
                         "seconds": round(seconds, 2), "final cost": float(hist[-1]),
                         **_errors_row(task, task.rollout(state, U).state(-1)),
                         "replayed on the other model": _errors_row(
                             task, other.rollout(state, U).state(-1)),
                         "adjoint amplification (largest)":
                             "" if method == "iLQR" else f"{task.amplification:.3g}"})
    mpc_runs = {}
    for planner in (SMOOTHED,) if quick else (SMOOTHED, HARD):
        t0 = time.perf_counter()
        arrays, applied = mpc(tasks[planner], tasks[HARD], plans[("iLQR", HARD)])
        mpc_runs[planner] = (arrays, applied)
        final = sc.State(**{k: v[-1] for k, v in arrays.items()})
        rows.append({"method": f"MPC: iLQR over {MPC_HORIZON} steps, {MPC_ITERS} iterations "
                               f"every {MPC_EVERY} steps, kicked at step {KICK_STEP}",
                     "planned with": planner, "run on": HARD,
                     "iterations": MPC_ITERS * int(np.ceil(MPC_STEPS / MPC_EVERY)),
                     "derivative calls": "", "seconds": round(time.perf_counter() - t0, 2),
                     "final cost": "", **_errors_row(tasks[HARD], final),
                     "replayed on the other model": "", "adjoint amplification (largest)": ""})
    for row in rows:  # (the replay's errors as one cell)
        rep = row["replayed on the other model"]
        if rep:
            row["replayed on the other model"] = (f"{rep['position error (m)']:.3g} m, "
                                                  f"{rep['yaw error (deg)']:.3g} deg")
    return rows, plans, histories, tasks[HARD], mpc_runs


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run ilqr_push", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/ilqr_push", help="output folder (created)")
    p.add_argument("--iters", type=int, default=60, help="iLQR iterations at most (L-BFGS-B: 4x)")
    p.add_argument("--quick", action="store_true",
                   help="iLQR and the MPC planned with the smoothed model only (for tests)")
    p.add_argument("--animate", action="store_true", help="also write mpc.gif (top view)")
    args = p.parse_args(argv)
    out = out_dir(args.out)
    rows, plans, histories, task, mpc_runs = run(args.iters, args.quick)
    from viz.plots import plot_convergence
    f1 = plot_convergence(histories, os.path.join(out, "convergence.png"), "iteration / call",
                          "cost", "ilqr_push: cost per iteration")
    table = write_table(rows, out, "summary")
    np.savez(os.path.join(out, "result.npz"),
             **{f"{m}_{l}".replace(" ", "_"): U for (m, l), U in plans.items()},
             **{f"mpc_{p}_{k}".replace(" ", "_"): v for p, (arrays, applied) in mpc_runs.items()
                for k, v in (("pos", arrays["pos"]), ("quat", arrays["quat"]),
                             ("controls", applied))})
    print(table)
    written = {f1: "cost per iteration, per method and model",
               os.path.join(out, "summary.md"): "per method and model: iterations, time, final "
                                                "errors, own model and replayed (table)",
               os.path.join(out, "summary.csv"): "the same table as CSV",
               os.path.join(out, "result.npz"): "the plans and the MPC runs"}
    if args.animate:
        trajs = [as_trajectory(arrays) for arrays, _ in mpc_runs.values()]
        gif = series_gif(os.path.join(out, "mpc.gif"), task.model, trajs,
                         [f"MPC planned with {p}" for p in mpc_runs],
                         "ilqr_push: MPC on hard contact through a kick (top view)", view="xy")
        written[gif] = "the MPC runs on the hard model, kicked at step KICK_STEP, top view"
    write_index(out, "ilqr_push", __doc__, written, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
