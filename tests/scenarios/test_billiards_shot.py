"""billiards_shot: a struck ball slides, then rolls at 5/7 of its speed; with time of impact the
optimiser puts the object ball in the goal."""
import csv

import numpy as np
import pytest

import simcore as sc
from scenarios import billiards_shot as bs
from scenarios.__main__ import main as scenarios_main
from viz.animate import frame_count, frame_steps


@pytest.mark.parametrize("contact, tol", [
    (sc.HardContact(), 1e-9),                                   # 0.7142857142848 measured
    (sc.PenaltyContact(stiffness=1e5, damping=0.05, substeps=4), 1e-3),   # 0.71413
    (sc.SmoothedContact(kappa=1e-4), 1e-3),                     # 0.71471: smoothed friction
], ids=["hard TOI", "penalty", "smoothed"])
def test_a_ball_struck_without_spin_slides_then_rolls_at_five_sevenths(contact, tol):
    # the cue ball alone: shot away from the object ball, at 1 m/s without spin. Friction
    # mu g slows it and spins it up until v = w r, at t = 2 v0 / (7 mu g); the angular momentum
    # about the contact point is conserved, so it rolls on at 5/7 v0
    v0, mu, h = 1.0, np.sqrt(bs.MU_BALL * bs.MU_TABLE), bs.T / bs.STEPS
    t_roll = 2 * v0 / (7 * mu * bs.G_ACC)                       # 0.1456 s
    model, cue, obj = bs.build(contact, (v0, 0.0))
    traj = sc.rollout(model, model.initial_state(), 400, progress=False)
    v, w = traj.vel[:, cue, 0], traj.ang_vel[:, cue, 1]
    assert abs(v[-1] / v0 - 5 / 7) < tol
    assert abs(v[-1] - w[-1] * bs.R) < 1e-3                     # rolling: no slip
    assert np.abs(traj.vel[:, cue, 1]).max() < 1e-9             # straight
    assert np.abs(traj.pos[:, obj] - traj.pos[0, obj]).max() < 2e-4   # untouched
    if isinstance(contact, sc.HardContact):
        slip = np.abs(v - w * bs.R)
        # sliding until the step that contains t_roll, rolling from the next state on
        assert np.all(slip[:int(t_roll / h)] > 1e-3) and np.all(slip[int(t_roll / h) + 1:] < 1e-9)
        t = np.arange(401) * h
        x = np.where(t < t_roll, v0 * t - 0.5 * mu * bs.G_ACC * t ** 2,
                     v0 * t_roll - 0.5 * mu * bs.G_ACC * t_roll ** 2 + 5 / 7 * v0 * (t - t_roll))
        # within O(h): semi-implicit Euler lags by mu g h t / 2 while sliding (1.43e-4 measured)
        assert np.abs(traj.pos[:, cue, 0] - bs.A[0] - x).max() < 2e-4


def test_quick_run_puts_the_object_ball_in_the_goal_and_animates(tmp_path):
    assert scenarios_main(["run", "billiards_shot", "--quick", "--iters", "25", "--out",
                           str(tmp_path), "--animate"]) == 0
    for name in ("convergence.png", "paths.png", "summary.md", "summary.csv", "result.npz",
                 "index.md", "iterations.gif"):
        assert (tmp_path / name).stat().st_size > 0, name
    rows = {r["setting"]: r for r in csv.DictReader(open(tmp_path / "summary.csv"))}
    assert set(rows) == {"hard TOI", "smoothed kappa=1e-4"}
    hard = rows["hard TOI"]
    # 1.9e-23 measured (14 iterations, 17 evaluations) from the straight shot (-1.5, 0)
    assert float(hard["loss replayed with hard TOI (m^2)"]) < 1e-12
    assert hard["in goal"] == "yes"
    assert int(hard["iterations"]) >= 2                        # the start is far from it
    result = np.load(tmp_path / "result.npz")
    path = result["hard_TOI_path"]
    assert np.allclose(path[-1, 1], bs.GOAL, atol=1e-6)
    assert np.linalg.norm(path[0, 1] - bs.GOAL) > 0.4          # B itself is 0.5 m away
    # a cut: the optimum is not aimed at B's centre (the start was)
    v = np.array([float(hard["v0 x"]), float(hard["v0 y"])])
    assert abs(v[1] / v[0]) > 0.02
    # every 25th of 1000 steps and the last state: 41 frames (0, 25, ..., 1000)
    assert frame_count(tmp_path / "iterations.gif") == \
        len(frame_steps(bs.STEPS, bs.GIF_STRIDE)) == 41
    index = (tmp_path / "index.md").read_text()
    assert "iterations.gif" in index and "hard TOI" in index


@pytest.mark.parametrize("argv", [["--iters", "0"], ["--start", "nan", "0"],
                                  ["--start", "0", "0"]])
def test_bad_arguments_are_refused(argv, tmp_path):
    with pytest.raises(SystemExit) as e:
        bs.main(argv + ["--out", str(tmp_path)])
    assert e.value.code == 2
