"""Hard contact: impacts in phases, restitution, time of impact, and the resting solve.

Impacts (contacts that close within the step and would leave faster than a threshold) are
resolved in phases. One simultaneous solve with Newton restitution cannot pass
momentum along a row of touching balls (a cradle of three gives (-1/3, 2/3, 2/3) v instead of
(0, 0, v)), so each phase solves over the contacts that approach faster than a threshold, with
restitution targets from their current approach speed, until none does; a final solve over all
contacts then enforces non-penetration (speculative phi / h and Baumgarte beta phi / h terms).
Each solve is hard_solver.py's complementarity problem; the impact times and the contact
geometry at them are toi.py's.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import BODY_KINEMATIC, KINK_LEFT, KINK_RIGHT, MAXCON_PAIR
from simcore.kernels.contact_space import (apply_contact_impulse, contact_jacobian,
                                           contact_jacobians, contact_poses, contact_velocity,
                                           contact_velocity_vjp, frames_to_normals,
                                           scatter_pose_bars, undo_impulses, velocity)
from simcore.kernels.hard_solver import fixed_point_vjp, solve
from simcore.kernels.memory import remember, warm_start
from simcore.kernels.rolling import any_resistance, resistance, resistance_vjp, torque_rows
from simcore.kernels.rotation import (quat_integrate, quat_integrate_vjp, quat_to_mat,
                                      rot_bar_to_twist)
from simcore.kernels.toi import (impact_pose, impact_rate, impact_rate_inverse,
                                 impact_rate_inverse_vjp, impact_rate_vjp, impact_time,
                                 impact_time_vjp, refresh_at_impact, refresh_vjp, set_hit, TIE,
                                 tied, unequal_moments, vel_pre_vjp)


@jit(inline="always")
def penetration_bias(m, phi, h):
    # the normal bias that corrects a penetration phi < 0: Baumgarte's beta phi / h, no faster
    # than hard_depenetration_speed (an overlap of 0.1 m at 1 ms is pushed out at 1 m/s, not
    # 20: a deep overlap is corrected over several steps instead of launching the bodies)
    return max(m.hard_baumgarte * phi / h, -m.hard_depenetration_speed)


@jit(inline="always")
def _gap_tol(un, h):
    # a gap within this of zero counts as open (not a penetration): what the approach un
    # closes in a tie of impact times (TIE of the step). A contact refreshed at its own impact
    # time has a zero gap up to rounding, and the vjp must not take its side from the rounding
    return TIE * h * abs(un)


@jit(inline="always")
def _penetration_part(m, phi, un, h):
    # an impact phase's bias for its gap phi, approach speed un: the penetration's correction,
    # none when apart
    return penetration_bias(m, phi, h) if phi < -_gap_tol(un, h) else 0.0


@jit(inline="always")
def _penetration_slope(m, phi, h, kink):
    # d penetration_bias / d phi: beta / h, 0 beyond the speed limit (a kink at the limit)
    return _ramp_slope_at(m.hard_baumgarte * phi / h + m.hard_depenetration_speed, 0.0,
                          m.hard_baumgarte / h, kink)


@jit(inline="always")
def _penetration_part_slope(m, phi, un, h, kink):
    # d _penetration_part / d phi
    return _ramp_slope_at(phi + _gap_tol(un, h), _penetration_slope(m, phi, h, kink), 0.0, kink)


@jit
def _phase_work(d, sel, nsel, Vp, Wp, V, W, lam):
    # the work of a phase's impulses lam, taking the velocities from Vp, Wp to V, W: the
    # kinetic energy they add, sum_k lam_k . (u_k before + u_k after) / 2
    up, u = np.empty(3), np.empty(3)
    work = 0.0
    for s in range(nsel):
        k = sel[s]
        contact_velocity(d, k, Vp, Wp, up)
        contact_velocity(d, k, V, W, u)
        for j in range(3):
            work += 0.5 * lam[k, j] * (up[j] + u[j])
    return work


@jit
def _blend_work(d, sel, nsel, Vp, Wp, V0, W0, lam0, VN, WN, lamN):
    # the work g(alpha) = g0 + c1 alpha + c2 alpha^2 of the blend lam0 + alpha (lamN - lam0) of
    # a phase's plastic impulses lam0 (velocities V0, W0 after them) and Newton's lamN (VN, WN),
    # from Vp, Wp; returns (g0, c1, c2)
    up, u0, un = np.empty(3), np.empty(3), np.empty(3)
    g0 = c1 = c2 = 0.0
    for s in range(nsel):
        k = sel[s]
        contact_velocity(d, k, Vp, Wp, up)
        contact_velocity(d, k, V0, W0, u0)
        contact_velocity(d, k, VN, WN, un)
        for j in range(3):
            dl = lamN[k, j] - lam0[k, j]
            du = un[j] - u0[j]
            g0 += 0.5 * lam0[k, j] * (up[j] + u0[j])
            c1 += 0.5 * (dl * (up[j] + u0[j]) + lam0[k, j] * du)
            c2 += 0.5 * dl * du
    return g0, c1, c2


@jit(entry=True)
def _cap_fraction(c0, c1, c2):
    # the alpha in [0, 1] where f = c0 + c1 alpha + c2 alpha^2 (f(0) = c0 <= 0 < f(1)) crosses
    # zero upwards: f'(alpha) = c1 + 2 c2 alpha = sqrt(c1^2 - 4 c0 c2) there
    if c2 == 0.0:
        return min(max(-c0 / c1, 0.0), 1.0)
    sq = np.sqrt(max(c1 * c1 - 4.0 * c0 * c2, 0.0))
    if c1 >= 0.0:
        alpha = -2.0 * c0 / (sq + c1) if sq + c1 > 0.0 else 0.0  # (no cancellation)
    else:
        alpha = (sq - c1) / (2.0 * c2)
    return min(max(alpha, 0.0), 1.0)


@jit(inline="always")
def _turns(m, hit, body, k):
    # contact k has a body in an impact whose inertia turns with it (unequal moments)
    for s in range(2):
        i = body[k, s]
        if hit[i] and unequal_moments(m.body_inertia, i):
            return True
    return False


@jit
def _jacobian_at_impact(m, d, k, hit, Rt):
    # contact k's Jacobian with the inertia of its bodies in an impact at their poses Rt there
    # (its lever arms from the step's start: the contact's geometry is the start's)
    a, b = d.con_body[k, 0], d.con_body[k, 1]
    Ra = Rt[a] if hit[a] and unequal_moments(m.body_inertia, a) else d.xmat[a]
    Rb = Rt[b] if hit[b] and unequal_moments(m.body_inertia, b) else d.xmat[b]
    contact_jacobian(m, d, k, d.pos[a], Ra, d.pos[b], Rb)


@jit
def hard_contacts(m, d, h):
    """Impulses of every contact of the step (impact phases, then the resting solve).

    in: d.vel / d.ang_vel (start of step), d.vel_free / d.ang_vel_free (free velocities v*),
    d.con_* geometry;
    out: d.vel_free / d.ang_vel_free hold the end-of-step velocities; for bodies in an impact
    (toi) d.body_toi is the impact time t (-1: none), d.vel_pre / d.vel_post (and ang_) the mean
    velocities over [0, t] and [t, h];
    d.con_lambda the summed impulses, d.con_phase each contact's first impact phase (-1: none)
    and d.con_toi its impact time then, d.log_* every phase's contacts and impulses in order
    (d.nlog[0] = -1 when they did not fit), d.con_bias the resting solve's bias.
    Returns (largest residual, solves not converged).

    With toi the motion within the step is the parabola that semi-implicit Euler integrates
    exactly (its velocity lives at the half steps): the impact acts on the instantaneous
    velocity at t, and the end-of-step velocity is re-staggered. Both limits t -> h and t -> 0
    agree with the neighbouring step, so the end-of-step state is continuous in the start
    state, and a ball bouncing under gravity is exact up to rounding.
    """
    nc = d.ncon[0]
    nb = m.nbody
    V, W = d.vel_free, d.ang_vel_free
    # (the records' arrays that per-contact and per-body loops use, read before them:
    # simcore/_jit.py, records)
    body, dist, J, cbias = d.con_body, d.con_dist, d.con_J, d.con_bias
    clam, cphase, ctoi, csrc = d.con_lambda, d.con_phase, d.con_toi, d.con_refresh_src
    btoi, vel, ang_vel = d.body_toi, d.vel, d.ang_vel
    acc_v = np.empty((nb, 3))  # free accelerations over the step
    acc_w = np.empty((nb, 3))
    for i in range(nb):
        btoi[i] = -1.0  # no impact
        for j in range(3):
            acc_v[i, j] = (V[i, j] - vel[i, j]) / h
            acc_w[i, j] = (W[i, j] - ang_vel[i, j]) / h
    hit = np.zeros(nb, dtype=np.bool_)
    Rt = np.empty((nb, 3, 3))  # (toi) the pose at the impact of a body with unequal moments
    turned = np.zeros(nc, dtype=np.bool_)  # contacts whose impact phases took Rt's inertia
    contact_jacobians(m, d, nc)
    cap_margin = d.con_cap_margin
    parent = d.con_parent
    for k in range(nc):
        parent[k] = -1  # (torque blocks come only with the resting solve, after the contacts)
        for j in range(3):
            clam[k, j] = 0.0
        cphase[k] = -1
        ctoi[k] = 0.0
        csrc[k] = -1
        cap_margin[k] = np.inf
    d.nlog[0] = 0
    lam = d.con_lam_phase
    sel = d.con_sel
    lam0 = np.empty((nc, 3))  # a phase's plastic impulses (its work cap) and their bias
    bias0 = np.empty(nc)
    u = np.empty(3)
    u0 = np.empty(3)
    worst, failures = 0.0, 0
    xa, xb, qa, qb = np.empty(3), np.empty(3), np.empty(4), np.empty(4)
    Ra, Rb = np.empty((3, 3)), np.empty((3, 3))
    buf_d, buf_n, buf_p = np.empty(MAXCON_PAIR), np.empty((MAXCON_PAIR, 3)), \
        np.empty((MAXCON_PAIR, 3))
    npair_con = np.empty(nc, dtype=np.int64)  # contacts of the same body pair (consecutive)
    pair0 = np.empty(nc, dtype=np.int64)  # the pair's first contact
    k = 0
    while k < nc:
        l = k + 1
        while l < nc and body[l, 0] == body[k, 0] and body[l, 1] == body[k, 1]:
            l += 1
        for q in range(k, l):
            npair_con[q] = l - k
            pair0[q] = k
        k = l
    max_phases = 2 * nc + 8
    phase = 0
    while phase < max_phases:
        # select the contacts approaching faster than the threshold that close in this step
        nsel = np.int64(0)
        for k in range(nc):
            velocity(J, body, k, V, W, u)
            phi = dist[k]
            if not (phi + h * u[0] < 0.0):
                continue
            a, b = d.con_body[k, 0], d.con_body[k, 1]
            if m.hard_toi and not (hit[a] and hit[b]):
                # when it closes under the split step's motion, and how fast it approaches then
                contact_velocity(d, k, d.vel, d.ang_vel, u0)
                an = (u[0] - u0[0]) / h
                troot = impact_time(phi, u0[0] + 0.5 * an * h, 0.5 * an, h)
                t = troot
                if hit[a] or hit[b]:  # set off by an earlier impact: not before that one
                    t = max(t, d.body_toi[a] if hit[a] else 0.0,
                            d.body_toi[b] if hit[b] else 0.0)
                approach = u0[0] + (t + 0.5 * h) * an
            else:
                t = troot = 0.0
                approach = u[0]
            # a bounce: it leaves faster than the threshold. (A plastic landing is no impact:
            # the speculative resting constraint puts the body exactly on the surface.)
            if d.con_e[k] * approach < -m.hard_restitution_threshold:
                sel[nsel] = k
                nsel += 1
                if d.con_phase[k] == -1:  # its impact time is that of its first phase
                    d.con_toi[k] = t
                    d.con_toi_root[k] = troot
        if nsel == 0:
            break
        if m.hard_toi:
            # a body's velocity is set at its earliest impact among the selected contacts
            for s in range(nsel):
                k = sel[s]
                for side in range(2):
                    i = d.con_body[k, side]
                    if not hit[i]:
                        tb = d.con_toi[k]
                        for s2 in range(nsel):
                            k2 = sel[s2]
                            if d.con_body[k2, 0] == i or d.con_body[k2, 1] == i:
                                tb = min(tb, d.con_toi[k2])
                        if not set_hit(m, d, i, tb, h, hit, acc_v, acc_w, V, W, Rt):
                            failures += 1  # its rotation before the impact did not solve
            s = 0
            while phase == 0 and s < nsel:
                # a pair without a kinematic body: its geometry at its earliest impact (sel is
                # sorted; a static body's pose at t is its pose)
                k = sel[s]
                k0 = pair0[k]
                src = k
                s += 1
                while s < nsel and pair0[sel[s]] == k0:
                    if d.con_toi[sel[s]] < d.con_toi[src]:
                        src = sel[s]
                    s += 1
                a, b = d.con_body[k, 0], d.con_body[k, 1]
                if (d.con_toi[src] > 0.0 and m.body_kind[a] != BODY_KINEMATIC
                        and m.body_kind[b] != BODY_KINEMATIC
                        and refresh_at_impact(m, d, k0, npair_con[k], d.con_toi[src], xa, Ra, qa,
                                               xb, Rb, qb, buf_d, buf_n, buf_p)):
                    d.con_refresh_src[k0:k0 + npair_con[k]] = src
            # the impact acts on the instantaneous velocities at t: with the inertia there
            for s in range(nsel):
                k = sel[s]
                if not turned[k] and d.con_refresh_src[k] < 0 and _turns(m, hit, d.con_body, k):
                    turned[k] = True
                    _jacobian_at_impact(m, d, k, hit, Rt)
        for s in range(nsel):
            k = sel[s]
            contact_velocity(d, k, V, W, u)
            # Newton restitution alone sets the exit speed. (A speculative phi / h term here
            # would take up to the whole speed away; without toi the ball then bounces off
            # where it is, an O(h v) position error, which is the failure toi removes.)
            d.con_bias[k] = (d.con_e[k] * min(u[0], 0.0)
                             + _penetration_part(m, d.con_dist[k], u[0], h))
            lam[k, :] = 0.0
            if d.con_phase[k] == -1:
                d.con_phase[k] = phase
        res = solve(m, d, sel, nsel, d.con_bias, lam, V, W, npair_con)
        worst = max(worst, res)
        if not res <= m.opt_tol_fail:
            failures += 1
        # no positive work: Newton's law with friction can add energy (Kane's paradox)
        alpha = 1.0
        Vp, Wp = V.copy(), W.copy()
        undo_impulses(d, sel, nsel, lam, Vp, Wp)
        work = _phase_work(d, sel, nsel, Vp, Wp, V, W, lam)
        if work > 0.0:
            for s in range(nsel):
                k = sel[s]
                contact_velocity(d, k, Vp, Wp, u)
                bias0[k] = _penetration_part(m, d.con_dist[k], u[0], h)  # (restitution 0)
                lam0[k, :] = 0.0
            V0, W0 = Vp.copy(), Wp.copy()
            res = solve(m, d, sel, nsel, bias0, lam0, V0, W0, npair_con)
            worst = max(worst, res)
            if not res <= m.opt_tol_fail:
                failures += 1
            g0, c1, c2 = _blend_work(d, sel, nsel, Vp, Wp, V0, W0, lam0, V, W, lam)
            c0 = min(g0, 0.0)
            work = c0 + c1 + c2  # (Newton's work less the cap's)
            if work > 0.0:
                alpha = _cap_fraction(c0, c1, c2)
                for i in range(nb):
                    for j in range(3):
                        V[i, j] = V0[i, j] + alpha * (V[i, j] - V0[i, j])
                        W[i, j] = W0[i, j] + alpha * (W[i, j] - W0[i, j])
        # the distance to the cap's switch, as work per unit of the phase's normal impulse
        # (m/s; from Newton's own work where the plastic solve was not needed, a lower bound)
        total = 0.0
        for s in range(nsel):
            total += lam[sel[s], 0]
        for s in range(nsel):
            k = sel[s]
            if total > 0.0:
                d.con_cap_margin[k] = min(d.con_cap_margin[k], abs(work) / total)
        e0 = d.nlog[0]
        fits = e0 >= 0 and e0 + nsel <= d.log_con.shape[0]
        for s in range(nsel):
            k = sel[s]
            for j in range(3):
                d.con_lambda[k, j] += lam[k, j] if alpha == 1.0 else \
                    lam0[k, j] + alpha * (lam[k, j] - lam0[k, j])
            if fits:
                d.log_con[e0 + s] = k
                d.log_phase[e0 + s] = phase
                d.log_lam[e0 + s, :] = lam[k]
                d.log_alpha[e0 + s] = alpha
                if alpha < 1.0:
                    d.log_lam0[e0 + s, :] = lam0[k]
        d.nlog[0] = e0 + nsel if fits else -1
        phase += 1
    if phase == max_phases:
        failures += 1
    # bodies that took part in an impact: from the instantaneous velocity after it back to the
    # staggered end-of-step velocity of the integrator
    for i in range(nb):
        if hit[i]:
            t = d.body_toi[i]
            if unequal_moments(m.body_inertia, i):  # (the parabola's rate at t, see set_hit)
                u[:] = W[i]
                impact_rate_inverse(d.xmat[i], Rt[i], m.body_inertia[i], d.ang_mom_offset[i], t,
                                    h, u, W[i])
            for j in range(3):
                V[i, j] += (0.5 * h - t) * acc_v[i, j]
                W[i, j] += (0.5 * h - t) * acc_w[i, j]
    for k in range(nc):
        if turned[k]:  # back to the start-of-step inertia
            a, b = d.con_body[k, 0], d.con_body[k, 1]
            contact_jacobian(m, d, k, d.pos[a], d.xmat[a], d.pos[b], d.xmat[b])
    # resting solve over all contacts: no restitution, the body may approach to the surface;
    # warm-started from the previous step's resting impulses
    Vm = V.copy()  # mean velocities over [0, t] of bodies in an impact (v* for the others)
    Wm = W.copy()
    for i in range(nb):
        if hit[i]:
            Vm[i, :] = d.vel_pre[i]
            Wm[i, :] = d.ang_vel_pre[i]
    for k in range(nc):
        sel[k] = k
        phi = dist[k]
        cbias[k] = phi / h if phi > 0.0 else penetration_bias(m, phi, h)
        a, b = body[k, 0], body[k, 1]
        if hit[a] or hit[b]:
            # after an impact at t the pose moves with u_end + t a_n / 2 for the rest h - t of
            # the step, from the gap at t: keep that end gap non-negative. (The gap phi is the
            # one at the start of the step, or at the impact time for a refreshed contact.)
            tc = max(d.body_toi[a] if hit[a] else 0.0, d.body_toi[b] if hit[b] else 0.0)
            src = d.con_refresh_src[k]
            contact_velocity(d, k, Vm, Wm, u)
            gap = phi + (tc - (d.con_toi[src] if src >= 0 else 0.0)) * u[0]
            contact_velocity(d, k, acc_v, acc_w, u0)
            # an open gap may close over the rest of the step; a penetration (a resting contact
            # whose body sank over [0, t] moving freely towards the impact) is corrected at the
            # usual Baumgarte rate: over the rest h - t it would be launched at ~ 1 / (h - t)
            rest = max(h - tc, 1e-12 * h)
            d.con_bias[k] = (gap / rest if gap >= -_gap_tol(u[0], h) else
                             penetration_bias(m, gap, h)) + 0.5 * tc * u0[0]
    # rolling and torsional friction: a block of torque rows, after the contacts, for each body
    # pair touching at one contact that has them (bounded by its normal impulse in this solve;
    # it and its block are always solved: npair 0, not set aside while separated, solve()); the
    # stage after the solve for pairs held by several contacts (rolling.py)
    nt = torque_rows(m, d, nc)
    n = nc + nt
    npair = npair_con
    if nt > 0:
        npair = np.empty(n, dtype=np.int64)
        npair[:nc] = npair_con
        for e in range(nc, n):
            sel[e] = e
            npair[e] = 0
            npair[parent[e]] = 0
    keys = np.empty(n, dtype=np.int64)
    warm_start(m, d, n, keys, lam, V, W)
    res = solve(m, d, sel, n, d.con_bias, lam, V, W, npair)
    remember(d, n, keys, lam)
    worst = max(worst, res)
    if not res <= m.opt_tol_fail:
        failures += 1
    for k in range(nc):
        for j in range(3):
            clam[k, j] += lam[k, j]
    if any_resistance(m):
        resistance(m, d, lam, W)
    # mean velocity over [t, h] for the pose of bodies in an impact
    for i in range(nb):
        if hit[i]:
            t = d.body_toi[i]
            for j in range(3):
                d.vel_post[i, j] = V[i, j] + 0.5 * t * acc_v[i, j]
                d.ang_vel_post[i, j] = W[i, j] + 0.5 * t * acc_w[i, j]
    return worst, failures


# ----------------------------------------------------------------------------------------------
# Adjoint (the solves' own: hard_solver.fixed_point_vjp; the impact times': toi.py)


@jit
def _blend_vjp(d, a, sel, nsel, alpha, Vp, Wp, V0, W0, lam0, VN, WN, lamN, P, Vb, Wb, Vpb, Wpb,
               V0b, W0b, lam0_bar, lamN_bar):
    """vjp of a capped phase's velocities V = V0 + alpha (VN - V0) (hard_contacts), alpha the
    root of its work f(alpha) = g(alpha) - max(g(0), 0) (_blend_work, _cap_fraction).

    in: Vb, Wb the cotangent of V, W; out: VN's in Vb, Wb (in place), V0's in V0b, W0b, the
    phase's start velocities' in Vpb, Wpb, the impulses' in lam0_bar, lamN_bar (all added to),
    and the contacts' geometry through P."""
    cx, cR, cx_bar, cR_bar, tb = P
    alpha_bar = 0.0
    for i in range(Vb.shape[0]):
        for j in range(3):
            alpha_bar += (VN[i, j] - V0[i, j]) * Vb[i, j] + (WN[i, j] - W0[i, j]) * Wb[i, j]
            V0b[i, j] += (1.0 - alpha) * Vb[i, j]
            W0b[i, j] += (1.0 - alpha) * Wb[i, j]
            Vb[i, j] *= alpha
            Wb[i, j] *= alpha
    g0, c1, c2 = _blend_work(d, sel, nsel, Vp, Wp, V0, W0, lam0, VN, WN, lamN)
    slope = c1 + 2.0 * c2 * alpha
    if not slope > 0.0:  # (a double root: alpha does not move to first order)
        return
    # f(alpha) = 0: c_i's cotangent is -alpha_bar alpha^i / f'(alpha); c0 = min(g0, 0)
    c0_bar = -alpha_bar / slope
    c1_bar = c0_bar * alpha
    c2_bar = c1_bar * alpha
    g0_bar = c0_bar if g0 < 0.0 else 0.0
    up, u0, un = np.empty(3), np.empty(3), np.empty(3)
    upb, u0b, unb = np.empty(3), np.empty(3), np.empty(3)
    for s in range(nsel):
        k = sel[s]
        contact_velocity(d, k, Vp, Wp, up)
        contact_velocity(d, k, V0, W0, u0)
        contact_velocity(d, k, VN, WN, un)
        for j in range(3):
            dl = lamN[k, j] - lam0[k, j]
            du = un[j] - u0[j]
            sp = up[j] + u0[j]
            lam0_bar[k, j] += 0.5 * (g0_bar * sp + c1_bar * (du - sp) - c2_bar * du)
            lamN_bar[k, j] += 0.5 * (c1_bar * sp + c2_bar * du)
            upb[j] = 0.5 * (g0_bar * lam0[k, j] + c1_bar * dl)
            u0b[j] = 0.5 * (g0_bar * lam0[k, j] + c1_bar * (dl - lam0[k, j]) - c2_bar * dl)
            unb[j] = 0.5 * (c1_bar * lam0[k, j] + c2_bar * dl)
        contact_velocity_vjp(d, a, k, cx, Vp, Wp, upb, Vpb, Wpb, tb[k], cx_bar)
        contact_velocity_vjp(d, a, k, cx, V0, W0, u0b, V0b, W0b, tb[k], cx_bar)
        contact_velocity_vjp(d, a, k, cx, VN, WN, unb, Vb, Wb, tb[k], cx_bar)


