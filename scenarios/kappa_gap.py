"""kappa_gap: how far SmoothedContact(kappa) trajectories are from the hard model, per kappa.

Three scenes, each rolled out with HardContact(toi=False) (the limit the smoothed model tends to;
no restitution, which the smoothed model does not model) and with SmoothedContact for a range
of kappa: a ball dropped onto the ground (it lands and stays: e = 0), a box sliding to rest, and
a spinning box tossed onto the ground (it tumbles, bounces on its corners, slides). The gap is
the largest distance between the two models' body centres over the whole rollout.

    python -m scenarios run kappa_gap [--out DIR] [--quick] [--animate]
                                      [--executor threads|processes|dask] [--workers N]
"""
import argparse
import os
import sys

import numpy as np

import simcore as sc
from scenarios._common import (add_sweep_arguments, out_dir, parallel_map, series_gif,
                               write_index, write_table)

DT = 1e-3
KAPPAS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)


def drop_scene():
    """A 1 kg ball of radius 0.1 dropped from 0.5 m."""
    scene = sc.Scene(dt=DT)
    scene.add_plane(friction=0.5)
    scene.add_sphere(0.1, mass=1.0, pos=(0, 0, 0.6), friction=0.5)
    return scene


def slide_scene():
    """A 1 kg box (0.2 x 0.2 x 0.1 m) on the ground launched at 2 m/s, mu = 0.5."""
    scene = sc.Scene(dt=DT)
    scene.add_plane(friction=0.5)
    scene.add_box((0.1, 0.1, 0.05), mass=1.0, pos=(0, 0, 0.05), vel=(2.0, 0, 0), friction=0.5)
    return scene


def toss_scene():
    """A 1 kg box (0.2 x 0.1 x 0.06 m) tossed up and sideways, spinning, onto the ground."""
    scene = sc.Scene(dt=DT)
    scene.add_plane(friction=0.5)
    scene.add_box((0.1, 0.05, 0.03), mass=1.0, pos=(0, 0, 0.3), vel=(1.5, 0.0, 1.0),
                  ang_vel=(3.0, 5.0, 2.0), friction=0.5)
    return scene


SCENES = {"drop": (drop_scene, 600), "slide": (slide_scene, 600), "toss": (toss_scene, 1000)}


def build(scene="drop", kappa=None):
    """The named scene's model, smoothed with ``kappa``, or hard (toi=False) when kappa is None."""
    contact = sc.HardContact(toi=False) if kappa is None else sc.SmoothedContact(kappa=kappa)
    return SCENES[scene][0]().build(contact=contact)


def run(job):
    """One rollout of the study, ``(scene name, kappa or None)``: its Trajectory."""
    name, kappa = job
    model = build(name, kappa)
    return sc.rollout(model, model.initial_state(), SCENES[name][1], progress=False)


def loss(traj, reference):
    """Largest distance between body centres of two trajectories of the same scene."""
    return float(np.linalg.norm(traj.pos - reference.pos, axis=2).max())


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m scenarios run kappa_gap", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/kappa_gap", help="output folder (created)")
    p.add_argument("--quick", action="store_true", help="three kappa only (for tests)")
    p.add_argument("--animate", action="store_true",
                   help="also write toss.gif: the toss, hard against each kappa (the drop's and "
                        "the slide's gaps, 1.3 cm at most, would hardly show)")
    add_sweep_arguments(p, "rollouts")
    args = p.parse_args(argv)
    out = out_dir(args.out)
    from viz.plots import plot_lines

    kappas = KAPPAS[::2] if args.quick else KAPPAS
    gaps = {name: [] for name in SCENES}
    rows, tosses = [], {}
    jobs = [(name, kappa) for name in SCENES for kappa in (None, *kappas)]
    trajs = dict(zip(jobs, parallel_map(run, jobs, args, what="rollouts")))
    for name, (_, steps) in SCENES.items():
        ref = trajs[name, None]
        if name == "toss":
            tosses["hard (toi=False)"] = ref
        for kappa in kappas:
            traj = trajs[name, kappa]
            gaps[name].append(loss(traj, ref))
            if name == "toss":
                tosses[f"kappa={kappa:g}"] = traj
            rows.append({"scene": name, "kappa": kappa, "steps": steps,
                         "max centre gap to hard (m)": gaps[name][-1],
                         "final centre gap (m)": float(np.linalg.norm(
                             traj.pos[-1] - ref.pos[-1], axis=1).max()),
                         "solver failures": int(traj.solver_failures.sum()),
                         "largest residual": float(traj.solver_residual.max())})
    wide = [{"kappa": k, **{f"{n} gap (m)": gaps[n][i] for n in SCENES}}
            for i, k in enumerate(kappas)]
    table = write_table(wide, out, "kappa_gap")
    write_table(rows, out, "kappa_gap_detail")
    fig = plot_lines(np.array(kappas), {n: np.array(g) for n, g in gaps.items()},
                     os.path.join(out, "kappa_gap.png"), "kappa (J)",
                     "largest centre distance to HardContact(toi=False) (m)",
                     "SmoothedContact approaches the hard model", markers=True, loglog=True)
    np.savez(os.path.join(out, "kappa_gap.npz"), kappas=np.array(kappas),
             **{n: np.array(g) for n, g in gaps.items()})
    print(table)
    written = {fig: "largest centre gap to the hard model against kappa, per scene",
               os.path.join(out, "kappa_gap.md"): "the gaps, a column per scene (table)",
               os.path.join(out, "kappa_gap.csv"): "the same table as CSV",
               os.path.join(out, "kappa_gap_detail.md"):
                   "per scene and kappa: largest and final gap, solver failures and residual",
               os.path.join(out, "kappa_gap_detail.csv"): "the same table as CSV",
               os.path.join(out, "kappa_gap.npz"): "kappas and the gaps per scene"}
    if args.animate:
        gif = series_gif(os.path.join(out, "toss.gif"), build("toss"), list(tosses.values()),
                         list(tosses), "kappa_gap: the toss, hard and smoothed per kappa")
        written[gif] = "the toss rolled out with the hard model and with each kappa"
    write_index(out, "kappa_gap", __doc__, written, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
