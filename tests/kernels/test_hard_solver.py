"""The hard contact's complementarity solve (simcore/kernels/hard_solver.py), through rollouts:
every solve reaches rounding where Gauss-Seidel alone stalls (a tumbling box's redundant corner
sets, by the Newton polish and its continuation; bodies apart, solved as separate islands; a large
island, finished by Newton with its steps solved through the bodies), and a solve that cannot
converge is reported (a warning, solver_failures, solver_residual)."""

import numpy as np
import pytest

import simcore as sc
from tests.helpers import load_benchmark


@pytest.mark.parametrize("friction, restitution", [(0.189248, 0.263731), (0.64, 0.2)])
def test_tumbling_box_solves_reach_rounding(friction, restitution):
    # a tossed box that lands, tumbles and slides on two and four corners: the redundant corner
    # sets, where the Newton polish once stalled at a relative residual of 8.6e-8 (every corner
    # pushing, while the solution lifts one), now converge to rounding in every solve. At
    # (0.64, 0.2) (sysid_toss's start) the box lands flat on four sliding corners in step 473,
    # one of which lifts: Gauss-Seidel (2,000 sweeps) and the polish stalled at 3.3e-6 there;
    # the continuation from the more regularised problem (hard_solver._continuation) solves it
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=1.0, restitution=0.0)
    scene.add_box((0.1, 0.075, 0.05), pos=(0, 0, 0.3), quat=(np.cos(0.1), np.sin(0.1), 0, 0),
                  vel=(2.0, 0.0, 0.5), ang_vel=(0.0, -3.0, 1.0), friction=friction,
                  restitution=restitution)
    model = scene.build(contact=sc.HardContact())
    traj = sc.rollout(model, model.initial_state(), 600)
    assert traj.ncon[470:500].min() >= 2          # sliding on corners there
    assert traj.solver_residual.max() < 1e-13     # 1e-15 measured


def test_solver_reports_non_convergence():
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    for i in range(5):
        scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.1 + 0.2 * i))
    # two sweeps and no Newton polish cannot solve a stack
    model = scene.build(contact=sc.HardContact(max_iter=2, polish_max_contacts=0))
    with pytest.warns(RuntimeWarning, match="did not converge"):
        traj = sc.rollout(model, model.initial_state(), 20)
    assert traj.solver_failures.sum() > 0
    assert traj.solver_residual.max() > 1e-6


def test_island_whose_solve_would_fail_gets_dense_newton():
    # the stack of five boxes above with 20 sweeps: one island of about 24 contacts, above
    # polish_max_contacts=4, and too few sweeps for Gauss-Seidel (or for a large island's Newton
    # through the bodies, which starts after 100): without Newton solves fail, and
    # hard_solver._rescue brings each below the failure line (1e-6) by dense Newton from
    # Gauss-Seidel's impulses
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    for i in range(5):
        scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.1 + 0.2 * i))
    state = scene.build().initial_state()
    model = scene.build(contact=sc.HardContact(max_iter=20, polish_max_contacts=4))
    traj = sc.rollout(model, state, 300)
    assert load_benchmark("profile_pile").largest_island(traj, 299, 6) > 4   # 24 measured
    assert traj.solver_failures.sum() == 0
    assert traj.solver_residual.max() < 1e-9      # 2.5e-10 measured
    with pytest.warns(RuntimeWarning, match="did not converge"):
        pgs_only = sc.rollout(scene.build(contact=sc.HardContact(max_iter=20,
                                                                 polish_max_contacts=0)),
                              state, 300)
    print(f"largest residual: {traj.solver_residual.max():.1e}, "
          f"Gauss-Seidel alone {pgs_only.solver_residual.max():.1e}")
    assert pgs_only.solver_failures.sum() > 0


def test_bodies_apart_are_solved_apart_to_rounding():
    # eleven boxes landing on a face side by side, apart, some of them sliding: 44 corner
    # contacts, more than the Newton polish takes at once, but each box is an island of four
    # and gets its own polish (PGS alone leaves the redundant corners far from rounding)
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.5)
    for i in range(11):
        scene.add_box((0.05, 0.05, 0.05), pos=(0.3 * i, 0.0, 0.06),
                      vel=(0.5 * (i % 3), 0.0, 0.0))
    traj = sc.rollout(scene.build(contact=sc.HardContact()), scene.build().initial_state(), 300)
    assert traj.ncon[-1] == 44
    assert traj.solver_residual.max() < 1e-12   # 9.9e-14 measured
    pgs_only = sc.rollout(scene.build(contact=sc.HardContact(polish_max_contacts=0)),
                          scene.build().initial_state(), 300)
    print(f"largest residual: islands polished {traj.solver_residual.max():.1e}, "
          f"PGS alone {pgs_only.solver_residual.max():.1e}")
    assert pgs_only.solver_residual.max() > 1e-11


def test_large_island_where_gauss_seidel_stalls_is_finished_by_newton_through_the_bodies():
    # nine cubes landing flat 0.1 mm apart: their speculative side contacts tie them into one
    # island of about a hundred contacts, beyond the dense polish (64), and Gauss-Seidel stalls
    # on each cube's four redundant corners. Newton with its steps solved through the bodies
    # (hard_solver._polish_large_island) ends every solve at rounding
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.5)
    for i in range(3):
        for j in range(3):
            scene.add_box((0.05, 0.05, 0.05), pos=(0.1001 * i, 0.1001 * j, 0.06), friction=0.5)
    state = scene.build().initial_state()
    traj = sc.rollout(scene.build(contact=sc.HardContact()), state, 300)
    assert load_benchmark("profile_pile").largest_island(traj, 299, 10) > 64
    assert traj.solver_residual.max() < 1e-12   # 7.1e-14 measured
    pgs_only = sc.rollout(scene.build(contact=sc.HardContact(polish_max_contacts=0)), state, 300)
    print(f"largest residual: {traj.solver_residual.max():.1e}, "
          f"PGS alone {pgs_only.solver_residual.max():.1e}")
    assert pgs_only.solver_residual.max() > 1e-11   # 7.1e-10 measured
