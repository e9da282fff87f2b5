"""A rollout never returns a lie: every step's state is checked, the last one too, against
non-finite values, the scene's max_speed and the energy the scene can explain."""
import numpy as np
import pytest

import simcore as sc


def _corner_throw():
    # a ball thrown into the corner of the ground and a wall with PenaltyContact(1e5) at
    # dt = 2.08 ms: the explicit spring passes its stability check (h^2 k / m = 0.43) but the
    # corner's two contacts gain energy tenfold by step 138 (28 m/s, from a start of 7.8 m/s)
    scene = sc.Scene(dt=0.6 / 288, gravity=(0, 0, -9.8))
    scene.add_plane(friction=0.0, restitution=0.92)
    scene.add_plane(normal=(-1, 0, 0), offset=-1.75, friction=0.0, restitution=0.92)
    scene.add_sphere(0.1, pos=(-0.5, 0, 1.0), vel=(6.0, 0, -4.97), friction=0.0,
                     restitution=0.92)
    return scene.build(contact=sc.PenaltyContact(stiffness=1e5, damping=2.0))


def test_an_absurd_state_raises_naming_step_and_body():
    model = _corner_throw()
    with pytest.raises(sc.SimulationError, match=r"diverged at step (\d+) .*body 2 moves at") as err:
        sc.rollout(model, model.initial_state(), 288)
    step = int(err.value.args[0].split("at step ")[1].split()[0])
    # the last step is checked like the others: one step fewer returns, finite
    traj = sc.rollout(model, model.initial_state(), step)
    assert np.all(np.isfinite(traj.vel))
    with pytest.raises(sc.SimulationError, match=f"at step {step} "):
        sc.rollout(model, model.initial_state(), step + 1)
    # and so does value_and_grad's forward run
    with pytest.raises(sc.SimulationError, match=f"at step {step} "):
        sc.value_and_grad(model, model.initial_state(), step + 1,
                          sc.losses.final_distance(2, (0, 0, 0)))


def test_max_speed_is_the_users_bound():
    def build(**kwargs):
        scene = sc.Scene(dt=1e-3, **kwargs)
        scene.add_sphere(0.1, pos=(0, 0, 10), vel=(3, 0, 0))
        return scene.build()
    free = build()
    speed = np.linalg.norm(sc.rollout(free, free.initial_state(), 600).vel[:, 0], axis=1)
    first = int(np.argmax(speed > 5.0))  # falling 4 m/s after 0.408 s: state 408, step 407
    model = build(max_speed=5.0)
    with pytest.raises(sc.SimulationError,
                       match=rf"body 0 exceeded the scene's max_speed at step {first - 1} .* "
                             rf"moves at 5.0"):
        sc.rollout(model, model.initial_state(), 600)
    assert sc.rollout(model, model.initial_state(), first - 1).steps == first - 1
