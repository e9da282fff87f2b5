"""Golden check: fixed scenes' rollouts and gradients, every contact model and parameter, against
the values stored in tests/golden.npz, to 1e-12 of each array's largest entry.

It guards restructurings that must leave results unchanged. A change that is meant to change
results (new physics, a fixed derivative) regenerates the file, and says so in its commit:

    python -m tests.test_golden --update
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import simcore as sc
from simcore.kernels.consts import BODY_DYNAMIC
from tests.test_grad import MODELS, _linear_loss, _mixed_scene, _stacked_hard_scene

GOLDEN = Path(__file__).with_name("golden.npz")
STEPS = 80
RTOL = 1e-12
CASES = [("mixed", m) for m in sorted(MODELS)] + [("stacked_hard", "hard"),
                                                  ("stacked_hard", "hard-notoi")]
SCENES = {"mixed": _mixed_scene, "stacked_hard": _stacked_hard_scene}


def compute(scene, model_name):
    """{name: array} of one case: the rollout's state every 10 steps and the gradient of a
    random linear loss in the initial state, per-step controls (random, small) and every
    parameter."""
    contact, scalars = MODELS[model_name]
    model = SCENES[scene]().build(contact=contact())
    state = model.initial_state()
    rng = np.random.default_rng(3)
    controls = 0.5 * rng.normal(size=(STEPS, model.nbody, 6))
    controls[:, model.body_kind != BODY_DYNAMIC] = 0.0
    loss = _linear_loss(STEPS, model.nbody, seed=5)
    traj = sc.rollout(model, state, STEPS, controls)
    _, grad = sc.value_and_grad(model, state, STEPS, loss, controls=controls,
                                params=("mass", "friction", "restitution")
                                + tuple(name for name, _ in scalars))
    out = {k: getattr(traj, k)[::10] for k in ("pos", "quat", "vel", "ang_vel")}
    out.update({"grad_" + k: getattr(grad, k) for k in ("pos", "quat", "vel", "ang_vel",
                                                          "controls")})
    out.update({"grad_" + k: np.asarray(v) for k, v in grad.params.items()})
    return {f"{scene}/{model_name}/{k}": np.asarray(v, dtype=np.float64) for k, v in out.items()}


@pytest.mark.parametrize("scene, model_name", CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_results_match_the_golden_values(scene, model_name):
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing: python -m tests.test_golden --update")
    golden = np.load(GOLDEN)
    got = compute(scene, model_name)
    stored = {k for k in golden.files if k.startswith(f"{scene}/{model_name}/")}
    assert stored == set(got), sorted(stored ^ set(got))
    for key, value in got.items():
        ref = golden[key]
        assert value.shape == ref.shape, key
        scale = max(np.max(np.abs(ref)), 1e-300)
        err = np.max(np.abs(value - ref)) / scale
        assert err <= RTOL, f"{key}: off the golden value by {err:.2e} of its largest entry"


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(__doc__)
    arrays = {}
    for scene, model_name in CASES:
        arrays.update(compute(scene, model_name))
    np.savez_compressed(GOLDEN, **arrays)
    print(f"wrote {GOLDEN}: {len(arrays)} arrays from {len(CASES)} cases")
