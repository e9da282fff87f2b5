"""Penalty contact: compliant Hunt-Crossley normal force, regularised Coulomb friction.

f_n = max(0, k pen^p (1 + d pen_rate)) with pen = -gap, pen_rate = -u_n (approach speed);
f_t = -mu f_n u_t / sqrt(|u_t|^2 + v_s^2); impulse = h f. Smooth in the state wherever
pen > 0 and the damping term does not clamp (p > 1 also makes it C1 at touch). Forces are a
function of the step's starting state (x, v) of all bodies (explicit, Jacobi): contact order does
not matter and a body at rest feels no phantom damping from gravity's velocity increment.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import BODY_DYNAMIC
from simcore.kernels.dynamics import apply_impulse, point_velocity


@jit
def penalty_force(gap, n, u, mu, stiffness, damping, exponent, vsmooth, f_out):
    # in: gap, n (3,) normal b->a, u (3,) velocity of a relative to b at the contact point
    # out: f_out (3,) force on a; returns f_n
    if gap >= 0.0:
        f_out[:] = 0.0
        return 0.0
    pen = -gap
    un = u[0] * n[0] + u[1] * n[1] + u[2] * n[2]
    fn = stiffness * pen ** exponent * (1.0 + damping * (-un))
    if fn < 0.0:
        fn = 0.0
    ut0, ut1, ut2 = u[0] - un * n[0], u[1] - un * n[1], u[2] - un * n[2]
    c = mu * fn / np.sqrt(ut0 * ut0 + ut1 * ut1 + ut2 * ut2 + vsmooth * vsmooth)
    f_out[0] = fn * n[0] - c * ut0
    f_out[1] = fn * n[1] - c * ut1
    f_out[2] = fn * n[2] - c * ut2
    return fn


@jit
def normal_inv_mass(m, d, k, i):
    # body i's share of n^T M^-1 n at contact k: 1/m + (r x n)^T I^-1 (r x n)
    if m.body_kind[i] != BODY_DYNAMIC:
        return 0.0
    n = d.con_normal[k]
    r0 = d.con_pos[k, 0] - d.pos[i, 0]
    r1 = d.con_pos[k, 1] - d.pos[i, 1]
    r2 = d.con_pos[k, 2] - d.pos[i, 2]
    c0, c1, c2 = r1 * n[2] - r2 * n[1], r2 * n[0] - r0 * n[2], r0 * n[1] - r1 * n[0]
    R = d.xmat[i]
    w = m.body_invmass[i]
    for j in range(3):
        cb = R[0, j] * c0 + R[1, j] * c1 + R[2, j] * c2
        w += cb * cb * m.body_invinertia[i, j]
    return w


@jit
def penalty_impulses(m, d, h):
    # in: d.con_*, d.vel, d.ang_vel (start of step); out: d.con_lambda, and impulses applied to
    # d.vel_free / d.ang_vel_free (which then hold the post-contact velocities).
    # Returns the largest h^2 k_eff W_nn over the contacts: above 4 (omega h > 2) the explicit
    # spring amplifies every oscillation, and the result is garbage rather than merely stiff.
    nc = d.ncon[0]
    ua, ub, u, ra, rb, f = (np.empty(3), np.empty(3), np.empty(3), np.empty(3), np.empty(3),
                            np.empty(3))
    imp = np.empty((nc, 3))
    worst = 0.0
    for k in range(nc):
        a, b = d.con_body[k, 0], d.con_body[k, 1]
        for i in range(3):
            ra[i] = d.con_pos[k, i] - d.pos[a, i]
            rb[i] = d.con_pos[k, i] - d.pos[b, i]
        point_velocity(d.vel[a], d.ang_vel[a], ra, ua)
        point_velocity(d.vel[b], d.ang_vel[b], rb, ub)
        for i in range(3):
            u[i] = ua[i] - ub[i]
        fn = penalty_force(d.con_dist[k], d.con_normal[k], u, d.con_mu[k], m.pen_stiffness,
                           m.pen_damping, m.pen_exponent, m.pen_vsmooth, f)
        if fn > 0.0:
            pen = -d.con_dist[k]
            k_eff = m.pen_stiffness * m.pen_exponent * pen ** (m.pen_exponent - 1.0)
            w_nn = normal_inv_mass(m, d, k, a) + normal_inv_mass(m, d, k, b)
            worst = max(worst, h * h * k_eff * w_nn)
        for i in range(3):
            imp[k, i] = h * f[i]
        d.con_lambda[k, 0] = imp[k, 0] * d.con_normal[k, 0] + imp[k, 1] * d.con_normal[k, 1] \
            + imp[k, 2] * d.con_normal[k, 2]
        d.con_lambda[k, 1] = imp[k, 0] * d.con_t1[k, 0] + imp[k, 1] * d.con_t1[k, 1] \
            + imp[k, 2] * d.con_t1[k, 2]
        d.con_lambda[k, 2] = imp[k, 0] * d.con_t2[k, 0] + imp[k, 1] * d.con_t2[k, 1] \
            + imp[k, 2] * d.con_t2[k, 2]
    for k in range(nc):
        a, b = d.con_body[k, 0], d.con_body[k, 1]
        if m.body_kind[a] == BODY_DYNAMIC:
            for i in range(3):
                ra[i] = d.con_pos[k, i] - d.pos[a, i]
            apply_impulse(d.xmat[a], m.body_invmass[a], m.body_inertia[a], ra, imp[k],
                          d.vel_free[a], d.ang_vel_free[a])
        if m.body_kind[b] == BODY_DYNAMIC:
            for i in range(3):
                rb[i] = d.con_pos[k, i] - d.pos[b, i]
                f[i] = -imp[k, i]
            apply_impulse(d.xmat[b], m.body_invmass[b], m.body_inertia[b], rb, f,
                          d.vel_free[b], d.ang_vel_free[b])
    return worst
