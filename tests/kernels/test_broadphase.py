"""Broad phase: never misses a pair that the narrow phase would find (against all pairs)."""
import importlib

import numpy as np
import pytest

import simcore as sc

rollout_module = importlib.import_module("simcore.rollout")
from simcore.kernels import consts
from simcore.kernels.broadphase import broadphase
from simcore.kernels.collision import collide
from simcore.kernels.step import free_velocities, update_xmat
from simcore.model import make_data


def random_scene(seed, n):
    rng = np.random.default_rng(seed)
    scene = sc.Scene(dt=1e-2)
    scene.add_plane()
    scene.add_plane(normal=(1, 0.2, 0), offset=-0.6)
    for _ in range(n):
        q = rng.normal(size=4)
        kw = dict(pos=rng.uniform((-0.5, -0.5, 0.0), (0.5, 0.5, 1.0)), quat=q / np.linalg.norm(q),
                  vel=rng.normal(size=3), ang_vel=rng.normal(size=3) * 3)
        kind = rng.integers(3)
        if kind == 0:
            scene.add_sphere(rng.uniform(0.02, 0.1), **kw)
        elif kind == 1:
            scene.add_box(rng.uniform(0.02, 0.1, size=3), **kw)
        else:
            scene.add_capsule(rng.uniform(0.02, 0.06), rng.uniform(0.02, 0.1), **kw)
    return scene.build()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_broadphase_keeps_every_pair_the_narrow_phase_finds(seed):
    model = random_scene(seed, 150)
    d = make_data(model, model.initial_state(), 64, 20000)
    update_xmat(model, d)
    free_velocities(model, d, np.zeros((model.nbody, 6)), model.opt_dt)
    assert broadphase(model, d) == consts.STATUS_OK
    found = {tuple(sorted(p)) for p in d.pair[:d.npair[0]]}
    assert len(found) == d.npair[0], "a pair was listed twice"
    dist, normal, point = np.zeros(8), np.zeros((8, 3)), np.zeros((8, 3))
    touching = set()
    for a in range(model.nbody):
        for b in range(model.nbody):
            ta, tb = model.geom_type[a], model.geom_type[b]
            if a == b or ta < tb or (ta == tb and a > b):
                continue
            if model.body_kind[a] != consts.BODY_DYNAMIC and \
                    model.body_kind[b] != consts.BODY_DYNAMIC:
                continue
            margin = model.opt_margin + d.body_spec[a] + d.body_spec[b]
            if collide(ta, tb, d.pos[a], d.xmat[a], model.geom_size[a], d.pos[b], d.xmat[b],
                       model.geom_size[b], margin, 0, dist, normal, point) > 0:
                touching.add(tuple(sorted((a, b))))
    assert len(touching) > 20, "the scene should be crowded enough to test something"
    assert touching <= found
    # and the sweep is selective: far fewer candidates than all pairs
    assert d.npair[0] < 0.2 * model.nbody * (model.nbody - 1) / 2


def test_pair_overflow_is_reported():
    model = random_scene(3, 60)
    d = make_data(model, model.initial_state(), 64, 2)
    update_xmat(model, d)
    free_velocities(model, d, np.zeros((model.nbody, 6)), model.opt_dt)
    assert broadphase(model, d) == consts.STATUS_PAIR_OVERFLOW


def test_rollout_grows_its_arrays_and_gives_the_same_result(monkeypatch):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    for i in range(27):
        scene.add_sphere(0.05, pos=(0.11 * (i % 3), 0.11 * (i // 3 % 3), 0.06 + 0.11 * (i // 9)))
    model = scene.build()
    reference = sc.rollout(model, model.initial_state(), 300)
    monkeypatch.setattr(rollout_module, "initial_capacity", lambda n: 3)
    grown = sc.rollout(model, model.initial_state(), 300)
    assert reference.ncon.max() > 8
    assert np.array_equal(grown.pos, reference.pos)
    assert np.array_equal(grown.ang_vel, reference.ang_vel)
