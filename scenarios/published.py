"""published: gradient cases from papers and issue reports, side by side with the numbers their
authors reported and simcore's adjoint for each contact setting.

Cases (all elastic and frictionless; dt = 1 ms):

- **zhong2022_task1** (Zhong et al. 2022, "Improving gradient computation for differentiable
  physics simulation with contacts", task 1): one elastic bounce on the ground without gravity,
  horizon T = 1 s; loss: the final height. Analytic gradients in the initial height, the initial
  vertical velocity and the first step's vertical force (unit mass): -1, -T = -1 and -T dt = -dt.
  The paper reports these analytic values and that simulators without time of impact miss them.
  Our setup: ball radius 0.1 m, bottom 1 m above the ground, falling at 2 m/s.
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

import simcore as sc
from scenarios._common import out_dir, parallel_map, sweep_gif, write_index, write_table

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
    finals, grads = np.array(parallel_map(one, heights, what="Brax sweep drops")).T
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


CASES = {"zhong2022_task1": zhong_task1, "difftaichi_toi": difftaichi_toi,
         "nimble_issue97": nimble_issue97, "brax_issue317": brax_issue317}


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
