"""Rotation kernels' adjoints against central differences (twist cotangents)."""
import numpy as np

from simcore.kernels import rotation as rot
from tests.helpers import check_vjp, matrix_to_rotvec, quat_to_matrix, rotvec_to_matrix


def _quat_of(R):
    w = np.sqrt(max(1e-300, 1 + np.trace(R))) / 2
    return np.array([w, (R[2, 1] - R[1, 2]) / (4 * w), (R[0, 2] - R[2, 0]) / (4 * w),
                     (R[1, 0] - R[0, 1]) / (4 * w)])


def _perturbed_quat(q0, th):
    # q of Exp(th) R(q0), by the kernel's own left product (exact for a unit rotation)
    out = np.empty(4)
    rot.quat_integrate(q0, th, 1.0, out)
    return out


def test_quat_integrate_vjp(rng):
    for wscale in (0.0, 1e-5, 1.0, 30.0):  # at rest, the series branch, ordinary, fast spin
        q0 = _quat_of(rotvec_to_matrix(rng.normal(size=3)))
        w0 = wscale * rng.normal(size=3)
        h = 1e-2
        out = np.empty(4)
        rot.quat_integrate(q0, w0, h, out)
        R_plus0 = quat_to_matrix(out)

        def fwd(x):
            q = _perturbed_quat(q0, x[:3])
            o = np.empty(4)
            rot.quat_integrate(q, x[3:], h, o)
            return matrix_to_rotvec(quat_to_matrix(o) @ R_plus0.T)

        def vjp(x, y_bar):
            th, wb = y_bar.copy(), np.zeros(3)
            rot.quat_integrate_vjp(x[3:], h, th, wb)
            return np.concatenate([th, wb])

        check_vjp(fwd, vjp, np.concatenate([np.zeros(3), w0]), rng)


def test_rot_bar_to_twist(rng):
    R0 = rotvec_to_matrix(rng.normal(size=3))
    M = rng.normal(size=(3, 3))

    def fwd(th):  # a linear function of R
        return np.array([np.sum(M * (rotvec_to_matrix(th) @ R0))])

    def vjp(th, y_bar):
        out = np.zeros(3)
        rot.rot_bar_to_twist(R0, y_bar[0] * M, out)
        return out

    check_vjp(fwd, vjp, np.zeros(3), rng)


def test_quaternion_cotangent_conversions_are_consistent(rng):
    q0 = _quat_of(rotvec_to_matrix(rng.normal(size=3)))
    g = rng.normal(size=4)
    # a loss g . q, as a function of the twist: its gradient is quat_bar_to_twist(q0, g)
    th = np.zeros(3)
    rot.quat_bar_to_twist(q0, g, th)
    check_vjp(lambda x: np.array([g @ _perturbed_quat(q0, x)]),
              lambda x, yb: yb[0] * th, np.zeros(3), rng)
    # and back: the quaternion cotangent of that twist cotangent is g minus its part along q0
    q_bar = np.empty(4)
    rot.twist_to_quat_bar(q0, th, q_bar)
    assert np.allclose(q_bar, g - (g @ q0) * q0, atol=1e-14)
