"""Quaternion and rotation kernels. Quaternions are (w, x, y, z), unit, body-to-world."""
import numpy as np

from simcore._jit import jit


@jit(entry=True, inline="always")  # per body
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


@jit(entry=True)
def quat_mul(a, b, out):
    # Hamilton product out = a * b (out may not alias a or b)
    out[0] = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3]
    out[1] = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2]
    out[2] = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1]
    out[3] = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0]


@jit(entry=True, inline="always")  # per body
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


@jit(inline="always")  # per body
def so3_coeffs(a2):
    # (sin a / a, (1 - cos a) / a^2, (a - sin a) / a^3) for the squared angle a2 of a rotation
    # vector p: Exp(p) = I + sa P + ca P^2 and its left Jacobian J_l(p) = I + ca P + ba P^2
    # (P = [p]x); by their series near zero, so a body at rest never divides by zero
    if a2 < 1e-8:
        return 1.0 - a2 / 6.0, 0.5 - a2 / 24.0, 1.0 / 6.0 - a2 / 120.0
    a = np.sqrt(a2)
    s = np.sin(a)
    return s / a, (1.0 - np.cos(a)) / a2, (a - s) / (a2 * a)


@jit(inline="always")  # per body
def exp_apply(p, x, out):
    # out = Exp(p) x = x + sa p x x + ca p x (p x x), for a rotation vector p (out may be x)
    sa, ca, _ = so3_coeffs(p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
    c0, c1, c2 = p[1] * x[2] - p[2] * x[1], p[2] * x[0] - p[0] * x[2], p[0] * x[1] - p[1] * x[0]
    d0, d1, d2 = p[1] * c2 - p[2] * c1, p[2] * c0 - p[0] * c2, p[0] * c1 - p[1] * c0
    out[0] = x[0] + sa * c0 + ca * d0
    out[1] = x[1] + sa * c1 + ca * d1
    out[2] = x[2] + sa * c2 + ca * d2


@jit(inline="always")  # per body
def left_jacobian(p, J_out):
    # J_out = J_l(p) = I + ca P + ba P^2: Exp(p + dp) = Exp(J_l(p) dp) Exp(p) to first order
    _, ca, ba = so3_coeffs(p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
    for i in range(3):
        for j in range(3):
            J_out[i, j] = ba * p[i] * p[j]
        J_out[i, i] += 1.0 - ba * (p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
    J_out[0, 1] -= ca * p[2]
    J_out[0, 2] += ca * p[1]
    J_out[1, 0] += ca * p[2]
    J_out[1, 2] -= ca * p[0]
    J_out[2, 0] -= ca * p[1]
    J_out[2, 1] += ca * p[0]


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


# ----------------------------------------------------------------------------------------------
# Adjoints. An orientation's cotangent is a world-frame 3-vector th_bar ("twist cotangent"):
# dL = th_bar . dtheta for the perturbation R -> Exp(dtheta) R, i.e. q -> [cos, dtheta/2] * q.
# It has no component along the quaternion, which is kept unit by every step.


@jit(entry=True, inline="always")  # per body
def rot_bar_to_twist(R, R_bar, th_bar_io):
    # vjp of R -> Exp(dtheta) R: th_bar += sum_j R[:, j] x R_bar[:, j]
    for j in range(3):
        th_bar_io[0] += R[1, j] * R_bar[2, j] - R[2, j] * R_bar[1, j]
        th_bar_io[1] += R[2, j] * R_bar[0, j] - R[0, j] * R_bar[2, j]
        th_bar_io[2] += R[0, j] * R_bar[1, j] - R[1, j] * R_bar[0, j]


@jit(entry=True)
def quat_bar_to_twist(q, q_bar, th_bar_io):
    # a cotangent of the 4 quaternion entries, as a twist cotangent (its part along q drops):
    # dq = [0, dtheta] * q / 2  =>  th_bar = (q0 g_v - g0 q_v + q_v x g_v) / 2
    g0, g1, g2, g3 = q_bar[0], q_bar[1], q_bar[2], q_bar[3]
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    th_bar_io[0] += 0.5 * (q0 * g1 - g0 * q1 + q2 * g3 - q3 * g2)
    th_bar_io[1] += 0.5 * (q0 * g2 - g0 * q2 + q3 * g1 - q1 * g3)
    th_bar_io[2] += 0.5 * (q0 * g3 - g0 * q3 + q1 * g2 - q2 * g1)


@jit(entry=True)
def twist_to_quat_bar(q, th_bar, q_bar_out):
    # the quaternion cotangent of a twist cotangent, tangent to the unit sphere:
    # dtheta = 2 vec(dq * conj(q))  =>  g0 = -2 th.q_v, g_v = 2 (q0 th - q_v x th)
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    t0, t1, t2 = th_bar[0], th_bar[1], th_bar[2]
    q_bar_out[0] = -2.0 * (t0 * q1 + t1 * q2 + t2 * q3)
    q_bar_out[1] = 2.0 * (q0 * t0 - (q2 * t2 - q3 * t1))
    q_bar_out[2] = 2.0 * (q0 * t1 - (q3 * t0 - q1 * t2))
    q_bar_out[3] = 2.0 * (q0 * t2 - (q1 * t1 - q2 * t0))


@jit(entry=True, inline="always")  # per body
def quat_integrate_vjp(w, h, th_bar_io, w_bar_io):
    # vjp of quat_integrate: (q, w) -> q+ with R+ = Exp(h w) R, so
    # dtheta+ = Exp(h w) dtheta + h J_l(h w) dw (J_l: left Jacobian of SO(3)).
    # in: w (3,), h; io: th_bar_io (q+'s twist cotangent in, q's out), w_bar_io (+=)
    p0, p1, p2 = h * w[0], h * w[1], h * w[2]
    sa, ca, ba = so3_coeffs(p0 * p0 + p1 * p1 + p2 * p2)
    g0, g1, g2 = th_bar_io[0], th_bar_io[1], th_bar_io[2]
    c0, c1, c2 = p1 * g2 - p2 * g1, p2 * g0 - p0 * g2, p0 * g1 - p1 * g0      # p x g
    d0, d1, d2 = p1 * c2 - p2 * c1, p2 * c0 - p0 * c2, p0 * c1 - p1 * c0      # p x (p x g)
    # Exp(p)^T g = g - sa p x g + ca p x (p x g);  J_l(p)^T g = g - ca p x g + ba p x (p x g)
    w_bar_io[0] += h * (g0 - ca * c0 + ba * d0)
    w_bar_io[1] += h * (g1 - ca * c1 + ba * d1)
    w_bar_io[2] += h * (g2 - ca * c2 + ba * d2)
    th_bar_io[0] = g0 - sa * c0 + ca * d0
    th_bar_io[1] = g1 - sa * c1 + ca * d1
    th_bar_io[2] = g2 - sa * c2 + ca * d2
