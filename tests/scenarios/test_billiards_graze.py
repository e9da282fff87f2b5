"""billiards_graze: its closed form, and a small sweep end to end."""
import csv

import numpy as np

import simcore as sc
from scenarios import billiards_graze as bg
from scenarios.__main__ import main as scenarios_main
from scenarios._common import GIF_FRAMES
from tests.helpers import check_outputs
from viz.animate import frame_count, frame_steps


def test_closed_form_matches_its_own_differences_and_the_known_values():
    r, V = bg.RADIUS, bg.V
    b = np.array([0.0, 0.3, 0.7, 1.0, 1.5, 1.9, 1.99, 1.9999, 2.05, 2.4]) * r
    for e in (1.0, 0.5, 0.0):
        vy, dvy = bg.closed_form(b, e)
        h = 1e-9
        fd = (bg.closed_form(b + h, e)[0] - bg.closed_form(b - h, e)[0]) / (2 * h)
        assert np.allclose(dvy, fd, rtol=1e-6, atol=1e-6)
    vy, dvy = bg.closed_form(b, 1.0)
    assert abs(dvy[0] + V / (2 * r)) < 1e-12  # head-on: -V / (2r)
    assert abs(vy[3] + V * np.sqrt(3) / 4) < 1e-12  # b = r: theta = 30 deg
    assert abs(bg.closed_form(np.sqrt(2) * r)[1][0]) < 1e-9  # theta = 45 deg: the extreme
    assert np.all(vy[b > 2 * r] == 0) and np.all(dvy[b > 2 * r] == 0)
    assert abs(bg.closed_form(2 * r * (1 - 1e-12))[0][0]) < 1e-5  # continuous at grazing
    # elastic: B takes the normal velocity, A keeps the tangential one; energy is conserved
    th = np.arcsin(b[b < 2 * r] / (2 * r))
    vbx, vby = V * np.cos(th) ** 2, vy[b < 2 * r]
    assert np.allclose((V - vbx) ** 2 + vby ** 2 + vbx ** 2 + vby ** 2, V * V)
    # plastic (e = 0): half the elastic exit velocity
    assert np.allclose(bg.closed_form(b, 0.0)[0], vy / 2)


def test_quick_study_writes_its_outputs_and_the_hard_adjoint_follows_the_closed_form(tmp_path):
    out = tmp_path / "bg"
    assert scenarios_main(["run", "billiards_graze", "--quick", "--out", str(out),
                           "--workers", "2", "--animate"]) == 0
    check_outputs(out, ("loss.png", "gradients.png", "gradient_error.png", "summary.md",
                        "summary.csv", "sweep.npz", "sweep.gif"))
    # 1000 steps in 100 frames at most: every 11th state and the last
    assert frame_count(out / "sweep.gif") == len(frame_steps(bg.STEPS, max_frames=GIF_FRAMES)) \
        == 92
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert {r["region"] for r in rows} == set(bg.REGIONS)
    sweep = np.load(out / "sweep.npz")
    B, closed = sweep["impact"], sweep["closed_e1"]
    region = bg.region_of(B)
    err = np.abs(sweep["hard_TOI_adjoint"] - closed)
    head_on = region == "head-on"
    assert head_on.sum() >= 3 and err[head_on].max() < 1e-3  # measured 1.8e-4
    assert err[region == "oblique"].max() < 0.015  # measured 9.7e-3 (O(h): halves with dt)
    assert np.all(sweep["hard_TOI_adjoint"][region == "no contact"] == 0)
    # plain time stepping: exact for its own map, wrong by O(1) across the impact
    no_toi = np.abs(sweep["hard_no_TOI_adjoint"] - closed)
    assert no_toi[region == "oblique"].max() > 0.25  # measured 1.88


def test_hard_adjoint_at_an_exactly_head_on_impact():
    # regression: with mu = 0 and a tangential velocity of exactly 0 the contact was
    # differentiated as sticking (-4.2947 for -5)
    model, a, ball = bg.build(0.0, sc.HardContact(restitution_threshold=1e-3))
    _, grad = sc.value_and_grad(model, model.initial_state(), bg.STEPS,
                                lambda tr: bg.loss(tr, ball), progress=False)
    # b = 1e-9 gives -5.00000, and so do central differences at b = 0 with steps 1e-7..1e-4
    assert abs(grad.pos[a, 1] + bg.V / (2 * bg.RADIUS)) < 1e-3