@jit
def _ramp_slope_at(x, lo, hi, kink):
    # slope of a function with slope lo for x < 0 and hi for x > 0, at x (kink at x == 0)
    if x > 0.0:
        return hi
    if x < 0.0:
        return lo
    if kink == KINK_LEFT:
        return lo
    if kink == KINK_RIGHT:
        return hi
    return 0.5 * (lo + hi)


@jit
def _add_scaled(i, s, v, w, vb, wb):
    # vb[i] += s v[i], wb[i] += s w[i]
    for j in range(3):
        vb[i, j] += s * v[i, j]
        wb[i, j] += s * w[i, j]


@jit
def _dot6(i, v, w, vb, wb):
    acc = 0.0
    for j in range(3):
        acc += v[i, j] * vb[i, j] + w[i, j] * wb[i, j]
    return acc


@jit
def hard_contacts_vjp(m, d, a, h, kink, Vstar, Wstar, geom0, vpre_bar, wpre_bar, vpost_bar,
                      wpost_bar, toi_bar):
    """vjp of hard_contacts, after it re-ran on this substep (d holds its solves: d.con_phase,
    d.con_lambda the summed impulses, d.con_lam_phase the resting solve's, d.vel_free /
    ang_vel_free the end-of-step velocities, d.body_toi the impact times). Each solve is
    differentiated at its fixed point, last first; the velocities before each are recovered by
    taking its impulses off. With toi, the impact times are differentiated too (the root of
    the gap's parabola, and every place the step uses them).

    Vstar, Wstar: the free velocities (hard_contacts overwrote d.vel_free); geom0 (dist,
    normal, point): the contacts' geometry from the collision at the step start (an impact
    without a kinematic body refreshes its contacts' at the impact poses); vpre_bar ..
    toi_bar: cotangents of d.vel_pre, d.ang_vel_pre, d.vel_post, d.ang_vel_post, d.body_toi
    from the split integration (zero for bodies without an impact); in: a.vfree_bar /
    a.wfree_bar, the end-of-step velocities' cotangents; out: the free velocities'; start
    velocities' cotangents are added to a.vel_bar / a.ang_vel_bar.
    A contact may take part in several phases (d.log_*): each phase is differentiated with its
    own impulses, and its impact time is that of its first phase.
    """
    nc = d.ncon[0]
    nb = m.nbody
    if nc == 0:
        return
    nlog = d.nlog[0]
    nph = d.log_phase[nlog - 1] + 1 if nlog > 0 else 0
    hit = np.zeros(nb, dtype=np.bool_)
    body_phase = np.full(nb, -1)
    # (the records' arrays read before the loops that run for every contact or body:
    # simcore/_jit.py, records)
    body_toi, con_body, con_phase, con_dist = d.body_toi, d.con_body, d.con_phase, d.con_dist
    src = d.con_refresh_src
    for i in range(nb):
        hit[i] = body_toi[i] >= 0.0
    cx, cR, cx_bar, cR_bar = contact_poses(d, nc)
    # (toi) bodies with unequal moments: their poses at the impact, and the contacts whose
    # impact phases took the inertia there (set_hit, _jacobian_at_impact)
    Rt = np.empty((nb, 3, 3))
    Rt_bar = np.zeros((nb, 3, 3))
    q4 = np.empty(4)
    for i in range(nb):
        if hit[i] and unequal_moments(m.body_inertia, i):
            quat_integrate(d.quat[i], d.ang_vel_pre[i], d.body_toi[i], q4)
            quat_to_mat(q4, Rt[i])
    turned = np.zeros(nc, dtype=np.bool_)
    for k in range(nc):
        turned[k] = con_phase[k] >= 0 and src[k] < 0 and _turns(m, hit, con_body, k)
    tb = np.zeros((nc, 3, 3))
    P = (cx, cR, cx_bar, cR_bar, tb)
    q = np.empty(4)
    for k in range(nc):
        if src[k] >= 0:  # its geometry and Jacobian were taken at the impact poses
            for s in range(2):
                impact_pose(d, d.con_body[k, s], d.con_toi[src[k]], cx[k, s], q, cR[k, s])
        p = con_phase[k]
        if p < 0 or not m.hard_toi:
            continue
        for s in range(2):
            i = con_body[k, s]
            if hit[i] and (body_phase[i] < 0 or p < body_phase[i]):
                body_phase[i] = p
    acc_v = np.empty((nb, 3))
    acc_w = np.empty((nb, 3))
    vel, ang_vel = d.vel, d.ang_vel
    for i in range(nb):
        for j in range(3):
            acc_v[i, j] = (Vstar[i, j] - vel[i, j]) / h
            acc_w[i, j] = (Wstar[i, j] - ang_vel[i, j]) / h
    acc_vb = np.zeros((nb, 3))
    acc_wb = np.zeros((nb, 3))
    V = d.vel_free.copy()
    W = d.ang_vel_free.copy()
    Vb, Wb = a.vfree_bar, a.wfree_bar
    for i in range(nb):
        if hit[i]:
            t = d.body_toi[i]
            # vel_post = V_end + t acc / 2;  vel_pre = v + (h + t) acc / 2
            _add_scaled(i, 1.0, vpost_bar, wpost_bar, Vb, Wb)
            toi_bar[i] += 0.5 * _dot6(i, acc_v, acc_w, vpost_bar, wpost_bar)
            _add_scaled(i, 0.5 * t, vpost_bar, wpost_bar, acc_vb, acc_wb)
            vel_pre_vjp(m, d, a, i, h, vpre_bar[i], wpre_bar[i], acc_v, acc_w, acc_vb, acc_wb,
                         toi_bar)
    n = nc + d.ntorque[0]  # the resting solve's entries: contacts, then torque blocks
    b_bar = np.zeros(n)
    t_bar = np.zeros(nc)  # cotangents of the contacts' impact times d.con_toi
    tr_bar = np.zeros(nc)  # those of the refresh times (indexed by the source contact)
    ties = np.empty(nc, dtype=np.int64)  # contacts whose impact times tie
    sel = np.arange(n)
    lam = d.con_lam_phase
    # resting solve: b = phi / h (gap) or beta phi / h (penetration); after an impact at t,
    # b = f(gap) / (h - tc) + tc a_n / 2 with gap = phi + tc u_n(mean velocity before it)
    rest_lam_bar = np.zeros((n, 3))
    if any_resistance(m):
        resistance_vjp(m, d, a, lam, W, Wb, rest_lam_bar, tb, kink)
    # (each solve's slot, fixed_point_vjp: the resting solve 0, phase p's plastic solve 1 + 2 p
    # and its Newton solve 2 + 2 p)
    fixed_point_vjp(m, d, a, sel, n, d.con_bias, lam, V, W, Vb, Wb, rest_lam_bar, kink, P,
                    b_bar, np.int64(0))
    later = nph > 0  # (the velocities before the resting solve: impacts' parts below use them)
    for i in range(nb):
        later = later or hit[i]
    if later:
        undo_impulses(d, sel, n, lam, V, W)
    Vm = V.copy()
    Wm = W.copy()
    Vmb = np.zeros((nb, 3))
    Wmb = np.zeros((nb, 3))
    for i in range(nb):
        if hit[i]:
            Vm[i, :] = d.vel_pre[i]
            Wm[i, :] = d.ang_vel_pre[i]
    u = np.empty(3)
    ubar = np.zeros(3)
    dist_bar = a.con_dist_bar
    for k in range(nc):
        phi = con_dist[k]
        ka, kb = con_body[k, 0], con_body[k, 1]
        if not (hit[ka] or hit[kb]):
            dist_bar[k] += b_bar[k] * _ramp_slope_at(
                phi, _penetration_slope(m, phi, h, kink), 1.0 / h, kink)
            continue
        ta = body_toi[ka] if hit[ka] else 0.0
        tbb = body_toi[kb] if hit[kb] else 0.0
        tc = max(ta, tbb)
        t_geom = d.con_toi[src[k]] if src[k] >= 0 else 0.0
        contact_velocity(d, k, Vm, Wm, u)
        gap = phi + (tc - t_geom) * u[0]
        un_m = u[0]
        contact_velocity(d, k, acc_v, acc_w, u)
        rest = max(h - tc, 1e-12 * h)
        gap_bar = b_bar[k] * _ramp_slope_at(gap + _gap_tol(un_m, h),
                                            _penetration_slope(m, gap, h, kink), 1.0 / rest, kink)
        tc_bar = gap_bar * un_m + 0.5 * b_bar[k] * u[0]
        if gap >= -_gap_tol(un_m, h) and h - tc > 1e-12 * h:
            tc_bar += b_bar[k] * gap / (rest * rest)
        dist_bar[k] += gap_bar
        if src[k] >= 0:
            tr_bar[src[k]] -= gap_bar * un_m
        ubar[0] = gap_bar * (tc - t_geom)
        contact_velocity_vjp(d, a, k, cx, Vm, Wm, ubar, Vmb, Wmb, tb[k], cx_bar)
        ubar[0] = 0.5 * b_bar[k] * tc
        contact_velocity_vjp(d, a, k, cx, acc_v, acc_w, ubar, acc_vb, acc_wb, tb[k], cx_bar)
        # tc = max(ta, tb) over the bodies in an impact (ties shared)
        if hit[ka] and hit[kb] and ta == tbb:
            toi_bar[ka] += 0.5 * tc_bar
            toi_bar[kb] += 0.5 * tc_bar
        elif hit[ka] and ta == tc:
            toi_bar[ka] += tc_bar
        else:
            toi_bar[kb] += tc_bar
    for i in range(nb):
        if hit[i]:  # Vm = vel_pre = v + (h + t) acc / 2
            t = d.body_toi[i]
            vel_pre_vjp(m, d, a, i, h, Vmb[i], Wmb[i], acc_v, acc_w, acc_vb, acc_wb, toi_bar)
            # the re-staggering V += (h / 2 - t) acc after the impact phases
            toi_bar[i] -= _dot6(i, acc_v, acc_w, Vb, Wb)
            _add_scaled(i, 0.5 * h - t, Vb, Wb, acc_vb, acc_wb)
            _add_scaled(i, -(0.5 * h - t), acc_v, acc_w, V, W)
            if unequal_moments(m.body_inertia, i):  # W = impact_rate_inverse(instantaneous)
                impact_rate(d.xmat[i], Rt[i], m.body_inertia[i], d.ang_mom_offset[i], t, h,
                            W[i].copy(), W[i])
                wb = Wb[i].copy()
                Wb[i, :] = 0.0
                toi_bar[i] += impact_rate_inverse_vjp(
                    d.xmat[i], Rt[i], m.body_inertia[i], d.ang_mom_offset[i], t, h, W[i], wb,
                    a.R_bar[i], Rt_bar[i], Wb[i], a.offset_bar[i], a.inertia_bar[i])
        else:
            _add_scaled(i, 1.0, Vmb, Wmb, Vb, Wb)
    for k in range(nc):
        if turned[k]:  # the impact phases: the inertia at the impact (cR: the pose it was at)
            for s in range(2):
                i = d.con_body[k, s]
                if hit[i] and unequal_moments(m.body_inertia, i):
                    a.R_bar[i] += cR_bar[k, s]
                    cR_bar[k, s] = 0.0
                    cR[k, s] = Rt[i]
            _jacobian_at_impact(m, d, k, hit, Rt)
    # impact phases, last first: b = e min(u_n, 0) (+ beta phi / h in penetration), u_n < 0
    # the approach speed before the phase
    lam_p = np.zeros((nc, 3))
    bias = np.zeros(nc)
    # a phase capped to no positive work: its plastic impulses and their solve's cotangents
    lam0, lam_mix, bias0 = np.zeros((nc, 3)), np.zeros((nc, 3)), np.zeros(nc)
    lam_bar, lam0_bar, b0_bar = np.zeros((nc, 3)), np.zeros((nc, 3)), np.zeros(nc)
    u0 = np.empty(3)
    e1 = nlog
    for phase in range(nph - 1, -1, -1):
        e0 = e1
        while e0 > 0 and d.log_phase[e0 - 1] == phase:
            e0 -= 1
        ns = e1 - e0
        for s in range(ns):
            k = d.log_con[e0 + s]
            sel[s] = k
            lam_p[k, :] = d.log_lam[e0 + s]
        alpha = d.log_alpha[e0]
        e1 = e0
        Vp = V.copy()
        Wp = W.copy()
        if alpha < 1.0:  # capped: V = V0 + alpha (VN - V0), the plastic solve's V0, Newton's VN
            for s in range(ns):
                k = sel[s]
                lam0[k, :] = d.log_lam0[e0 + s]
                lam_mix[k, :] = lam0[k] + alpha * (lam_p[k] - lam0[k])
            undo_impulses(d, sel, ns, lam_mix, Vp, Wp)
            V0, W0, VN, WN = Vp.copy(), Wp.copy(), Vp.copy(), Wp.copy()
            for s in range(ns):
                apply_contact_impulse(d, sel[s], lam0[sel[s]], V0, W0)
                apply_contact_impulse(d, sel[s], lam_p[sel[s]], VN, WN)
            Vpb, Wpb = np.zeros((nb, 3)), np.zeros((nb, 3))
            V0b, W0b = np.zeros((nb, 3)), np.zeros((nb, 3))
            lam_bar[:, :] = 0.0
            lam0_bar[:, :] = 0.0
            _blend_vjp(d, a, sel, ns, alpha, Vp, Wp, V0, W0, lam0, VN, WN, lam_p, P, Vb, Wb,
                       Vpb, Wpb, V0b, W0b, lam0_bar, lam_bar)
            for s in range(ns):
                k = sel[s]
                contact_velocity(d, k, Vp, Wp, u)
                bias0[k] = _penetration_part(m, d.con_dist[k], u[0], h)
            fixed_point_vjp(m, d, a, sel, ns, bias0, lam0, V0, W0, V0b, W0b, lam0_bar, kink, P,
                             b0_bar, 1 + 2 * phase)
            for s in range(ns):
                k = sel[s]
                contact_velocity(d, k, Vp, Wp, u)
                a.con_dist_bar[k] += b0_bar[k] * _penetration_part_slope(m, d.con_dist[k], u[0],
                                                                         h, kink)
            for i in range(nb):
                for j in range(3):
                    Vpb[i, j] += V0b[i, j]
                    Wpb[i, j] += W0b[i, j]
        else:
            undo_impulses(d, sel, ns, lam_p, Vp, Wp)
            VN, WN = V, W
            lam_bar[:, :] = 0.0
        for s in range(ns):
            k = sel[s]
            contact_velocity(d, k, Vp, Wp, u)
            bias[k] = d.con_e[k] * min(u[0], 0.0) + _penetration_part(m, d.con_dist[k], u[0], h)
        # (Newton's solve: Vb holds its velocities' cotangent, and then the pre-phase ones')
        fixed_point_vjp(m, d, a, sel, ns, bias, lam_p, VN, WN, Vb, Wb, lam_bar, kink, P, b_bar,
                        2 + 2 * phase)
        if alpha < 1.0:
            for i in range(nb):
                for j in range(3):
                    Vb[i, j] += Vpb[i, j]
                    Wb[i, j] += Wpb[i, j]
        for s in range(ns):
            k = sel[s]
            contact_velocity(d, k, Vp, Wp, u)
            a.con_e_bar[k] += b_bar[k] * min(u[0], 0.0)
            a.con_dist_bar[k] += b_bar[k] * _penetration_part_slope(m, d.con_dist[k], u[0], h,
                                                                    kink)
            ubar[0] = b_bar[k] * d.con_e[k] * _ramp_slope_at(u[0], 1.0, 0.0, kink)
            contact_velocity_vjp(d, a, k, cx, Vp, Wp, ubar, Vb, Wb, tb[k], cx_bar)
        if m.hard_toi:
            k = np.int64(0)
            while phase == 0 and k < nc:  # each refreshed pair, at its first contact
                n = 1
                while k + n < nc and src[k] >= 0 and src[k + n] == src[k]:
                    n += 1
                if src[k] >= 0:
                    refresh_vjp(m, d, a, k, n, h, kink, geom0, P, acc_v, acc_w, acc_vb, acc_wb,
                                 tr_bar, toi_bar)
                    # the refresh time: the earliest of the pair's impact times (tied ones
                    # shared)
                    nties = 0
                    for j in range(k, k + n):
                        if d.con_phase[j] == 0 and tied(d.con_toi[j], d.con_toi[src[k]], h):
                            ties[nties] = j
                            nties += 1
                    _share_tied(tr_bar[src[k]], ties, nties, kink, t_bar)
                k += n
            # bodies first hit in this phase: V = v + (t + h/2) acc replaced their v*
            for i in range(nb):
                if body_phase[i] != phase:
                    continue
                t = d.body_toi[i]
                if unequal_moments(m.body_inertia, i):
                    _impact_pose_vjp(m, d, a, i, h, hit, Rt, Rt_bar, turned, cR, cR_bar, Wb,
                                     acc_v, acc_w, acc_vb, acc_wb, toi_bar)
                _add_scaled(i, 1.0, Vb, Wb, a.vel_bar, a.ang_vel_bar)
                toi_bar[i] += _dot6(i, acc_v, acc_w, Vb, Wb)
                _add_scaled(i, t + 0.5 * h, Vb, Wb, acc_vb, acc_wb)
                Vb[i, :] = 0.0
                Wb[i, :] = 0.0
                Vp[i, :] = Vstar[i]
                Wp[i, :] = Wstar[i]
            # t_i = min over the phase's contacts on body i of their times (tied ones shared)
            for i in range(nb):
                if body_phase[i] != phase or toi_bar[i] == 0.0:
                    continue
                nties = 0
                for s in range(ns):
                    k = sel[s]
                    if (d.con_body[k, 0] == i or d.con_body[k, 1] == i) and \
                            tied(d.con_toi[k], d.body_toi[i], h):
                        ties[nties] = k
                        nties += 1
                _share_tied(toi_bar[i], ties, nties, kink, t_bar)
            for s in range(ns):
                k = sel[s]
                if t_bar[k] == 0.0 or d.con_phase[k] != phase:  # (its time: its first phase)
                    continue
                ka, kb = d.con_body[k, 0], d.con_body[k, 1]
                # hit before this phase: then t = max(root, their times)
                ha = hit[ka] and body_phase[ka] < phase
                hb = hit[kb] and body_phase[kb] < phase
                if ha and hb:
                    continue  # t = 0, no impact time of its own
                contact_velocity(d, k, d.vel, d.ang_vel, u0)
                contact_velocity(d, k, Vp, Wp, u)
                # (the forward's root: recomputed from the velocities taken back through the
                # impulses of later phases, it could differ in its last bits and lose its tie)
                troot = d.con_toi_root[k]
                tk = d.con_toi[k]
                # t = max(root, the times of its bodies hit before), ties (to rounding) shared
                on_root = tied(troot, tk, h)
                on_a = ha and tied(d.body_toi[ka], tk, h)
                on_b = hb and tied(d.body_toi[kb], tk, h)
                share = t_bar[k] / max((1 if on_root else 0) + (1 if on_a else 0)
                                       + (1 if on_b else 0), 1)
                if on_a:
                    toi_bar[ka] += share
                if on_b:
                    toi_bar[kb] += share
                if on_root:
                    phb, u0b, unb = impact_time_vjp(d.con_dist[k], u0[0], u[0], h, share)
                    a.con_dist_bar[k] += phb
                    ubar[0] = u0b
                    contact_velocity_vjp(d, a, k, cx, d.vel, d.ang_vel, ubar, a.vel_bar,
                                         a.ang_vel_bar, tb[k], cx_bar)
                    ubar[0] = unb
                    contact_velocity_vjp(d, a, k, cx, Vp, Wp, ubar, Vb, Wb, tb[k], cx_bar)
        V, W = Vp, Wp
    # acc = (v* - v) / h
    for i in range(nb):
        _add_scaled(i, 1.0 / h, acc_vb, acc_wb, Vb, Wb)
        _add_scaled(i, -1.0 / h, acc_vb, acc_wb, a.vel_bar, a.ang_vel_bar)
    frames_to_normals(d, a, nc, tb)
    for k in range(nc):
        if turned[k]:
            ka, kb = con_body[k, 0], con_body[k, 1]
            contact_jacobian(m, d, k, d.pos[ka], d.xmat[ka], d.pos[kb], d.xmat[kb])
    scatter_pose_bars(d, a, nc, cx_bar, cR_bar)


