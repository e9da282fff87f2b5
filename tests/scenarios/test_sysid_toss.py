"""sysid_toss runs end to end, recovers friction and restitution and reports the gradient check
at its stop."""
import csv

import numpy as np
import pytest

import simcore as sc
from scenarios import sysid_toss as st
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps


def test_sysid_toss_quick(tmp_path):
    assert scenarios_main(["run", "sysid_toss", "--quick", "--iters", "40", "--out",
                           str(tmp_path), "--animate"]) == 0
    check_outputs(tmp_path, ("convergence.png", "summary.md", "summary.csv", "result.npz",
                             "fits.gif"))
    # 600 steps in 100 frames at most: every 7th state and the last
    assert frame_count(tmp_path / "fits.gif") == \
        len(frame_steps(st.STEPS, max_frames=GIF_FRAMES)) == 87
    (row,) = list(csv.DictReader(open(tmp_path / "summary.csv")))
    hist = np.load(tmp_path / "result.npz")["hard_TOI_history"]
    assert hist[-1] < 1e-5  # 6.5e-3 -> 2.97e-6 measured, at the noise floor (2.98e-6)
    # both recovered: friction 0.64 -> 0.1601 (true 0.16), restitution 0.2 -> 0.4999 (0.5)
    assert abs(float(row["friction (box)"]) - 0.16) < 0.005
    assert abs(float(row["restitution"]) - 0.5) < 0.01
    assert row["gradcheck at the optimum (friction)"]  # the check ran and wrote its verdict


def test_sysid_toss_recovers_from_a_start_above_the_truth():
    # from (0.5, 0.5) the fit reaches the truth as from the default start (measured: friction
    # 0.16014, restitution 0.49989, loss 2.98e-6 after 30 evaluations); it stopped short while
    # a pair with the ground kept its start-of-step contact points at an impact
    recorded, _ = st.reference(1e-3)
    x, history, _ = st.fit(st.settings(quick=True)["hard TOI"], recorded, 40, start=(0.5, 0.5))
    assert abs(x[0] - 0.16) < 0.005 and abs(x[1] - 0.5) < 0.01, x
    assert history[-1] < 1e-5


@pytest.mark.xfail(strict=True, reason="the impact time is the root of the contact point's "
                   "start-of-step parabola, which leaves out the turn of the tumbling box's "
                   "corner: its parabola closes at the end of step 270 while the corner is "
                   "still 1.1e-5 m above the ground, and 1e-16 more friction moves the impact "
                   "to step 271: the loss jumps by 2.5e-5 (docs/known-limits.md)")
def test_sysid_toss_loss_is_continuous_where_an_impact_changes_step():
    # (with --runxfail the message gives both losses, and step 270's impact time and the
    # corner's gap at it, for the lower friction)
    import dataclasses

    from tests.test_grad import _hard_step
    recorded, _ = st.reference(1e-3)
    e = 0.4998901560651763
    losses, trajs = [], []
    for mu in (0.16784149420832567, 0.16784149420832578):
        model, box = st.build(sc.HardContact(), mu, e)
        trajs.append(sc.rollout(model, model.initial_state(), st.STEPS))
        losses.append(st.fit_loss(recorded, box)(trajs[-1])[0])
    model, _ = st.build(sc.HardContact(), 0.16784149420832567, e)
    t, traj = 270, trajs[0]
    d, _ = _hard_step(model, dataclasses.replace(model.initial_state(), pos=traj.pos[t],
                                                 quat=traj.quat[t], vel=traj.vel[t],
                                                 ang_vel=traj.ang_vel[t]))
    assert abs(losses[1] - losses[0]) < 1e-9, (losses, d.con_toi[0], d.con_dist[0])
