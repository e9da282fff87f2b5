"""published: gradient cases from papers and issue reports, side by side with the numbers their
authors reported and simcore's adjoint for each contact setting.

Cases (all elastic and frictionless; dt = 1 ms):

- **zhong2022_task1** (Zhong, Han and Brikis 2022, "Differentiable physics simulations with
  contacts: do they have correct gradients w.r.t. position, velocity and control?", arXiv
  2207.05060, code: DesmondZhong/diff_sim_grads, task1_bounce_once): one elastic bounce on the
  ground without gravity, horizon T = 1 s; loss: the final height. Analytic gradients in the
  initial height, the initial vertical velocity and the first step's vertical force (unit
  mass): -1, -T = -1 and -T dt = -dt. The paper reports these analytic values and that
  simulators without time of impact miss them. Our setup: ball radius 0.1 m, bottom 1 m above
  the ground, falling at 2 m/s.
- **zhong2022_task3** (the same paper, task 3; task3_two_balls in their code): optimal control
  through a collision. No gravity; two equal balls (1 kg, r = 0.2 m) at rest at (-2, -2) and
  (-1, -1) m; a force u_k (x and y) pushes the first ball at every step, and the second should
  end at the origin at T = 1 s: loss |x2(T)|^2 + eps sum_k |u_k|^2 dt, eps = 0.1. Head-on and
  elastic, the struck ball leaves with the speed V the pushed one has at the collision time s;
  for given (s, V) the cheapest push is linear in time along the line of centres,
  u(t) = 6D/s^2 - 2V/s + (6V/s^2 - 12D/s^3) t up to s and zero after (D = sqrt(2) - 2r, the gap
  to close), with effort 4V^2/s - 12VD/s^2 + 12D^2/s^3. The loss is then quadratic in V and s
  is found in 1D. Analytic optimum: loss 1.396542 (the paper's value) at s = 0.6832 s,
  V = 2.554 m/s. Our setup is theirs but for the step (1 ms; theirs 1/480 s) and 3D balls in
  z = 0. L-BFGS-B on the 2 x 1000 forces starts, as their gradient descent does, from
  u = (3, 3) N. Reported: the loss reached; the loss of the analytic controls u*(t_k) (sampled
  at each step's start) in the same simulator; the relative L2 error of the reached controls
  against u*(t_k); the reached plan's collision time (back along the struck ball's final
  motion); the iterations. (The authors' 2023 follow-up, "Improving gradient computation for
  differentiable physics simulation with contacts", L4DC, arXiv 2305.00092, code
  DesmondZhong/diff_sim_improve_grads, poses a variant whose optimal collision is oblique: the
  first ball at (-1, -2), eps = 0.01. It is not reproduced here.)
- **difftaichi_toi** (Hu et al. 2020, DiffTaichi, section on time of impact): a ball moving at
  constant velocity onto the ground; d(final height)/d(initial height) is -1, where naive time
  stepping gives +1. Our setup: radius 0.1 m, bottom 0.5 m up, falling at 1 m/s, T = 1 s.
- **nimble_issue97** (keenon/nimblephysics issue 97): two equal balls (1 kg, r = 0.1 m), x1 = 0
  moving at v0 = 1 m/s onto x2 = 0.52 m at rest, T = 1 s; the final x of the second ball has
  gradient (1, 0, 1, 0) in (x1, x2, v0, u0); the issue reports (0.75, 0.25, 0.91, 0.08).
- **brax_issue317** (google/brax issue 317): an elastic ball falling at constant speed onto the
  ground without gravity, initial height swept over 2.9..3.0 m, T = 1 s: the final height must
  be continuous with slope -1 (the issue shows it discontinuous, with the wrong local slope).
  The issue's speed is not in its text; ours: 5 m/s, radius 0.1 m. Reported here: the slope of
  a straight-line fit of the final heights, the largest step between neighbouring heights
  against the expected |slope| x spacing, the range of the adjoint over the sweep, and
  ``simcore.gradcheck``'s verdict inside the sweep.

The smoothed model has no restitution, so it is not run on these elastic cases.

    python -m scenarios run published [--out DIR] [--quick] [--animate]
"""
import argparse
import dataclasses
import os
import sys

import numpy as np
import scipy.optimize