@jit(inline="always")
def _share_tied(cot, ties, nties, kink, t_bar):
    # the cotangent cot of the earliest of several impact times, into t_bar of the contacts
    # ties[:nties] tied with it (equal up to rounding, as a level capsule's two ends): a kink,
    # taken as the mean of their derivatives, or the first / last of them (kink left / right)
    if nties == 0:
        return
    if kink == KINK_LEFT:
        t_bar[ties[0]] += cot
    elif kink == KINK_RIGHT:
        t_bar[ties[nties - 1]] += cot
    else:
        for j in range(nties):
            t_bar[ties[j]] += cot / nties


@jit
def _impact_pose_vjp(m, d, a, i, h, hit, Rt, Rt_bar, turned, cR, cR_bar, Wb, acc_v, acc_w,
                     acc_vb, acc_wb, toi_bar):
    # hard_contacts_vjp, body i (unequal moments) first hit in this phase: its velocity
    # W = impact_rate(parabola's v + (t + h/2) acc) (Wb becomes the parabola's cotangent), and
    # its pose at the impact Rt = Exp(t w_pre) R0 (the cotangents of the inertia its turned
    # contacts took there, cR_bar, and Rt_bar) -> R0, w_pre, t
    t = d.body_toi[i]
    w_lin = np.empty(3)
    for j in range(3):
        w_lin[j] = d.ang_vel[i, j] + (t + 0.5 * h) * acc_w[i, j]
    wb = Wb[i].copy()
    Wb[i, :] = 0.0
    toi_bar[i] += impact_rate_vjp(d.xmat[i], Rt[i], m.body_inertia[i], d.ang_mom_offset[i], t, h,
                                  w_lin, wb, a.R_bar[i], Rt_bar[i], Wb[i], a.offset_bar[i],
                                  a.inertia_bar[i])
    for k in range(d.ncon[0]):
        if turned[k]:
            for s in range(2):
                if d.con_body[k, s] == i:
                    Rt_bar[i] += cR_bar[k, s]
                    cR_bar[k, s] = 0.0
                    cR[k, s] = d.xmat[i]
    th = np.zeros(3)
    rot_bar_to_twist(Rt[i], Rt_bar[i], th)
    for j in range(3):
        toi_bar[i] += th[j] * d.ang_vel_pre[i, j]
    wpb = np.zeros(3)
    quat_integrate_vjp(d.ang_vel_pre[i], t, th, wpb)
    for j in range(3):
        a.th_bar[i, j] += th[j]
    vel_pre_vjp(m, d, a, i, h, np.zeros(3), wpb, acc_v, acc_w, acc_vb, acc_wb, toi_bar)
