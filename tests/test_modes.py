"""Contact modes and margins recorded on the Trajectory, and reported with the gradient."""
import numpy as np
import pytest

import simcore as sc
from simcore.losses import final

MODES = sc.Trajectory.MODES
G = 9.81


def _sliding_box(contact, v0=2.0, mu=0.4):
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, -G))
    scene.add_plane(friction=1.0)
    scene.add_box((0.1, 0.1, 0.1), mass=1.0, pos=(0, 0, 0.1), vel=(v0, 0, 0), friction=mu * mu)
    return scene.build(contact=contact)


def test_records_line_up_with_the_contact_counts():
    # a box (four contacts) and a sphere on the ground for 2000 steps: more than the record's
    # first capacity, so it grows on the way
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.1))
    scene.add_sphere(0.1, pos=(1, 0, 0.1))
    model = scene.build(contact=sc.HardContact())
    traj = sc.rollout(model, model.initial_state(), 2000)
    assert np.array_equal(np.diff(traj.contact_offsets), traj.ncon)
    assert traj.contact_mode.size == traj.ncon.sum() == 5 * 2000
    bodies, modes, margins = traj.contacts(1999)
    assert sorted(map(tuple, bodies)) == [(1, 0)] * 4 + [(2, 0)]
    assert set(modes) == {"sticking"}
    # at rest, the least of the normal impulse lambda_n A_nn and the friction's mu lambda_n
    # A_tt. The sphere: lambda_n = m g h, A_nn = 1/m, A_tt = 1/m + r^2 / I = 3.5 / m: g h.
    # Each box corner (the regularisation splits the weight evenly): lambda_n = m g h / 4,
    # A_nn = A_tt = 4 / m for a cube's corner, mu = 0.5: mu g h
    assert margins[-1] == pytest.approx(G * 1e-3, rel=1e-6)
    assert margins[:4] == pytest.approx(np.full(4, 0.5 * G * 1e-3), rel=1e-3)


@pytest.mark.parametrize("contact", [sc.HardContact(), sc.SmoothedContact(kappa=1e-8),
                                     sc.PenaltyContact(stiffness=1e6, damping=10.0, substeps=4,
                                                       friction_smoothing=1e-3)],
                         ids=["hard", "smoothed", "penalty"])
def test_a_sliding_box_switches_to_sticking_when_it_stops(contact):
    v0, mu = 2.0, 0.4
    model = _sliding_box(contact, v0, mu)
    traj = sc.rollout(model, model.initial_state(), 800)
    stop = v0 / (mu * G) / model.opt_dt   # steps until it stops
    _, modes, margins = traj.contacts(100)
    assert set(modes) == {"sliding"}
    if model.opt_contact == sc.model.consts.CONTACT_HARD:
        # sliding: the least of the slip speed v0 - mu g t and the normal impulse's margin
        assert np.all(margins > 0) and np.all(margins <= v0 - mu * G * 0.101 + 1e-9)
    assert set(traj.contacts(700)[1]) == {"sticking"}
    switches = traj.mode_switches()
    to_stick = switches[(switches[:, 3] == MODES.index("sliding"))
                        & (switches[:, 4] == MODES.index("sticking"))]
    assert len(to_stick) >= 1
    assert abs(to_stick[0, 0] - stop) < 0.02 * stop
    assert np.all(to_stick[:, 1:3] == (1, 0))


def test_gradient_reports_the_smallest_margin_and_the_switches():
    model = _sliding_box(sc.HardContact())
    steps = 800

    loss = final(1, "pos", 0)
    _, grad = sc.value_and_grad(model, model.initial_state(), steps, loss)
    traj = sc.rollout(model, model.initial_state(), steps)
    margin, step, bodies = traj.smallest_margin()
    assert grad.min_margin == margin and grad.min_margin_at == (step, bodies)
    assert bodies == (1, 0)
    # the box stops within a step: the slip speed passes near zero there
    assert margin < 4e-3 and abs(step - 2.0 / (0.4 * G) / 1e-3) < 15
    assert np.array_equal(grad.mode_switches, traj.mode_switches())


def test_touching_without_load_is_weakly_active():
    # a ball resting on the ground without gravity: zero impulse and zero separation speed
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    model = scene.build(contact=sc.HardContact())

    loss = final(1, "pos", 2)
    _, grad = sc.value_and_grad(model, model.initial_state(), 10, loss)
    traj = sc.rollout(model, model.initial_state(), 10)
    assert set(traj.contacts(5)[1]) == {"weakly active"}
    assert grad.min_margin == 0.0
    assert np.isfinite(grad.pos).all()


def test_penalty_margin_is_the_gap_per_step():
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1005), vel=(0, 0, -1))
    model = scene.build(contact=sc.PenaltyContact(stiffness=1e5))
    traj = sc.rollout(model, model.initial_state(), 3)
    bodies, modes, margins = traj.contacts(0)
    assert modes == ["separated"]
    # the gap at the step's start, 0.5 mm, closed per step of 1 ms
    assert margins[0] == pytest.approx(0.5, rel=1e-9)
