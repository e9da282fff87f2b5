"""Ready-made losses for ``value_and_grad``, ``Problem`` and ``gradcheck``.

Each function returns ``loss(traj) -> (value, cotangent)`` (DESIGN.md section 5).
"""
import numpy as np

_KEYS = {"pos": 3, "vel": 3, "ang_vel": 3, "quat": 4}


def _check(key, body, axis):
    if key not in _KEYS:
        raise ValueError(f"key must be one of {sorted(_KEYS)}, got {key!r}")
    if not (isinstance(axis, (int, np.integer)) and 0 <= axis < _KEYS[key]):
        raise ValueError(f"axis must be an integer in 0..{_KEYS[key] - 1}, got {axis!r}")
    if not (isinstance(body, (int, np.integer)) and body >= 0):
        raise ValueError(f"body must be a body id (an integer >= 0), got {body!r}")


def final(body, key="pos", axis=2):
    """The final value of one coordinate: ``traj.<key>[-1, body, axis]`` (default: height)."""
    _check(key, body, axis)

    def loss(traj):
        arr = getattr(traj, key)
        cot = np.zeros_like(arr)
        cot[-1, body, axis] = 1.0
        return float(arr[-1, body, axis]), {key: cot}
    return loss


def final_distance(body, target):
    """Squared distance of the body's final position to ``target`` (3,)."""
    _check("pos", body, 0)
    target = np.asarray(target, dtype=np.float64)
    if target.shape != (3,) or not np.all(np.isfinite(target)):
        raise ValueError(f"target must be 3 finite numbers, got {target!r}")

    def loss(traj):
        diff = traj.pos[-1, body] - target
        cot = np.zeros_like(traj.pos)
        cot[-1, body] = 2.0 * diff
        return float(diff @ diff), {"pos": cot}
    return loss
