"""Free rigid-body velocity update and pose integration (semi-implicit Euler)."""

import numpy as np

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


@jit(inline="always")  # per contact
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


@jit(inline="always")  # per body
def integrate_pose(x, q, v, w, h, x_out, q_out):
    # x+ = x + h v+;  q+ = normalize(exp(h w+ / 2) * q)
    for i in range(3):
        x_out[i] = x[i] + h * v[i]
    quat_integrate(q, w, h, q_out)


@jit(inline="always")  # per contact
def point_velocity(v, w, r, out):
    # velocity of the material point at offset r: v + w x r
    out[0] = v[0] + w[1] * r[2] - w[2] * r[1]
    out[1] = v[1] + w[2] * r[0] - w[0] * r[2]
    out[2] = v[2] + w[0] * r[1] - w[1] * r[0]


# ----------------------------------------------------------------------------------------------
# Adjoints (cotangents end in _bar and are accumulated with +=)


@jit(inline="always")  # per body, called once per substep by free_velocities_vjp
def free_velocity_vjp(R, v, w, f, tau, invmass, inertia, h, v_out_bar, w_out_bar,
                      R_bar, v_bar, w_bar, f_bar, tau_bar, invmass_bar, inertia_bar):
    # vjp of free_velocity: (R, v, w, f, tau, invmass, inertia) -> (v*, w*)
    # invmass_bar (1,) and the rest are accumulated
    for i in range(3):
        v_bar[i] += v_out_bar[i]
        f_bar[i] += h * invmass * v_out_bar[i]
        invmass_bar[0] += h * f[i] * v_out_bar[i]
        w_bar[i] += w_out_bar[i]
    wb0 = R[0, 0] * w[0] + R[1, 0] * w[1] + R[2, 0] * w[2]
    wb1 = R[0, 1] * w[0] + R[1, 1] * w[1] + R[2, 1] * w[2]
    wb2 = R[0, 2] * w[0] + R[1, 2] * w[1] + R[2, 2] * w[2]
    tb0 = R[0, 0] * tau[0] + R[1, 0] * tau[1] + R[2, 0] * tau[2]
    tb1 = R[0, 1] * tau[0] + R[1, 1] * tau[1] + R[2, 1] * tau[2]
    tb2 = R[0, 2] * tau[0] + R[1, 2] * tau[1] + R[2, 2] * tau[2]
    L0, L1, L2 = inertia[0] * wb0, inertia[1] * wb1, inertia[2] * wb2
    a0 = (tb0 - (wb1 * L2 - wb2 * L1)) / inertia[0]
    a1 = (tb1 - (wb2 * L0 - wb0 * L2)) / inertia[1]
    a2 = (tb2 - (wb0 * L1 - wb1 * L0)) / inertia[2]
    # w* = w + h R a
    ab0 = h * (R[0, 0] * w_out_bar[0] + R[1, 0] * w_out_bar[1] + R[2, 0] * w_out_bar[2])
    ab1 = h * (R[0, 1] * w_out_bar[0] + R[1, 1] * w_out_bar[1] + R[2, 1] * w_out_bar[2])
    ab2 = h * (R[0, 2] * w_out_bar[0] + R[1, 2] * w_out_bar[1] + R[2, 2] * w_out_bar[2])
    for i in range(3):
        R_bar[i, 0] += h * w_out_bar[i] * a0
        R_bar[i, 1] += h * w_out_bar[i] * a1
        R_bar[i, 2] += h * w_out_bar[i] * a2
    inertia_bar[0] -= a0 * ab0 / inertia[0]
    inertia_bar[1] -= a1 * ab1 / inertia[1]
    inertia_bar[2] -= a2 * ab2 / inertia[2]
    tbb0, tbb1, tbb2 = ab0 / inertia[0], ab1 / inertia[1], ab2 / inertia[2]
    cb0, cb1, cb2 = -tbb0, -tbb1, -tbb2   # c = wb x L
    # wb_bar = L x c_bar;  L_bar = c_bar x wb
    wbb0 = L1 * cb2 - L2 * cb1
    wbb1 = L2 * cb0 - L0 * cb2
    wbb2 = L0 * cb1 - L1 * cb0
    Lb0 = cb1 * wb2 - cb2 * wb1
    Lb1 = cb2 * wb0 - cb0 * wb2
    Lb2 = cb0 * wb1 - cb1 * wb0
    wbb0 += inertia[0] * Lb0
    wbb1 += inertia[1] * Lb1
    wbb2 += inertia[2] * Lb2
    inertia_bar[0] += wb0 * Lb0
    inertia_bar[1] += wb1 * Lb1
    inertia_bar[2] += wb2 * Lb2
    # wb = R^T w, tb = R^T tau
    for i in range(3):
        R_bar[i, 0] += w[i] * wbb0 + tau[i] * tbb0
        R_bar[i, 1] += w[i] * wbb1 + tau[i] * tbb1
        R_bar[i, 2] += w[i] * wbb2 + tau[i] * tbb2
        w_bar[i] += R[i, 0] * wbb0 + R[i, 1] * wbb1 + R[i, 2] * wbb2
        tau_bar[i] += R[i, 0] * tbb0 + R[i, 1] * tbb1 + R[i, 2] * tbb2


