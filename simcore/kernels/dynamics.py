"""Free rigid-body velocity update and pose integration (semi-implicit Euler)."""

from simcore._jit import jit
from simcore.kernels.rotation import quat_integrate


@jit
def free_velocity(R, v, w, f, tau, g, invmass, inertia, h, v_out, w_out):
    # v* = v + h (g + f/m);  w* = w + h I^-1 (tau - w x I w), I = R Ib R^T (world frame),
    # evaluated in the body frame where I is diagonal.
    # in: R (3,3), v, w, f, tau, g (3,), invmass, inertia (3,) body principal moments, h
    # out: v_out, w_out (3,)
    for i in range(3):
        v_out[i] = v[i] + h * (g[i] + invmass * f[i])
    wb0 = R[0, 0] * w[0] + R[1, 0] * w[1] + R[2, 0] * w[2]
    wb1 = R[0, 1] * w[0] + R[1, 1] * w[1] + R[2, 1] * w[2]
    wb2 = R[0, 2] * w[0] + R[1, 2] * w[1] + R[2, 2] * w[2]
    tb0 = R[0, 0] * tau[0] + R[1, 0] * tau[1] + R[2, 0] * tau[2]
    tb1 = R[0, 1] * tau[0] + R[1, 1] * tau[1] + R[2, 1] * tau[2]
    tb2 = R[0, 2] * tau[0] + R[1, 2] * tau[1] + R[2, 2] * tau[2]
    L0, L1, L2 = inertia[0] * wb0, inertia[1] * wb1, inertia[2] * wb2
    # body-frame Euler equations: Ib dw/dt = tau - w x Ib w
    a0 = (tb0 - (wb1 * L2 - wb2 * L1)) / inertia[0]
    a1 = (tb1 - (wb2 * L0 - wb0 * L2)) / inertia[1]
    a2 = (tb2 - (wb0 * L1 - wb1 * L0)) / inertia[2]
    for i in range(3):
        w_out[i] = w[i] + h * (R[i, 0] * a0 + R[i, 1] * a1 + R[i, 2] * a2)


@jit
def apply_impulse(R, invmass, inertia, r, imp, v_io, w_io):
    # v += imp / m;  w += I^-1 (r x imp), for an impulse imp applied at offset r from the centre
    for i in range(3):
        v_io[i] += invmass * imp[i]
    t0 = r[1] * imp[2] - r[2] * imp[1]
    t1 = r[2] * imp[0] - r[0] * imp[2]
    t2 = r[0] * imp[1] - r[1] * imp[0]
    b0 = (R[0, 0] * t0 + R[1, 0] * t1 + R[2, 0] * t2) / inertia[0]
    b1 = (R[0, 1] * t0 + R[1, 1] * t1 + R[2, 1] * t2) / inertia[1]
    b2 = (R[0, 2] * t0 + R[1, 2] * t1 + R[2, 2] * t2) / inertia[2]
    for i in range(3):
        w_io[i] += R[i, 0] * b0 + R[i, 1] * b1 + R[i, 2] * b2


@jit
def integrate_pose(x, q, v, w, h, x_out, q_out):
    # x+ = x + h v+;  q+ = normalize(exp(h w+ / 2) * q)
    for i in range(3):
        x_out[i] = x[i] + h * v[i]
    quat_integrate(q, w, h, q_out)


@jit
def point_velocity(v, w, r, out):
    # velocity of the material point at offset r: v + w x r
    out[0] = v[0] + w[1] * r[2] - w[2] * r[1]
    out[1] = v[1] + w[2] * r[0] - w[0] * r[2]
    out[2] = v[2] + w[0] * r[1] - w[1] * r[0]
