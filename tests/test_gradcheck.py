"""gradcheck: verdicts on smooth losses, across impacts with and without time of impact, and the
jump detector on its own."""
import numpy as np
import pytest

import simcore as sc
from simcore.gradcheck import _jump

G, R = 9.81, 0.1


def drop(height, contact):
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, -G))
    scene.add_plane(friction=0.5)
    ball = scene.add_sphere(R, pos=(0, 0, R + height), friction=0.5, restitution=0.5)
    return scene.build(contact=contact), ball


def check(contact, height, steps=600, **kw):
    model, ball = drop(height, contact)
    return sc.gradcheck(model, model.initial_state(), steps, sc.losses.final(ball), "pos", ball,
                        2, **kw)


def test_free_flight_is_smooth_and_confirmed():
    r = check(sc.HardContact(), 3.0, steps=300)
    assert all(v == "smooth" for v in r.verdicts)
    assert r.verdict == "confirmed"
    assert abs(r.adjoint - 1.0) < 1e-12 and r.mode_switches.shape == (0, 5)
    assert len(r.rows()) == len(r.steps) and "confirmed" in str(r)


def test_time_of_impact_confirmed_across_event_steps():
    # one impact at ~0.32 s: wide stencils move it to other steps and the loss stays continuous
    r = check(sc.HardContact(), 0.5)
    assert r.mode_switches.shape[0] >= 2
    assert "kink inside stencil" in r.verdicts and "event in horizon" in r.verdicts
    assert "discontinuity" not in r.verdicts
    assert r.verdict == "confirmed", r.summary
    # closed form (1 + e) T / t* - (1 + 2e), T = 0.6 s, e = 0.5, up to O(h)
    tstar = np.sqrt(2 * 0.5 / G)
    assert abs(r.adjoint - (1.5 * 0.6 / tstar - 2.0)) < 0.05


@pytest.mark.parametrize("contact", [sc.HardContact(toi=False),
                                     sc.PenaltyContact(stiffness=1e4, damping=0.0)],
                         ids=["hard-notoi", "penalty"])
def test_the_trap_is_not_confirmed(contact):
    # a tiny step agrees with the adjoint, which is the slope within one piece only
    r = check(contact, 0.5)
    tiny = r.verdicts.index("event in horizon")
    assert r.rel_error[tiny] < 1e-6
    assert r.verdict == "local only", r.summary
    moved = [k for k, v in enumerate(r.verdicts) if v == "kink inside stencil"]
    assert r.rel_error[moved[-1]] > 0.05


def test_jump_detector():
    step = lambda x: x + (0.3 if x > 0.0123 else 0.0)  # noqa: E731
    steep = lambda x: 5.0 * x + 0.2 * np.sin(500 * x)  # noqa: E731  (slopes up to 105)
    assert _jump(step, 0.0, step(0.0), 0.1, step(0.1))
    assert not _jump(steep, 0.0, steep(0.0), 0.1, steep(0.1))
    # a jump far smaller than the change over the interval is still found
    tiny = lambda x: 50 * x + (1e-4 if x > 0.05 else 0.0)  # noqa: E731
    assert _jump(tiny, 0.0, tiny(0.0), 0.1, tiny(0.1))
    kink = lambda x: abs(x - 0.031) * 40  # noqa: E731
    assert not _jump(kink, 0.0, kink(0.0), 0.1, kink(0.1))


def test_bad_input():
    model, ball = drop(0.5, sc.HardContact())
    state, loss = model.initial_state(), sc.losses.final(ball)
    with pytest.raises(ValueError, match="body="):
        sc.gradcheck(model, state, 10, loss, "vel")
    with pytest.raises(ValueError, match="index"):
        sc.gradcheck(model, state, 10, loss, "vel", ball, 3)
    with pytest.raises(ValueError, match="fd_steps"):
        sc.gradcheck(model, state, 10, loss, "vel", ball, 2, fd_steps=(1e-3, -1e-4))
    with pytest.raises(ValueError, match="unknown variable"):
        sc.gradcheck(model, state, 10, loss, "colour", ball)


def test_range_limits_are_reported():
    # friction 0.5 - 1 leaves the range: those steps are marked and have no difference
    model, ball = drop(0.5, sc.HardContact())
    r = sc.gradcheck(model, model.initial_state(), 50, sc.losses.final(ball), "friction", ball,
                     fd_steps=(1.0, 1e-3))
    assert r.verdicts[0] == "outside the variable's range" and np.isnan(r.central[0])
    assert r.verdicts[1] == "smooth"


def test_losses_validate():
    with pytest.raises(ValueError, match="key"):
        sc.losses.final(1, "colour")
    with pytest.raises(ValueError, match="axis"):
        sc.losses.final(1, "pos", 3)
    with pytest.raises(ValueError, match="target"):
        sc.losses.final_distance(1, (0, 0))


def test_a_kink_at_the_point_is_named_with_both_slopes():
    from tests.test_grad import _level_capsule
    model, loss = _level_capsule()
    r = sc.gradcheck(model, model.initial_state(), 300, loss, "ang_vel", body=1, index=0)
    assert r.verdict == "kink at the point", r.summary
    assert "is their mean (kink='mean')" in r.summary
    r = sc.gradcheck(model, model.initial_state(), 300, loss, "ang_vel", body=1, index=0,
                     kink="left")
    assert r.verdict == "kink at the point" and "(one side)" in r.summary, r.summary
