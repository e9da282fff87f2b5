"""Bad input raises a clear ValueError naming the argument and value, before any jitted code."""
import dataclasses
import importlib
import math
import types

import numba
import numpy as np
import pytest

import simcore as sc
from simcore.kernels import consts
from simcore.kernels.models import KIND

rollout_module = importlib.import_module("simcore.rollout")


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if a rollout reaches compiled code."""
    def forbidden(*args, **kwargs):
        raise AssertionError("jitted rollout ran on invalid input")
    monkeypatch.setattr(rollout_module, "rollout_kernel", forbidden)


def ball_scene(**sphere_kwargs):
    scene = sc.Scene()
    scene.add_plane()
    kwargs = dict(radius=0.1, mass=1.0, pos=(0, 0, 1))
    kwargs.update(sphere_kwargs)
    scene.add_sphere(**kwargs)
    return scene


@pytest.mark.parametrize("kwargs, words", [
    (dict(mass=-1.0), ["mass", "-1.0"]),
    (dict(mass=0.0), ["mass", "0.0"]),
    (dict(mass=float("nan")), ["mass", "nan"]),
    (dict(radius=0.0), ["radius", "0.0"]),
    (dict(radius=-0.1), ["radius", "-0.1"]),
    (dict(radius=math.inf), ["radius", "inf"]),
    (dict(pos=(0, 0, float("nan"))), ["pos", "nan"]),
    (dict(vel=(0, math.inf, 0)), ["vel", "inf"]),
    (dict(ang_vel=(1, 2)), ["ang_vel", "shape"]),
    (dict(pos="up"), ["pos", "'up'"]),
    (dict(quat=(0, 0, 0, 0)), ["quat", "norm 0"]),
    (dict(quat=(1, 1, 0, 0)), ["quat", "norm 1.41421"]),
    (dict(quat=(1, 0, 0)), ["quat", "shape"]),
    (dict(friction=-0.1), ["friction", "-0.1"]),
    (dict(restitution=1.5), ["restitution", "1.5"]),
    (dict(kind="ghost"), ["kind", "'ghost'"]),
    (dict(inertia=(1, -1, 1)), ["inertia", "-1"]),
])
def test_bad_sphere_arguments(kwargs, words):
    with pytest.raises(ValueError) as err:
        ball_scene(**kwargs)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


@pytest.mark.parametrize("call, words", [
    (lambda s: s.add_box((0.1, 0.0, 0.1)), ["half_extents", "0.0"]),
    (lambda s: s.add_box((0.1, -0.2, 0.1)), ["half_extents", "-0.2"]),
    (lambda s: s.add_box((0.1, 0.1)), ["half_extents", "shape"]),
    (lambda s: s.add_box((0.1, 0.1, 0.1), mass=-2), ["mass", "-2"]),
    (lambda s: s.add_capsule(0.1, 0.0), ["half_length", "0.0"]),
    (lambda s: s.add_capsule(-0.1, 0.2), ["radius", "-0.1"]),
    (lambda s: s.add_plane(normal=(0, 0, 0)), ["normal", "(0, 0, 0)"]),
    (lambda s: s.add_plane(normal=(0, 0, float("nan"))), ["normal", "nan"]),
    (lambda s: s.add_plane(offset=math.inf), ["offset", "inf"]),
    (lambda s: s.add_sphere(0.1, kind="static", vel=(1, 0, 0)), ["static", "kinematic"]),
])
def test_bad_shape_arguments(call, words):
    with pytest.raises(ValueError) as err:
        call(sc.Scene())
    for w in words:
        assert w in str(err.value), (w, str(err.value))


@pytest.mark.parametrize("kwargs, words", [
    (dict(dt=0.0), ["dt", "0.0"]), (dict(dt=-1e-3), ["dt", "-0.001"]),
    (dict(gravity=(0, 0)), ["gravity", "shape"]), (dict(gravity=(0, 0, math.nan)), ["gravity"]),
    (dict(margin=-1.0), ["margin", "-1.0"]),
    (dict(max_speed=0.0), ["max_speed", "0.0"]), (dict(max_speed="fast"), ["max_speed"]),
])
def test_bad_scene_arguments(kwargs, words):
    with pytest.raises(ValueError) as err:
        sc.Scene(**kwargs)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("contact, words", [
    ("hard", ["contact", "'hard'"]),
    (sc.PenaltyContact, ["contact", "PenaltyContact"]),
    (42, ["contact", "42"]),
])
def test_unknown_contact_config(contact, words):
    with pytest.raises(ValueError) as err:
        ball_scene().build(contact=contact)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("kwargs, name", [
    (dict(stiffness=-1.0), "stiffness"), (dict(stiffness=math.nan), "stiffness"),
    (dict(damping=-0.5), "damping"), (dict(exponent=0.5), "exponent"),
    (dict(friction_smoothing=0.0), "friction_smoothing"), (dict(substeps=0), "substeps"),
    (dict(substeps=1.5), "substeps"),
])
def test_bad_penalty_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sc.PenaltyContact(**kwargs)


def test_near_unit_quaternion_is_normalised():
    q = np.array([1.0, 1e-9, 0.0, 0.0]) * (1 + 3e-9)
    scene = ball_scene(quat=q)
    model = scene.build()
    assert abs(np.linalg.norm(model.init_quat[1]) - 1.0) < 1e-15


def test_plane_normal_is_normalised_with_its_offset():
    scene = sc.Scene()
    scene.add_plane(normal=(0, 0, 2), offset=1.0)  # 2 z = 1: the plane z = 0.5
    model = scene.build(contact=sc.PenaltyContact())
    assert np.allclose(model.init_pos[0], (0, 0, 0.5))


def test_empty_scene():
    with pytest.raises(ValueError, match="no bodies"):
        sc.Scene().build()


@pytest.mark.parametrize("field, value, words", [
    ("pos", np.zeros((3, 3)), ["state.pos", "(2, 3)"]),
    ("vel", np.full((2, 3), np.nan), ["state.vel", "finite", "nan"]),
    ("quat", np.array([[1.0, 0, 0, 0], [0.5, 0, 0, 0]]), ["state.quat[1]", "0.5"]),
    ("ang_vel", np.array([[0, 0, 0], [0, np.inf, 0]]), ["state.ang_vel", "inf"]),
    ("pos", np.array([[0, 0, 1.0], [0, 0, 1]]), ["static"]),
])
def test_bad_state(no_kernel, field, value, words):
    model = ball_scene().build()
    state = dataclasses.replace(model.initial_state(), **{field: value})
    with pytest.raises(ValueError) as err:
        sc.rollout(model, state, 10)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


@pytest.mark.parametrize("field", ["pos", "quat", "vel", "ang_vel"])
def test_complex_state_is_refused_not_cast(no_kernel, field):
    model = ball_scene().build()
    state = model.initial_state()
    state = dataclasses.replace(state, **{field: getattr(state, field) + 0j})
    with pytest.raises(ValueError, match=rf"state.{field} must hold real numbers.*complex"):
        sc.rollout(model, state, 10)


@pytest.mark.parametrize("controls, steps, words", [
    (np.zeros((9, 2, 6)), 10, ["controls", "(10, 2, 6)", "(9, 2, 6)"]),
    (np.zeros((10, 2, 3)), 10, ["controls", "(10, 2, 3)"]),
    (np.full((10, 2, 6), np.nan), 10, ["controls", "finite", "nan"]),
    (np.zeros((10, 2, 6), dtype=complex), 10, ["controls", "real numbers", "complex"]),
])
def test_bad_controls(no_kernel, controls, steps, words):
    model = ball_scene().build()
    with pytest.raises(ValueError) as err:
        sc.rollout(model, model.initial_state(), steps, controls=controls)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


@pytest.mark.parametrize("steps", [-1, 2.5, "10", True])
def test_bad_steps(no_kernel, steps):
    model = ball_scene().build()
    with pytest.raises(ValueError, match="steps"):
        sc.rollout(model, model.initial_state(), steps)


def test_huge_steps_are_refused_with_the_memory_they_need(no_kernel):
    model = ball_scene().build()
    with pytest.raises(ValueError, match=r"steps = 1000000000000 would need at least .* GiB"):
        sc.rollout(model, model.initial_state(), 10 ** 12)
    with pytest.raises(ValueError, match="gradient tape"):
        sc.value_and_grad(model, model.initial_state(), 10 ** 12, sc.losses.final_distance(1, (0, 0, 0)))


def test_contact_configs_take_numpy_scalars():
    pen = sc.PenaltyContact(stiffness=np.float32(1e5), substeps=np.int64(2))
    hard = sc.HardContact(max_iter=np.int64(100), toi=np.bool_(False))
    assert type(pen.stiffness) is float and pen.stiffness == 1e5 and type(pen.substeps) is int
    assert type(hard.max_iter) is int and hard.toi is False
    model = ball_scene().build(contact=hard)
    assert model.opt_max_iter == 100 and model.hard_toi == 0
    with pytest.raises(ValueError, match="max_iter"):
        sc.HardContact(max_iter=np.float64(10.5))


@pytest.mark.parametrize("edit, words", [
    (lambda m: m.body_mass.__setitem__(1, -1.0), ["model.body_mass[1]", "-1.0", "Scene"]),
    (lambda m: m.geom_size.__setitem__((1, 0), 0.5), ["model.geom_rbound[1]", "bounding radius"]),
    (lambda m: m.body_friction.__setitem__(0, np.nan), ["model.body_friction", "finite"]),
    (lambda m: m.body_inertia.__setitem__((1, 2), 0.0), ["model.body_inertia[1]", "positive"]),
])
def test_a_model_edited_in_place_is_refused(no_kernel, edit, words):
    model = ball_scene().build()
    edit(model)
    with pytest.raises(ValueError) as err:
        sc.rollout(model, model.initial_state(), 10)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_a_model_replaced_consistently_runs():
    model = ball_scene().build()
    mass = model.body_mass.copy()
    mass[1] = 2.0
    bad = model._replace(body_mass=mass)  # inverse mass left behind
    with pytest.raises(ValueError, match="body_invmass"):
        sc.rollout(bad, bad.initial_state(), 1)
    good = bad._replace(body_invmass=np.where(np.isfinite(mass), 1 / mass, 0.0),
                        body_inertia=model.body_inertia * 2, body_invinertia=model.body_invinertia / 2)
    assert sc.rollout(good, good.initial_state(), 2).steps == 2


def test_bad_model_and_state_types(no_kernel):
    model = ball_scene().build()
    with pytest.raises(TypeError, match="model"):
        sc.rollout("model", model.initial_state(), 1)
    with pytest.raises(TypeError, match="state"):
        sc.rollout(model, {"pos": 0}, 1)


def test_initial_state_returns_fresh_copies():
    model = ball_scene().build()
    s1 = model.initial_state()
    s1.pos[1, 2] = 5.0
    assert model.initial_state().pos[1, 2] == 1.0


def test_first_compile_is_announced_and_progress_false_silences_it(monkeypatch, capsys, tmp_path):
    # a kernel with no cached build yet: the rollout says it is compiling before the long wait
    real = rollout_module.rollout_kernel

    class Uncompiled:
        signatures = []
        _cache = types.SimpleNamespace(_cache_file=types.SimpleNamespace(_load_index=dict))

        def __call__(self, *args):
            return real(*args)

    monkeypatch.setattr(rollout_module, "rollout_kernel", Uncompiled())
    scene = sc.Scene()
    scene.add_sphere(0.1)
    model = scene.build()
    sc.rollout(model, model.initial_state(), 3)
    assert "compiling the rollout kernels for PenaltyContact" in capsys.readouterr().err
    sc.rollout(model, model.initial_state(), 3, progress=False)
    assert capsys.readouterr().err == ""


def test_compile_notice_is_per_contact_model(capsys):
    # a build cached (or compiled in this process) for one model says nothing of another's
    hard, penalty = KIND[consts.CONTACT_HARD], KIND[consts.CONTACT_PENALTY]
    index = {((numba.typeof(penalty),), "codegen", "hashes"): "file"}
    kernel = types.SimpleNamespace(signatures=[], _cache=types.SimpleNamespace(
        _cache_file=types.SimpleNamespace(_load_index=lambda: index)))
    assert not rollout_module.compile_notice(True, kernel, penalty, "rollout kernels")
    assert capsys.readouterr().err == ""
    assert rollout_module.compile_notice(None, kernel, hard, "gradient kernels")
    assert "compiling the gradient kernels for HardContact" in capsys.readouterr().err
    kernel.signatures.append((numba.typeof(hard),))
    assert not rollout_module.compile_notice(True, kernel, hard, "gradient kernels")