import simcore as sc
from scenarios._common import out_dir, sweep, sweep_gif, write_index, write_table

DT = 1e-3
R = 0.1


def settings():
    return {"hard TOI": sc.HardContact(), "hard no TOI": sc.HardContact(toi=False),
            "penalty k=1e5": sc.PenaltyContact(stiffness=1e5, damping=0.0)}


def falling_ball(contact, height, speed):
    """No gravity: a ball whose bottom is ``height`` above the ground, falling at ``speed``."""
    scene = sc.Scene(dt=DT, gravity=(0, 0, 0))
    scene.add_plane(friction=0.0, restitution=1.0)
    ball = scene.add_sphere(R, mass=1.0, pos=(0, 0, R + height), vel=(0, 0, -speed),
                            friction=0.0, restitution=1.0)
    return scene.build(contact=contact), ball


def two_balls(contact):
    """Nimble issue 97: returns (model, blue, green)."""
    scene = sc.Scene(dt=DT, gravity=(0, 0, 0))
    blue = scene.add_sphere(R, mass=1.0, pos=(0, 0, 0), vel=(1, 0, 0), friction=0.0,
                            restitution=1.0)
    green = scene.add_sphere(R, mass=1.0, pos=(0.52, 0, 0), friction=0.0, restitution=1.0)
    return scene.build(contact=contact), blue, green


def zhong_task1(contact):
    model, ball = falling_ball(contact, 1.0, 2.0)
    steps = 1000
    _, g = sc.value_and_grad(model, model.initial_state(), steps, sc.losses.final(ball),
                             controls=np.zeros((steps, model.nbody, 6)))
    return [("d z_T / d z_0", -1.0, "-1 (analytic)", g.pos[ball, 2]),
            ("d z_T / d v_0", -1.0, "-1 (analytic)", g.vel[ball, 2]),
            ("d z_T / d u_0 (first force)", -DT, "-dt (analytic)", g.controls[0, ball, 2])]


def difftaichi_toi(contact):
    model, ball = falling_ball(contact, 0.5, 1.0)
    _, g = sc.value_and_grad(model, model.initial_state(), 1000, sc.losses.final(ball))
    return [("d z_T / d z_0", -1.0, "+1 naive, -1 with TOI", g.pos[ball, 2])]


def nimble_issue97(contact):
    model, blue, green = two_balls(contact)
    _, g = sc.value_and_grad(model, model.initial_state(), 1000, sc.losses.final(green, "pos", 0))
    reported = (0.75, 0.25, 0.91, 0.08)
    names = (("d x_f / d x1", g.pos[blue, 0]), ("d x_f / d x2", g.pos[green, 0]),
             ("d x_f / d v0", g.vel[blue, 0]), ("d x_f / d u0", g.vel[green, 0]))
    return [(name, exact, f"{rep:g} (Nimble)", val)
            for (name, val), exact, rep in zip(names, (1.0, 0.0, 1.0, 0.0), reported)]


def brax_issue317(contact, n=201):
    heights = np.linspace(2.9, 3.0, n)
    model, ball = falling_ball(contact, heights[0], 5.0)
    state0 = model.initial_state()

    def one(h):
        state = dataclasses.replace(state0, pos=state0.pos.copy())
        state.pos[ball, 2] = R + h
        v, g = sc.value_and_grad(model, state, 1000, sc.losses.final(ball))
        return v, g.pos[ball, 2]
    finals, grads = np.array(sweep(one, heights, what="Brax sweep drops")).T
    slope = np.polyfit(heights, finals, 1)[0]
    spacing = heights[1] - heights[0]
    worst_step = np.max(np.abs(np.diff(finals))) / spacing
    state = dataclasses.replace(state0, pos=state0.pos.copy())
    state.pos[ball, 2] = R + 2.9537  # not a multiple of the 5 mm a step covers
    check = sc.gradcheck(model, state, 1000, sc.losses.final(ball), "pos", ball, 2,
                         fd_steps=(1e-2, 1e-3, 1e-4, 1e-6, 1e-8))
    return [("slope of a line fit to z_T(z_0)", -1.0, "-1 on average", slope),
            ("largest step / spacing between neighbours", 1.0, "discontinuous", worst_step),
            ("adjoint, lowest over the sweep", -1.0, "", grads.min()),
            ("adjoint, highest over the sweep", -1.0, "", grads.max()),
            ("gradcheck verdict at z_0 = 2.9537", "confirmed", "", check.verdict)]