@jit(inline="always")  # per contact
def apply_impulse_vjp(R, invmass, inertia, r, imp, v_io_bar, w_io_bar,
                      R_bar, r_bar, imp_bar, invmass_bar, inertia_bar):
    # vjp of apply_impulse: (R, invmass, inertia, r, imp) -> increments of v, w
    # (v, w pass through unchanged, so their cotangents are only read)
    for i in range(3):
        imp_bar[i] += invmass * v_io_bar[i]
        invmass_bar[0] += imp[i] * v_io_bar[i]
    t0 = r[1] * imp[2] - r[2] * imp[1]
    t1 = r[2] * imp[0] - r[0] * imp[2]
    t2 = r[0] * imp[1] - r[1] * imp[0]
    b0 = (R[0, 0] * t0 + R[1, 0] * t1 + R[2, 0] * t2) / inertia[0]
    b1 = (R[0, 1] * t0 + R[1, 1] * t1 + R[2, 1] * t2) / inertia[1]
    b2 = (R[0, 2] * t0 + R[1, 2] * t1 + R[2, 2] * t2) / inertia[2]
    bb0 = R[0, 0] * w_io_bar[0] + R[1, 0] * w_io_bar[1] + R[2, 0] * w_io_bar[2]
    bb1 = R[0, 1] * w_io_bar[0] + R[1, 1] * w_io_bar[1] + R[2, 1] * w_io_bar[2]
    bb2 = R[0, 2] * w_io_bar[0] + R[1, 2] * w_io_bar[1] + R[2, 2] * w_io_bar[2]
    inertia_bar[0] -= b0 * bb0 / inertia[0]
    inertia_bar[1] -= b1 * bb1 / inertia[1]
    inertia_bar[2] -= b2 * bb2 / inertia[2]
    lb0, lb1, lb2 = bb0 / inertia[0], bb1 / inertia[1], bb2 / inertia[2]
    for i in range(3):
        ti = t0 if i == 0 else (t1 if i == 1 else t2)
        R_bar[i, 0] += w_io_bar[i] * b0 + ti * lb0
        R_bar[i, 1] += w_io_bar[i] * b1 + ti * lb1
        R_bar[i, 2] += w_io_bar[i] * b2 + ti * lb2
    tb0 = R[0, 0] * lb0 + R[0, 1] * lb1 + R[0, 2] * lb2
    tb1 = R[1, 0] * lb0 + R[1, 1] * lb1 + R[1, 2] * lb2
    tb2 = R[2, 0] * lb0 + R[2, 1] * lb1 + R[2, 2] * lb2
    # t = r x imp: r_bar = imp x t_bar, imp_bar = t_bar x r
    r_bar[0] += imp[1] * tb2 - imp[2] * tb1
    r_bar[1] += imp[2] * tb0 - imp[0] * tb2
    r_bar[2] += imp[0] * tb1 - imp[1] * tb0
    imp_bar[0] += tb1 * r[2] - tb2 * r[1]
    imp_bar[1] += tb2 * r[0] - tb0 * r[2]
    imp_bar[2] += tb0 * r[1] - tb1 * r[0]


@jit(inline="always")  # per contact
def point_velocity_vjp(w, r, out_bar, v_bar, w_bar, r_bar):
    # vjp of point_velocity: (v, w, r) -> v + w x r
    for i in range(3):
        v_bar[i] += out_bar[i]
    w_bar[0] += r[1] * out_bar[2] - r[2] * out_bar[1]
    w_bar[1] += r[2] * out_bar[0] - r[0] * out_bar[2]
    w_bar[2] += r[0] * out_bar[1] - r[1] * out_bar[0]
    r_bar[0] += out_bar[1] * w[2] - out_bar[2] * w[1]
    r_bar[1] += out_bar[2] * w[0] - out_bar[0] * w[2]
    r_bar[2] += out_bar[0] * w[1] - out_bar[1] * w[0]
