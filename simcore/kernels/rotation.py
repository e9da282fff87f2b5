"""Quaternion and rotation kernels. Quaternions are (w, x, y, z), unit, body-to-world."""
import numpy as np

from simcore._jit import jit


@jit
def quat_to_mat(q, R_out):
    # in: q (4,) unit quaternion; out: R_out (3,3) rotation matrix, columns = body axes in world
    w, x, y, z = q[0], q[1], q[2], q[3]
    R_out[0, 0] = 1.0 - 2.0 * (y * y + z * z)
    R_out[0, 1] = 2.0 * (x * y - w * z)
    R_out[0, 2] = 2.0 * (x * z + w * y)
    R_out[1, 0] = 2.0 * (x * y + w * z)
    R_out[1, 1] = 1.0 - 2.0 * (x * x + z * z)
    R_out[1, 2] = 2.0 * (y * z - w * x)
    R_out[2, 0] = 2.0 * (x * z - w * y)
    R_out[2, 1] = 2.0 * (y * z + w * x)
    R_out[2, 2] = 1.0 - 2.0 * (x * x + y * y)


@jit
def quat_mul(a, b, out):
    # Hamilton product out = a * b (out may not alias a or b)
    out[0] = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3]
    out[1] = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2]
    out[2] = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1]
    out[3] = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0]


@jit
def quat_integrate(q, w, h, q_out):
    # q_out = normalize(exp(h w / 2) * q) for a world-frame angular velocity w (left product)
    wn = np.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2])
    half = 0.5 * h * wn
    c = np.cos(half)
    # sin(h|w|/2) / |w|, by its Taylor series near zero so a resting body never divides by 0
    if half < 1e-4:
        s = 0.5 * h * (1.0 - half * half / 6.0)
    else:
        s = np.sin(half) / wn
    e0, e1, e2, e3 = c, s * w[0], s * w[1], s * w[2]
    r0 = e0 * q[0] - e1 * q[1] - e2 * q[2] - e3 * q[3]
    r1 = e0 * q[1] + e1 * q[0] + e2 * q[3] - e3 * q[2]
    r2 = e0 * q[2] - e1 * q[3] + e2 * q[0] + e3 * q[1]
    r3 = e0 * q[3] + e1 * q[2] - e2 * q[1] + e3 * q[0]
    inv = 1.0 / np.sqrt(r0 * r0 + r1 * r1 + r2 * r2 + r3 * r3)
    q_out[0] = r0 * inv
    q_out[1] = r1 * inv
    q_out[2] = r2 * inv
    q_out[3] = r3 * inv


@jit
def rotate(R, v, out):
    # out = R v
    for i in range(3):
        out[i] = R[i, 0] * v[0] + R[i, 1] * v[1] + R[i, 2] * v[2]


@jit
def rotate_T(R, v, out):
    # out = R^T v
    for i in range(3):
        out[i] = R[0, i] * v[0] + R[1, i] * v[1] + R[2, i] * v[2]