# Zhong et al. 2022, task 3: per-step forces on one ball, through a collision, to a target
T3_R, T3_EPS, T3_U0, T3_STEPS = 0.2, 0.1, 3.0, 1000  # radius, effort weight, start push, T = 1 s
T3_GAP = np.sqrt(2.0) - 2 * T3_R  # the distance the pushed ball covers to touch the other
T3_TARGET = np.sqrt(2.0)  # the distance from the struck ball to the target, the origin
PAPER_T3 = 1.396542  # the analytic optimal loss in the paper's code (analyze_two_balls_1.ipynb)


def zhong3_scene(contact):
    """Task 3's scene: returns (model, pushed, struck)."""
    scene = sc.Scene(dt=DT, gravity=(0, 0, 0))
    pushed = scene.add_sphere(T3_R, mass=1.0, pos=(-2, -2, 0), friction=0.0, restitution=1.0)
    struck = scene.add_sphere(T3_R, mass=1.0, pos=(-1, -1, 0), friction=0.0, restitution=1.0)
    return scene.build(contact=contact), pushed, struck


def zhong3_cost(s, T=1.0):
    """(best loss, best speed V) for a collision at time s (array or float): the loss
    (Q - V (T - s))^2 + eps (4V^2/s - 12 V D/s^2 + 12 D^2/s^3) of the struck ball leaving at V
    (Q = sqrt(2) m from the target, D the gap to close), at its minimum over V."""
    a = (T - s) ** 2 + 4 * T3_EPS / s
    b = -2 * T3_TARGET * (T - s) - 12 * T3_EPS * T3_GAP / s ** 2
    c = T3_TARGET ** 2 + 12 * T3_EPS * T3_GAP ** 2 / s ** 3
    V = -b / (2 * a)
    return a * V * V + b * V + c, V


def zhong3_optimum(T=1.0):
    """The analytic optimum: (loss, collision time s, speed V, u) with u(t) -> (len(t), 2) the
    optimal x and y forces (zero from the collision on)."""
    grid = np.linspace(1e-3, T - 1e-3, 2001)
    k = int(np.argmin(zhong3_cost(grid, T)[0]))
    res = scipy.optimize.minimize_scalar(lambda s: zhong3_cost(s, T)[0], method="bounded",
                                         bounds=(grid[max(k - 1, 0)], grid[min(k + 1, 2000)]),
                                         options={"xatol": 1e-12})
    s = float(res.x)
    loss, V = zhong3_cost(s, T)
    D = T3_GAP

    def u(t):
        t = np.asarray(t, dtype=np.float64)
        along = np.where(t < s, 6 * D / s ** 2 - 2 * V / s + (6 * V / s ** 2 - 12 * D / s ** 3) * t,
                         0.0)
        return np.repeat(along[:, None] / np.sqrt(2.0), 2, axis=1)  # along (1, 1) / sqrt(2)
    return float(loss), s, float(V), u


def zhong3_objective(contact):
    """(f, model, pushed, struck): f(u) -> (loss, gradient), u (steps, 2) the pushed ball's x and
    y forces per step. The effort term is not a function of the trajectory, so it is added here
    (and sc.Problem, whose variables are all six control entries, is not used)."""
    model, pushed, struck = zhong3_scene(contact)
    state = model.initial_state()
    terminal = sc.losses.final_distance(struck, (0.0, 0.0, 0.0))

    def controls(u):
        U = np.zeros((T3_STEPS, model.nbody, 6))
        U[:, pushed, :2] = u
        return U

    def f(u):
        u = np.asarray(u, dtype=np.float64).reshape(T3_STEPS, 2)
        value, g = sc.value_and_grad(model, state, T3_STEPS, terminal, controls=controls(u))
        return (value + T3_EPS * DT * np.sum(u * u),
                g.controls[:, pushed, :2] + 2 * T3_EPS * DT * u)
    f.controls = controls
    return f, model, pushed, struck


