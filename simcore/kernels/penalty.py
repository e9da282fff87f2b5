"""Penalty contact: compliant Hunt-Crossley normal force, regularised Coulomb friction.

f_n = max(0, k pen^p (1 + d pen_rate)) with pen = -gap, pen_rate = -u_n (approach speed);
f_t = -mu f_n u_t / sqrt(|u_t|^2 + v_s^2); impulse = h f. Smooth in the state wherever
pen > 0 and the damping term does not clamp (p > 1 also makes it C1 at touch). Forces are a
function of the step's starting state (x, v) of all bodies (explicit, Jacobi): contact order does
not matter and a body at rest feels no phantom damping from gravity's velocity increment.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import BODY_DYNAMIC, SLOT_DAMPING, SLOT_STIFFNESS
from simcore.kernels.dynamics import (apply_impulse, apply_impulse_vjp, point_velocity,
                                      point_velocity_vjp)
from simcore.kernels.kink import ramp_slope


@jit(entry=True, inline="always")  # per contact
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


# per contact; it takes arrays because an inlined function's Model / Data tuple argument can
# still have every array it holds reference-counted at each call
@jit(inline="always")
def normal_inv_mass(kind, invmass, invinertia, R, x, n, c):
    # a body's share of n^T M^-1 n at a contact point c: 1/m + (r x n)^T I^-1 (r x n), r = c - x
    if kind != BODY_DYNAMIC:
        return 0.0
    r0, r1, r2 = c[0] - x[0], c[1] - x[1], c[2] - x[2]
    c0, c1, c2 = r1 * n[2] - r2 * n[1], r2 * n[0] - r0 * n[2], r0 * n[1] - r1 * n[0]
    w = invmass
    for j in range(3):
        cb = R[0, j] * c0 + R[1, j] * c1 + R[2, j] * c2
        w += cb * cb * invinertia[j]
    return w


@jit(inline="always")  # a wrapper: no call taking the tuples
def penalty_impulses(m, d, h):
    # in: d.con_*, d.vel, d.ang_vel (start of step); out: d.con_lambda, and impulses applied to
    # d.vel_free / d.ang_vel_free (which then hold the post-contact velocities).
    # Returns the largest h^2 k_eff W_nn over the contacts: above 4 (omega h > 2) the explicit
    # spring amplifies every oscillation, and the result is garbage rather than merely stiff.
    return penalty_impulses_arrays(
        m.body_kind, m.body_invmass, m.body_inertia, m.body_invinertia, m.pen_stiffness,
        m.pen_damping, m.pen_exponent, m.pen_vsmooth, d.pos, d.xmat, d.vel, d.ang_vel,
        d.vel_free, d.ang_vel_free, d.ncon[0], d.con_body, d.con_pos, d.con_dist, d.con_normal,
        d.con_t1, d.con_t2, d.con_mu, d.con_lambda, h)


@jit
def penalty_impulses_arrays(kind, invmass, inertia, invinertia, stiffness, damping, exponent,
                            vsmooth, pos, xmat, vel, ang_vel, vel_free, ang_vel_free, nc,
                            con_body, con_pos, con_dist, con_normal, con_t1, con_t2, con_mu,
                            con_lambda, h):
    # penalty_impulses on the arrays (the per-step path)
    ua, ub, u, ra, rb, f = (np.empty(3), np.empty(3), np.empty(3), np.empty(3), np.empty(3),
                            np.empty(3))
    imp = np.empty((nc, 3))
    worst = 0.0
    for k in range(nc):
        a, b = con_body[k, 0], con_body[k, 1]
        for i in range(3):
            ra[i] = con_pos[k, i] - pos[a, i]
            rb[i] = con_pos[k, i] - pos[b, i]
        point_velocity(vel[a], ang_vel[a], ra, ua)
        point_velocity(vel[b], ang_vel[b], rb, ub)
        for i in range(3):
            u[i] = ua[i] - ub[i]
        fn = penalty_force(con_dist[k], con_normal[k], u, con_mu[k], stiffness, damping,
                           exponent, vsmooth, f)
        if fn > 0.0:
            pen = -con_dist[k]
            k_eff = stiffness * exponent * pen ** (exponent - 1.0)
            w_nn = (normal_inv_mass(kind[a], invmass[a], invinertia[a], xmat[a], pos[a],
                                    con_normal[k], con_pos[k])
                    + normal_inv_mass(kind[b], invmass[b], invinertia[b], xmat[b], pos[b],
                                      con_normal[k], con_pos[k]))
            worst = max(worst, h * h * k_eff * w_nn)
        for i in range(3):
            imp[k, i] = h * f[i]
        con_lambda[k, 0] = imp[k, 0] * con_normal[k, 0] + imp[k, 1] * con_normal[k, 1] \
            + imp[k, 2] * con_normal[k, 2]
        con_lambda[k, 1] = imp[k, 0] * con_t1[k, 0] + imp[k, 1] * con_t1[k, 1] \
            + imp[k, 2] * con_t1[k, 2]
        con_lambda[k, 2] = imp[k, 0] * con_t2[k, 0] + imp[k, 1] * con_t2[k, 1] \
            + imp[k, 2] * con_t2[k, 2]
    for k in range(nc):
        a, b = con_body[k, 0], con_body[k, 1]
        if kind[a] == BODY_DYNAMIC:
            for i in range(3):
                ra[i] = con_pos[k, i] - pos[a, i]
            apply_impulse(xmat[a], invmass[a], inertia[a], ra, imp[k], vel_free[a],
                          ang_vel_free[a])
        if kind[b] == BODY_DYNAMIC:
            for i in range(3):
                rb[i] = con_pos[k, i] - pos[b, i]
                f[i] = -imp[k, i]
            apply_impulse(xmat[b], invmass[b], inertia[b], rb, f, vel_free[b], ang_vel_free[b])
    return worst


# ----------------------------------------------------------------------------------------------
# Adjoints


@jit(entry=True, inline="always")  # per contact
def penalty_force_vjp(gap, n, u, mu, stiffness, damping, exponent, vsmooth, f_bar, kink,
                      n_bar, u_bar, s_bar):
    # vjp of penalty_force: (gap, n, u, mu, k, d) -> f; s_bar (4,) += (gap, mu, k, d) cotangents.
    # Kinks (the touch gap == 0, and f_n clamped at 0 by damping) follow the kink convention.
    if gap > 0.0:
        return
    pen = -gap
    un = u[0] * n[0] + u[1] * n[1] + u[2] * n[2]
    damp = 1.0 - damping * un
    pp = pen ** exponent
    fraw = stiffness * pp * damp
    fn = max(fraw, 0.0)
    ut0, ut1, ut2 = u[0] - un * n[0], u[1] - un * n[1], u[2] - un * n[2]
    rho = np.sqrt(ut0 * ut0 + ut1 * ut1 + ut2 * ut2 + vsmooth * vsmooth)
    c = mu * fn / rho
    # f = fn n - c ut
    fn_bar = f_bar[0] * n[0] + f_bar[1] * n[1] + f_bar[2] * n[2]
    c_bar = -(f_bar[0] * ut0 + f_bar[1] * ut1 + f_bar[2] * ut2)
    s_bar[1] += c_bar * fn / rho
    fn_bar += c_bar * mu / rho
    rho_bar = -c_bar * c / rho
    utb0 = -c * f_bar[0] + rho_bar * ut0 / rho
    utb1 = -c * f_bar[1] + rho_bar * ut1 / rho
    utb2 = -c * f_bar[2] + rho_bar * ut2 / rho
    # ut = u - un n
    un_bar = -(utb0 * n[0] + utb1 * n[1] + utb2 * n[2])
    n_bar[0] += fn * f_bar[0] - un * utb0
    n_bar[1] += fn * f_bar[1] - un * utb1
    n_bar[2] += fn * f_bar[2] - un * utb2
    u_bar[0] += utb0
    u_bar[1] += utb1
    u_bar[2] += utb2
    # fn = max(k pen^p (1 - d un), 0); at gap == 0 only the pen > 0 side has a slope
    if gap == 0.0:  # touching exactly: the pen > 0 side is the gap's left side
        fr_bar = fn_bar * ramp_slope(damp, kink) * (1.0 - ramp_slope(0.0, kink))
    else:
        fr_bar = fn_bar * ramp_slope(fraw, kink)
    s_bar[2] += fr_bar * pp * damp
    s_bar[3] -= fr_bar * stiffness * pp * un
    un_bar -= fr_bar * stiffness * pp * damping
    if exponent == 1.0:
        dpp = 1.0
    else:
        dpp = exponent * pen ** (exponent - 1.0)
    s_bar[0] -= fr_bar * stiffness * dpp * damp
    for i in range(3):
        u_bar[i] += un_bar * n[i]
        n_bar[i] += un_bar * u[i]


@jit
def penalty_impulses_vjp(m, d, a, h, kink):
    # vjp of penalty_impulses, after the forward pass re-ran on this substep's contacts.
    # in: a.vfree_bar / a.wfree_bar (cotangents of the post-contact velocities);
    # accumulates a.vel_bar, a.ang_vel_bar (start of step), a.pos_bar, a.R_bar, a.con_*_bar,
    # a.invmass_bar, a.inertia_bar, a.scalar_bar (stiffness, damping: consts.SLOT_*).
    nc = d.ncon[0]
    ua, ub, u, ra, rb, f, imp = (np.empty(3), np.empty(3), np.empty(3), np.empty(3), np.empty(3),
                                 np.empty(3), np.empty(3))
    imp_bar, f_bar, u_bar, ra_bar, rb_bar, n_bar = (np.empty(3), np.empty(3), np.empty(3),
                                                    np.empty(3), np.empty(3), np.empty(3))
    s_bar = np.empty(4)
    mb = np.empty(1)
    for k in range(nc):
        if d.con_dist[k] > 0.0:  # no force, so no cotangent to pass on (gap 0 has a slope)
            continue
        i, j = d.con_body[k, 0], d.con_body[k, 1]
        for q in range(3):
            ra[q] = d.con_pos[k, q] - d.pos[i, q]
            rb[q] = d.con_pos[k, q] - d.pos[j, q]
        point_velocity(d.vel[i], d.ang_vel[i], ra, ua)
        point_velocity(d.vel[j], d.ang_vel[j], rb, ub)
        for q in range(3):
            u[q] = ua[q] - ub[q]
        penalty_force(d.con_dist[k], d.con_normal[k], u, d.con_mu[k], m.pen_stiffness,
                      m.pen_damping, m.pen_exponent, m.pen_vsmooth, f)
        imp_bar[:] = 0.0
        ra_bar[:] = 0.0
        rb_bar[:] = 0.0
        if m.body_kind[i] == BODY_DYNAMIC:
            for q in range(3):
                imp[q] = h * f[q]
            mb[0] = 0.0
            apply_impulse_vjp(d.xmat[i], m.body_invmass[i], m.body_inertia[i], ra, imp,
                              a.vfree_bar[i], a.wfree_bar[i], a.R_bar[i], ra_bar, imp_bar, mb,
                              a.inertia_bar[i])
            a.invmass_bar[i] += mb[0]
        if m.body_kind[j] == BODY_DYNAMIC:
            for q in range(3):
                imp[q] = -h * f[q]
                f_bar[q] = 0.0
            mb[0] = 0.0
            apply_impulse_vjp(d.xmat[j], m.body_invmass[j], m.body_inertia[j], rb, imp,
                              a.vfree_bar[j], a.wfree_bar[j], a.R_bar[j], rb_bar, f_bar, mb,
                              a.inertia_bar[j])
            a.invmass_bar[j] += mb[0]
            for q in range(3):
                imp_bar[q] -= f_bar[q]
        for q in range(3):
            f_bar[q] = h * imp_bar[q]
            u_bar[q] = 0.0
            n_bar[q] = 0.0
        s_bar[:] = 0.0
        penalty_force_vjp(d.con_dist[k], d.con_normal[k], u, d.con_mu[k], m.pen_stiffness,
                          m.pen_damping, m.pen_exponent, m.pen_vsmooth, f_bar, kink, n_bar,
                          u_bar, s_bar)
        a.con_dist_bar[k] += s_bar[0]
        a.con_mu_bar[k] += s_bar[1]
        a.scalar_bar[SLOT_STIFFNESS] += s_bar[2]
        a.scalar_bar[SLOT_DAMPING] += s_bar[3]
        for q in range(3):
            a.con_normal_bar[k, q] += n_bar[q]
            ub[q] = -u_bar[q]
        point_velocity_vjp(d.ang_vel[i], ra, u_bar, a.vel_bar[i], a.ang_vel_bar[i], ra_bar)
        point_velocity_vjp(d.ang_vel[j], rb, ub, a.vel_bar[j], a.ang_vel_bar[j], rb_bar)
        for q in range(3):
            a.con_pos_bar[k, q] += ra_bar[q] + rb_bar[q]
            a.pos_bar[i, q] -= ra_bar[q]
            a.pos_bar[j, q] -= rb_bar[q]