def zhong_task3(contact, maxiter=200):
    loss_opt, s_opt, _, u_opt = zhong3_optimum()
    f, model, pushed, struck = zhong3_objective(contact)
    u_star = u_opt(np.arange(T3_STEPS) * DT)  # sampled at each step's start

    def flat(x):
        value, g = f(x)
        return value, g.ravel()
    # tolerances below what the loss resolves: it stops on its own (see docs/scenarios.md)
    res = scipy.optimize.minimize(flat, np.full(2 * T3_STEPS, T3_U0), jac=True,
                                  method="L-BFGS-B",
                                  options={"maxiter": maxiter, "gtol": 1e-10, "ftol": 1e-14})
    u = res.x.reshape(T3_STEPS, 2)
    traj = sc.rollout(model, model.initial_state(), T3_STEPS, f.controls(u), progress=False)
    moved = np.linalg.norm(traj.pos[-1, struck] - traj.pos[0, struck])
    speed = np.linalg.norm(traj.vel[-1, struck])
    s_hit = T3_STEPS * DT - moved / speed if speed > 0 else np.nan  # back along its path
    return [("loss reached (L-BFGS-B from u = (3, 3) N)", loss_opt,
             f"{PAPER_T3} analytic; DiffTaichi 1.3958 with TOI, 2.0014 without", f(res.x)[0]),
            ("loss of the analytic controls u*(t_k)", loss_opt, "", f(u_star)[0]),
            ("relative L2 error of the controls to u*", 0.0, "a figure in the paper",
             np.linalg.norm(u - u_star) / np.linalg.norm(u_star)),
            ("collision time of the reached plan (s)", s_opt, "", s_hit),
            ("L-BFGS-B iterations", "", "1000 gradient steps", res.nit)]


CASES = {"zhong2022_task1": zhong_task1, "zhong2022_task3": zhong_task3,
         "difftaichi_toi": difftaichi_toi, "nimble_issue97": nimble_issue97,
         "brax_issue317": brax_issue317}


def run(quick=False):
    """Rows of the table: one per (case, quantity), a column per contact setting."""
    rows = []
    for case, fn in CASES.items():
        per_setting = {}
        for label, contact in settings().items():
            per_setting[label] = fn(contact, 37) if (quick and fn is brax_issue317) \
                else fn(contact)
        for j, (quantity, exact, reported, _) in enumerate(per_setting["hard TOI"]):
            row = {"case": case, "quantity": quantity, "exact": exact,
                   "reported by others": reported}
            for label, vals in per_setting.items():
                value = vals[j][3]
                row[label] = value if isinstance(value, str) else float(value)
            rows.append(row)
    return rows


def animate_balls(path):
    """A GIF of the falling-ball cases (Zhong task 1, DiffTaichi, Brax issue 317 at z_0 = 2.95
    m) with hard contact and time of impact, side by side 1.2 m apart in x (no gravity,
    frictionless ground: the offset changes nothing). Nimble's two balls, a scene of their own,
    are not drawn."""
    cases = (("Zhong task 1", 1.0, 2.0), ("DiffTaichi", 0.5, 1.0), ("Brax 317", 2.95, 5.0))
    runs = []
    for k, (_, height, speed) in enumerate(cases):
        model, ball = falling_ball(sc.HardContact(), height, speed)
        state = model.initial_state()
        state.pos[ball, 0] = 1.2 * k
        runs.append((model, state))
    return sweep_gif(path, runs, 1000,
                     [f"{name}: {h:g} m at {v:g} m/s" for name, h, v in cases],
                     "published: the falling-ball cases, hard TOI")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run published", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/published", help="output folder (created)")
    p.add_argument("--quick", action="store_true", help="a coarser Brax sweep (for tests)")
    p.add_argument("--animate", action="store_true",
                   help="also write balls.gif: the falling-ball cases (Zhong task 1, "
                        "DiffTaichi, Brax issue 317) with hard contact and time of impact")
    args = p.parse_args(argv)
    out = out_dir(args.out)
    rows = run(args.quick)
    table = write_table(rows, out, "published")
    print(table)
    written = {os.path.join(out, "published.md"):
               "per case and quantity: the exact value, the reported one and each setting's",
               os.path.join(out, "published.csv"): "the same table as CSV"}
    if args.animate:
        written[animate_balls(os.path.join(out, "balls.gif"))] = \
            "the falling-ball cases side by side, hard contact with time of impact"
    write_index(out, "published", __doc__, written, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
