"""Penalty contact in two forms: the time-constant form (the default; tc_contacts, below) and
the fixed spring (penalty_impulses).

The fixed spring: Hunt-Crossley f_n = max(0, k pen^p (1 + d pen_rate)) with pen = -gap,
pen_rate = -u_n (approach speed); f_t = -mu f_n u_t / sqrt(|u_t|^2 + v_s^2); impulse = h f.
Smooth in the state wherever pen > 0 and the damping term does not clamp (p > 1 also makes it
C1 at touch). Forces are a function of the step's starting state (x, v) of all bodies
(explicit, Jacobi): contact order does not matter and a body at rest feels no phantom damping
from gravity's velocity increment.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import (BODY_DYNAMIC, SLOT_DAMPING, SLOT_DAMPRATIO, SLOT_STIFFNESS,
                                    SLOT_TIMECONST)
from simcore.kernels.body_space import ACCEPT_TOL, affordable, solve as solve_bodies
from simcore.kernels.contact_space import (apply_contact_impulse, contact_jacobians,
                                           contact_poses, contact_velocity, contacts_in,
                                           dense_delassus, diagonal_vjp, frame_to_normal,
                                           frames_to_normals, friction_rows,
                                           friction_rows_jacobian, impulse_rhs, impulse_vjp,
                                           local_scratch, scatter_pose_bars, transposed_solve,
                                           undo_impulses, velocity, velocity_vjp)
from simcore.kernels.dynamics import (apply_impulse, apply_impulse_vjp, point_velocity,
                                      point_velocity_vjp)
from simcore.kernels.factors import MEMO_SOLVE, memo_find, memo_keep, memo_key
from simcore.kernels.kink import ramp_slope
from simcore.kernels.linalg import solve_dense, solve_dense_in
from simcore.kernels.memory import remember, warm_start_selected
from simcore.kernels.rolling import any_resistance, resistance, resistance_vjp


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


@jit(inline="always")  # a wrapper
def penalty_impulses(m, d, h):
    # in: d.con_*, d.vel, d.ang_vel (start of step); out: d.con_lambda, and impulses applied to
    # d.vel_free / d.ang_vel_free (which then hold the post-contact velocities).
    # Returns the largest h^2 k_eff W_nn over the contacts: above 4 (omega h > 2) the explicit
    # spring amplifies every oscillation, and the result is garbage rather than merely stiff.
    # (The fixed spring; the time-constant form is tc_contacts.)
    worst = penalty_impulses_arrays(
        m.body_kind, m.body_invmass, m.body_inertia, m.body_invinertia, m.pen_stiffness,
        m.pen_damping, m.pen_exponent, m.pen_friction_smoothing, d.pos, d.xmat, d.vel, d.ang_vel,
        d.vel_free, d.ang_vel_free, d.ncon[0], d.con_body, d.con_pos, d.con_dist, d.con_normal,
        d.con_t1, d.con_t2, d.con_mu, d.con_lambda, h)
    if any_resistance(m):  # rolling and torsional
        resistance(m, d, d.con_lambda, d.ang_vel_free)
    return worst


@jit(inline="always")
def _record_and_apply(kind, invmass, inertia, pos, xmat, vel_free, ang_vel_free, nc, con_body,
                      con_pos, con_normal, con_t1, con_t2, con_lambda, imp):
    # con_lambda <- imp (nc, 3) in the contact frames; impulses applied, +imp on a, -imp on b
    r, f = np.empty(3), np.empty(3)
    for k in range(nc):
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
                r[i] = con_pos[k, i] - pos[a, i]
            apply_impulse(xmat[a], invmass[a], inertia[a], r, imp[k], vel_free[a],
                          ang_vel_free[a])
        if kind[b] == BODY_DYNAMIC:
            for i in range(3):
                r[i] = con_pos[k, i] - pos[b, i]
                f[i] = -imp[k, i]
            apply_impulse(xmat[b], invmass[b], inertia[b], r, f, vel_free[b], ang_vel_free[b])


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
    _record_and_apply(kind, invmass, inertia, pos, xmat, vel_free, ang_vel_free, nc, con_body,
                      con_pos, con_normal, con_t1, con_t2, con_lambda, imp)
    return worst


# ----------------------------------------------------------------------------------------------
# The time-constant form (PenaltyContact(time_constant=...), the default): an implicit
# spring-damper per contact, solved for all contacts together
#
# Per penetrating contact k (pen = -phi > 0), with w = A_nn its Delassus diagonal (the pair's
# inverse effective mass along the normal) and u+ its velocity after the step's impulses:
#   spring k = 1 / (w tau^2): b = h k pen, explicit up to the stiffness k_e = 1 / (w h^2 n)
#       (n: the most penetrating contacts on one of the pair's dynamic bodies), the rest
#       k_i = k - k_e implicit (acting on pen - h u+_n)
#   damper c = 2 zeta / (w tau), implicit, exponentially fitted: w alpha = expm1(h r c w)
#       (zeta expm1(2 r h / tau) beyond critical damping, _damper) + w h^2 k_i
#       (r = min(1, pen / (h u*_app)) ramps the damper in over the step the contact
#        began in, u*_app the approach speed before the impulses: the step map stays continuous
#        at touch)
#   lambda_n = max(0, b - alpha u+_n)       normal: 0 <= lambda_n _|_ s >= 0,
#                                            s = (lambda_n - b + alpha u+_n) / (alpha + 1 / w)
#   rho lambda_t + mu lambda_n u+_t = 0     friction (rho = sqrt(|u+_t|^2 + v_s^2)): Coulomb,
#                                            viscous below v_s, implicit
# A lone contact with k_i = 0 gets lambda_n = max(0, b E + (1 - E) (-u*_n / w)), E = exp(-h r c
# w): its damper decays the approach exactly as the continuous one. Solved as F(lambda) = 0 with
# F_n = min(w lambda_n, s) (velocity units) by Gauss-Seidel (a semismooth Newton solve per
# contact) and a global semismooth Newton finish (dense, or through the bodies), like the
# smoothed model, from the impulses the same contacts had in the last solve (memory.py; the
# tape keeps them, so the reverse sweep re-runs the solve exactly); the adjoint differentiates
# F = 0 (contact_space.py). Stability for any mass and step: the damper, friction and implicit
# spring, implicit over all contacts at once, never amplify; the explicit spring is stable while
# h^2 eig(W K_e) <= 1, which k_e <= 1 / (w h^2 n) guarantees (W <= diag(n_a w_a + n_b w_b) <=
# diag(n w), block Cauchy-Schwarz over each body's contacts). A step longer than tau / sqrt(n)
# so damps the spring numerically; it never softens it.
# zeta comes from the pair's restitution e when not given: the linear spring-dashpot that may
# not pull rebounds with e = exp(-2 zeta acos(zeta) / sqrt(1 - zeta^2)) (acosh above 1).

E_MIN = 1e-3  # the smallest restitution a damping ratio is derived for (zeta = 15.8)

@jit(inline="always")
def _restitution_log(z):
    # g(zeta) = -ln e(zeta) = 2 zeta A(zeta) and g'(zeta); A = acos(z) / sqrt(1 - z^2)
    # (acosh(z) / sqrt(z^2 - 1) above 1), by its series near 1
    dz = z - 1.0
    if abs(dz) < 1e-3:
        A = 1.0 - dz / 3.0 + 2.0 * dz * dz / 15.0 - 2.0 * dz * dz * dz / 35.0
        dA = -1.0 / 3.0 + 4.0 * dz / 15.0 - 6.0 * dz * dz / 35.0
    else:
        if z < 1.0:
            A = np.arccos(z) / np.sqrt(1.0 - z * z)
        else:
            A = np.arccosh(z) / np.sqrt(z * z - 1.0)
        dA = (z * A - 1.0) / (1.0 - z * z)
    return 2.0 * z * A, 2.0 * A + 2.0 * z * dA


@jit(entry=True)
def restitution_damping_ratio(e, out):
    # out (2,): zeta with e(zeta) = e (e clipped to [E_MIN, 1]) and d zeta / d e (0 where clipped;
    # at e = 1 the slope from below, -1 / pi, as g'(0) = pi)
    if e >= 1.0:
        out[0] = 0.0
        out[1] = -1.0 / np.pi
        return
    ee = max(e, E_MIN)
    L = -np.log(ee)
    lo, hi = 0.0, 1.0
    while _restitution_log(hi)[0] < L:
        lo = hi
        hi *= 2.0
    z = min(max(L / np.pi, lo), hi)
    for _ in range(100):
        g, dg = _restitution_log(z)
        if g < L:
            lo = z
        else:
            hi = z
        zn = z - (g - L) / dg
        if not (lo < zn < hi):
            zn = 0.5 * (lo + hi)
        if abs(zn - z) <= 1e-15 * max(1.0, z):
            z = zn
            break
        z = zn
    out[0] = z
    out[1] = -1.0 / (ee * _restitution_log(z)[1]) if e > E_MIN else 0.0


@jit
def tc_params(m, d, h, nc, sel, V, W, b, alpha, zeta, zslope, count):
    # the penetrating contacts sel (returns their number) and per selected contact p: the spring
    # impulse b[p], the damper's alpha[p], zeta[p] (m.pen_damping_ratio, else from restitution)
    # and zslope[p], d zeta / d e (0 for m.pen_damping_ratio); V, W: the free velocities (for
    # the ramp). count (nbody,) is scratch.
    nsel = 0
    count[:] = 0.0
    for k in range(nc):
        if d.con_dist[k] < 0.0:
            sel[nsel] = k
            nsel += 1
            for s in range(2):
                count[d.con_body[k, s]] += 1.0
    # the pair's e is max(e_i, e_j), one body's: each body's zeta found once (-1: not yet)
    ze = np.full((m.nbody, 2), -1.0)
    u = np.empty(3)
    for p in range(nsel):
        k = sel[p]
        i, j = d.con_body[k, 0], d.con_body[k, 1]
        zeta[p] = m.pen_damping_ratio
        zslope[p] = 0.0
        if zeta[p] < 0.0:
            o = i if m.body_restitution[i] >= m.body_restitution[j] else j
            if ze[o, 0] < 0.0:
                restitution_damping_ratio(m.body_restitution[o], ze[o])
            zeta[p] = ze[o, 0]
            zslope[p] = ze[o, 1]
        tau = m.pen_time_constant
        w = d.con_A[k, 0, 0]
        pen = -d.con_dist[k]
        b[p] = h * pen / (w * tau * tau)
        contact_velocity(d, k, V, W, u)
        alpha[p] = (_damper(zeta[p], _ramp(pen, -u[0], h), h / tau)[0]
                    + max(0.0, _excess(m, i, j, count, h))) / w
    return nsel


@jit(inline="always")
def _damper(zeta, r, hs):
    # (w alpha's damper part f, df/dzeta, df/dr, df/dhs), hs = h / tau: expm1(2 zeta r hs), the
    # exact decay of the approach under the damper alone, up to critical damping; beyond it
    # zeta expm1(2 r hs), which keeps the creep of an overdamped contact near the continuous
    # one's (expm1 of a large argument would slow it by expm1(X) / X)
    if zeta <= 1.0:
        X = 2.0 * zeta * r * hs
        eX = np.exp(X)
        return np.expm1(X), eX * 2.0 * r * hs, eX * 2.0 * zeta * hs, eX * 2.0 * zeta * r
    Y = 2.0 * r * hs
    eY = np.exp(Y)
    return zeta * np.expm1(Y), np.expm1(Y), zeta * eY * 2.0 * hs, zeta * eY * 2.0 * r


@jit(inline="always")
def _excess(m, i, j, count, h):
    # h^2 / tau^2 - 1 / n, whose positive part is w h^2 k_i, the spring's implicit part (n the
    # most contacts on one of the pair's dynamic bodies: the explicit part is stable up to
    # h^2 k_e w n = 1)
    n = 1.0
    if m.body_kind[i] == BODY_DYNAMIC:
        n = max(n, count[i])
    if m.body_kind[j] == BODY_DYNAMIC:
        n = max(n, count[j])
    return h * h / (m.pen_time_constant * m.pen_time_constant) - 1.0 / n


@jit(inline="always")
def _ramp(pen, vapp, h):
    # the fraction of the step the contact has been penetrating, from its approach speed vapp
    if vapp * h <= pen:
        return 1.0
    return pen / (vapp * h)


@jit(inline="always")
def tc_residual(lam, u, w, b, alpha, mu, vs, F):
    # F (3,) of one contact at its velocity u (3,): F_n = min(w lam_n, s) with s = (lam_n - b +
    # alpha u_n) / (alpha + 1 / w) (velocity units for any alpha >= 0); F_t = rho lam_t + mu
    # lam_n u_t. Returns (rho, active: s <= w lam_n)
    s = (lam[0] - b + alpha * u[0]) / (alpha + 1.0 / w)
    active = s <= w * lam[0]
    F[0] = s if active else w * lam[0]
    return friction_rows(lam, u, mu, vs, F), active


@jit(inline="always")
def tc_jacobian(lam, u, w, alpha, mu, vs, active, Fl, Fu):
    # dF/dlam (3, 3) at fixed u and dF/du (3, 3) at fixed lam
    friction_rows_jacobian(lam, u, mu, vs, Fl, Fu)
    if active:
        Fl[0, 0] = 1.0 / (alpha + 1.0 / w)
        Fu[0, 0] = alpha / (alpha + 1.0 / w)
    else:
        Fl[0, 0] = w


@jit(inline="always")
def _tc_local(d, k, w, b, alpha, vs, lam_k, V, W, scratch):
    # contact k's three equations with the others' impulses fixed (u = u0 + A_kk dlam):
    # semismooth Newton, lambda_n kept >= 0. scratch: local_scratch()
    u, F, dl, Fl, Fu, Jk, M3, step, piv = scratch
    A = d.con_A[k]
    mu = d.con_mu[k]
    for _ in range(30):
        contact_velocity(d, k, V, W, u)
        rho, active = tc_residual(lam_k, u, w, b, alpha, mu, vs, F)
        if abs(F[0]) + (abs(F[1]) + abs(F[2])) * A[1, 1] / rho <= 1e-15 * (
                abs(u[0]) + abs(u[1]) + abs(u[2]) + w * lam_k[0] + 1e-300):
            break
        tc_jacobian(lam_k, u, w, alpha, mu, vs, active, Fl, Fu)
        for p in range(3):
            for q in range(3):
                Jk[p, q] = Fl[p, q] + Fu[p, 0] * A[0, q] + Fu[p, 1] * A[1, q] + Fu[p, 2] * A[2, q]
        for j in range(3):
            step[j] = -F[j]
        if not solve_dense_in(Jk, M3, step, piv):
            break
        if lam_k[0] + step[0] < 0.0:
            step[0] = -lam_k[0]
        for j in range(3):
            dl[j] = step[j]
            lam_k[j] += step[j]
        apply_contact_impulse(d, k, dl, V, W)


@jit
def tc_merit(d, sel, nsel, w, b, alpha, vs, lam, V, W, F, D):
    # F (3 nsel) and its row scales D to velocity units (friction rows: A_tt / rho); returns
    # (sum (D F)^2, the largest |D F| relative to the contacts' velocity scale)
    u, Fk = np.empty(3), np.empty(3)
    merit, worst, scale = 0.0, 0.0, 1e-9
    for p in range(nsel):
        k = sel[p]
        contact_velocity(d, k, V, W, u)
        rho, _ = tc_residual(lam[k], u, w[p], b[p], alpha[p], d.con_mu[k], vs, Fk)
        at = 0.5 * (d.con_A[k, 1, 1] + d.con_A[k, 2, 2])
        D[3 * p] = 1.0
        D[3 * p + 1] = at / rho
        D[3 * p + 2] = at / rho
        for r in range(3):
            F[3 * p + r] = Fk[r]
            merit += (D[3 * p + r] * Fk[r]) ** 2
            worst = max(worst, abs(D[3 * p + r] * Fk[r]))
        scale = max(scale, abs(u[0]), abs(u[1]), abs(u[2]), w[p] * lam[k, 0],
                    at * abs(lam[k, 1]), at * abs(lam[k, 2]))
    return merit, worst / scale


@jit
def _through_bodies(m, d, sel, nsel):
    # whether _tc_newton solves its steps through the bodies (6 rows each) rather than densely
    # (3 rows per contact): beyond m.opt_polish_max_contacts contacts, or where more than 8
    # contacts outnumber 3 per dynamic body (boxes on faces: 4 or more each), whose bodies'
    # system is less than half the size (the settled 8-cube pile of
    # benchmarks/transition_cost.py: 37 contacts on 8 bodies, a step 1.6 times as fast)
    n = contacts_in(d, sel, nsel)
    if n > m.opt_polish_max_contacts:
        return True
    if n <= 8:
        return False
    seen = np.zeros(m.nbody, dtype=np.bool_)
    nb = 0
    for p in range(nsel):
        for s in range(2):
            i = d.con_body[sel[p], s]
            if m.body_kind[i] == BODY_DYNAMIC and not seen[i]:
                seen[i] = True
                nb += 1
    return n > 3 * nb


@jit
def _tc_newton(m, d, sel, nsel, w, b, alpha, lam, V, W):
    # global semismooth Newton on all selected contacts' F, its system K = F_l + F_u A dense or
    # through the bodies (_through_bodies); Armijo on |D F|^2.
    # Returns the relative residual
    vs = m.pen_friction_smoothing
    n3 = 3 * nsel
    bodies = _through_bodies(m, d, sel, nsel)
    A = np.empty((0, 0) if bodies else (n3, n3))
    if not bodies:
        dense_delassus(m, d, sel, nsel, A, 0.0)
    Fl, Fu = np.empty((nsel, 3, 3)), np.empty((nsel, 3, 3))
    F, D, Ft, Dt = np.empty(n3), np.empty(n3), np.empty(n3), np.empty(n3)
    u, dl = np.empty(3), np.empty(3)
    merit, res = tc_merit(d, sel, nsel, w, b, alpha, vs, lam, V, W, F, D)
    for _ in range(50):
        if res < 1e-14:
            break
        for p in range(nsel):
            k = sel[p]
            contact_velocity(d, k, V, W, u)
            rho, active = tc_residual(lam[k], u, w[p], b[p], alpha[p], d.con_mu[k], vs, dl)
            tc_jacobian(lam[k], u, w[p], alpha[p], d.con_mu[k], vs, active, Fl[p], Fu[p])
        if bodies:
            ok, step = solve_bodies(m, d, sel, nsel, Fl, Fu, -F, np.empty(0), np.bool_(False),
                                    ACCEPT_TOL)
        else:
            K = np.empty((n3, n3))
            for p in range(nsel):
                for r in range(3):
                    for col in range(n3):
                        K[3 * p + r, col] = Fu[p, r, 0] * A[3 * p, col] \
                            + Fu[p, r, 1] * A[3 * p + 1, col] + Fu[p, r, 2] * A[3 * p + 2, col]
                    for c in range(3):
                        K[3 * p + r, 3 * p + c] += Fl[p, r, c]
            ok, step = solve_dense(K, -F)
        if not ok:
            break
        lam_old = np.empty((nsel, 3))
        for p in range(nsel):
            lam_old[p] = lam[sel[p]]
        t = 1.0
        improved = False
        for _ in range(30):
            for p in range(nsel):
                k = sel[p]
                for j in range(3):
                    dl[j] = lam_old[p, j] + t * step[3 * p + j] - lam[k, j]
                dl[0] = max(lam[k, 0] + dl[0], 0.0) - lam[k, 0]
                for j in range(3):
                    lam[k, j] += dl[j]
                apply_contact_impulse(d, k, dl, V, W)
            trial, tres = tc_merit(d, sel, nsel, w, b, alpha, vs, lam, V, W, Ft, Dt)
            if trial <= (1.0 - 1e-4 * t) * merit:
                improved = True
                break
            t *= 0.5
        if not improved:
            for p in range(nsel):
                k = sel[p]
                for j in range(3):
                    dl[j] = lam_old[p, j] - lam[k, j]
                    lam[k, j] = lam_old[p, j]
                apply_contact_impulse(d, k, dl, V, W)
            break
        merit, res = trial, tres
        F[:] = Ft
        D[:] = Dt
    return res


@jit
def tc_contacts(m, d, h):
    """The time-constant form's impulses for the step's contacts.

    in: d.con_* geometry, d.vel_free / d.ang_vel_free (free velocities); out: the same hold the
    post-contact velocities, d.con_lambda the impulses (0 for contacts not penetrating).
    Returns (relative residual, 1 if the solve did not converge else 0).
    """
    nc = d.ncon[0]
    V, W = d.vel_free, d.ang_vel_free
    lam = d.con_lambda  # (zeroed, then warm-started, by warm_start_selected)
    contact_jacobians(m, d, nc)
    sel = np.empty(nc, dtype=np.int64)
    b, alpha, zeta, zslope = np.empty(nc), np.empty(nc), np.empty(nc), np.empty(nc)
    nsel = tc_params(m, d, h, nc, sel, V, W, b, alpha, zeta, zslope, np.empty(m.nbody))
    keys = np.empty(nc, dtype=np.int64)
    # the solve starts from the impulses the same contacts had in the last one (memory.py),
    # those that press now (the others have none)
    warm_start_selected(m, d, nc, keys, lam, V, W, sel, nsel)
    res = 0.0
    if nsel > 0:
        res = _tc_solve(m, d, sel, nsel, b, alpha, lam, V, W)
        if not res <= m.opt_tol_fail:  # once more from rest (as SmoothedContact's solve)
            undo_impulses(d, sel, nsel, lam, V, W)
            lam[:nc] = 0.0
            res = _tc_solve(m, d, sel, nsel, b, alpha, lam, V, W)
    remember(d, nc, keys, lam)
    if any_resistance(m):  # rolling and torsional
        resistance(m, d, lam, W)
    return res, 0 if res <= m.opt_tol_fail else 1


@jit
def _tc_solve(m, d, sel, nsel, b, alpha, lam, V, W):
    # tc_contacts' solve from the impulses in lam (applied to V, W): Gauss-Seidel, then global
    # Newton where affordable. Returns the relative residual
    w = np.empty(nsel)
    for p in range(nsel):
        w[p] = d.con_A[sel[p], 0, 0]
    vs = m.pen_friction_smoothing
    F, D = np.empty(3 * nsel), np.empty(3 * nsel)
    polish = nsel <= m.opt_polish_max_contacts or affordable(m, d, sel, nsel)
    tol = 1e-4 if polish else 1e-12
    res = tc_merit(d, sel, nsel, w, b, alpha, vs, lam, V, W, F, D)[1]
    sweep = 0
    scratch = local_scratch()
    while res >= tol and sweep < m.opt_max_iter:
        for p in range(nsel):
            _tc_local(d, sel[p], w[p], b[p], alpha[p], vs, lam[sel[p]], V, W, scratch)
        sweep += 1
        res = tc_merit(d, sel, nsel, w, b, alpha, vs, lam, V, W, F, D)[1]
    if polish:
        res = _tc_newton(m, d, sel, nsel, w, b, alpha, lam, V, W)
    return res

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
    # rolling and torsional resistance, applied last (its impulses: con_lambda[:, 0] = h f . n)
    tb = np.zeros((nc, 3, 3))
    lam_bar = np.zeros((nc, 3))
    if any_resistance(m):
        resistance_vjp(m, d, a, d.con_lambda, d.ang_vel_free.copy(), a.wfree_bar, lam_bar, tb,
                       kink)
        for k in range(nc):
            frame_to_normal(d, a, k, tb[k])
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
                      m.pen_damping, m.pen_exponent, m.pen_friction_smoothing, f)
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
            f_bar[q] = h * (imp_bar[q] + lam_bar[k, 0] * d.con_normal[k, q])
            u_bar[q] = 0.0
            n_bar[q] = 0.0
        s_bar[:] = 0.0
        penalty_force_vjp(d.con_dist[k], d.con_normal[k], u, d.con_mu[k], m.pen_stiffness,
                          m.pen_damping, m.pen_exponent, m.pen_friction_smoothing, f_bar, kink,
                          n_bar, u_bar, s_bar)
        a.con_dist_bar[k] += s_bar[0]
        a.con_mu_bar[k] += s_bar[1]
        a.scalar_bar[SLOT_STIFFNESS] += s_bar[2]
        a.scalar_bar[SLOT_DAMPING] += s_bar[3]
        for q in range(3):
            a.con_normal_bar[k, q] += n_bar[q] + lam_bar[k, 0] * h * f[q]
            ub[q] = -u_bar[q]
        point_velocity_vjp(d.ang_vel[i], ra, u_bar, a.vel_bar[i], a.ang_vel_bar[i], ra_bar)
        point_velocity_vjp(d.ang_vel[j], rb, ub, a.vel_bar[j], a.ang_vel_bar[j], rb_bar)
        for q in range(3):
            a.con_pos_bar[k, q] += ra_bar[q] + rb_bar[q]
            a.pos_bar[i, q] -= ra_bar[q]
            a.pos_bar[j, q] -= rb_bar[q]


@jit(inline="always")
def _vjp_views(blk, nc, nb):
    # tc_contacts_vjp's memo (blk[0]: the number of pressing contacts, up to nc): their indices,
    # b, alpha, zeta, d zeta / d e and the active branch's weight (6 floats per contact), F_l and
    # F_u (18), and per body count (tc_params' scratch) and the free velocities (7)
    c = [1 + q * nc for q in range(7)]
    f = c[6] + 9 * nc
    g = f + 9 * nc
    return (blk[c[0]:c[1]], blk[c[1]:c[2]], blk[c[2]:c[3]], blk[c[3]:c[4]], blk[c[4]:c[5]],
            blk[c[5]:c[6]], blk[c[6]:f].reshape((nc, 3, 3)), blk[f:g].reshape((nc, 3, 3)),
            blk[g:g + nb], blk[g + nb:g + 4 * nb].reshape((nb, 3)),
            blk[g + 4 * nb:g + 7 * nb].reshape((nb, 3)))


@jit
def tc_contacts_vjp(m, d, a, h, kink):
    """vjp of tc_contacts, after the forward solve re-ran on this substep (d holds its solution:
    d.con_lambda, post-contact d.vel_free / ang_vel_free).

    in: a.vfree_bar / a.wfree_bar, cotangents of the post-contact velocities; out: the same hold
    the cotangents of the free velocities; accumulates a.con_{dist,normal,pos,mu,e}_bar,
    a.pos_bar, a.R_bar, a.invmass_bar, a.inertia_bar and a.scalar_bar (time constant, damping
    ratio). A contact exactly at s = w lambda_n (weakly active) takes the kink convention. The
    rolling and torsional stage (rolling.resistance_vjp) is taken off first.
    """
    nc = d.ncon[0]
    V, W = d.vel_free, d.ang_vel_free.copy()
    Vb, Wb = a.vfree_bar, a.wfree_bar
    lam = d.con_lambda
    vs = m.pen_friction_smoothing
    tb = np.zeros((nc, 3, 3))
    lam_bar = np.zeros((nc, 3))
    if any_resistance(m):  # W: back to the solve's
        resistance_vjp(m, d, a, lam, W, Wb, lam_bar, tb, kink)
    # the part that depends on the solution only, kept once per substep for transition_kernel's
    # rows (factors.py, memo; slot 0) with the solve's factorization: the pressing contacts,
    # their parameters at the free velocities V0, W0 (the ramp's), F_l and F_u
    memo = d.fac_on[0] == 1
    allc = np.arange(nc)
    key = memo_key(np.int64(MEMO_SOLVE), np.int64(0), allc, nc)
    found, blk = memo_find(d, key, -1) if memo else (False, np.empty(0))
    if not found:
        blk = np.empty(1 + 24 * nc + 7 * m.nbody)
    sel_f, b, alpha, zeta, zslope, side, Fl, Fu, count, V0, W0 = _vjp_views(blk, nc, m.nbody)
    if not found:
        V0[:, :] = V
        W0[:, :] = W
        undo_impulses(d, allc, nc, lam, V0, W0)
        sel = np.empty(nc, dtype=np.int64)
        nsel = tc_params(m, d, h, nc, sel, V0, W0, b, alpha, zeta, zslope, count)
        blk[0] = nsel
        u = np.empty(3)
        for p in range(nsel):
            k = sel[p]
            sel_f[p] = k
            w = d.con_A[k, 0, 0]
            contact_velocity(d, k, V, W, u)
            s = (lam[k, 0] - b[p] + alpha[p] * u[0]) / (alpha[p] + 1.0 / w)
            # the weight of the active branch (1, 0, or the kink's at a tie)
            side[p] = ramp_slope(w * lam[k, 0] - s, kink)
            tc_jacobian(lam[k], u, w, alpha[p], d.con_mu[k], vs, True, Fl[p], Fu[p])
            Fl[p, 0, 0] = side[p] * Fl[p, 0, 0] + (1.0 - side[p]) * w
            Fu[p, 0, 0] *= side[p]
        if memo:
            memo_keep(d, key, blk)
    nsel = np.int64(blk[0])
    if nsel == 0:
        return
    sel = np.empty(nsel, dtype=np.int64)
    for p in range(nsel):
        sel[p] = np.int64(sel_f[p])
    Fl, Fu = Fl[:nsel], Fu[:nsel]
    y = np.empty(3 * nsel)
    impulse_rhs(d, sel, nsel, Vb, Wb, y)
    for p in range(nsel):
        y[3 * p] += lam_bar[sel[p], 0]
    if memo:
        d.fac_tag[0] = 0
    y = transposed_solve(m, d, sel, nsel, Fl, Fu, y, np.empty(0))
    d.fac_tag[0] = -1
    u = np.empty(3)
    cx, cR, cx_bar, cR_bar = contact_poses(d, nc)
    # the ramp's cotangents of the free velocities (not the post-contact ones: they do not pass
    # through the impulses' geometry in impulse_vjp)
    V0b, W0b = np.zeros((m.nbody, 3)), np.zeros((m.nbody, 3))
    # (the records' arrays read before the loop: simcore/_jit.py, records)
    J, body, Adiag, dist = d.con_J, d.con_body, d.con_A, d.con_dist
    normal, t1, t2, cpos = d.con_normal, d.con_t1, d.con_t2, d.con_pos
    mu_bar, dist_bar, cpos_bar, e_bar = a.con_mu_bar, a.con_dist_bar, a.con_pos_bar, a.con_e_bar
    scalar_bar, invmass_bar, inertia_bar = a.scalar_bar, a.invmass_bar, a.inertia_bar
    bkind, inertia = m.body_kind, m.body_inertia
    tau = m.pen_time_constant
    ratio_given = m.pen_damping_ratio >= 0.0
    for p in range(nsel):
        k = sel[p]
        c0, c1, c2 = -y[3 * p], -y[3 * p + 1], -y[3 * p + 2]
        if c0 == 0.0 and c1 == 0.0 and c2 == 0.0:
            continue  # (all below is linear in c: a row of transition_kernel off its island)
        i, j = body[k, 0], body[k, 1]
        velocity(J, body, k, V, W, u)
        lk0 = lam[k, 0]
        ub0 = Fu[p, 0, 0] * c0 + Fu[p, 1, 0] * c1 + Fu[p, 2, 0] * c2
        ub1 = Fu[p, 0, 1] * c0 + Fu[p, 1, 1] * c1 + Fu[p, 2, 1] * c2
        ub2 = Fu[p, 0, 2] * c0 + Fu[p, 1, 2] * c1 + Fu[p, 2, 2] * c2
        mu_bar[k] += (c1 * u[1] + c2 * u[2]) * lk0
        # active: F_n = s = (lam_n - b + alpha u_n) / D, D = alpha + 1 / w; inactive: w lam_n
        # (lam_n = 0 there: no slope in w)
        w = Adiag[k, 0, 0]
        D = alpha[p] + 1.0 / w
        s = (lk0 - b[p] + alpha[p] * u[0]) / D
        b_bar = -side[p] * c0 / D
        al_bar = side[p] * c0 * (u[0] - s) / D
        pen = -dist[k]
        # b = h pen / (w tau^2);  alpha = (f + q) / w, f = _damper(zeta, r, h / tau),
        # q = max(0, h^2 / tau^2 - 1 / n)
        velocity(J, body, k, V0, W0, u)
        r = _ramp(pen, -u[0], h)
        _, f_zeta, f_r, f_hs = _damper(zeta[p], r, h / tau)
        f_bar = al_bar / w
        pen_bar = b_bar * b[p] / pen
        w_bar = -b_bar * b[p] / w - al_bar * alpha[p] / w + side[p] * c0 * s / (w * w * D)
        tau_bar = -2.0 * b_bar * b[p] / tau - f_bar * f_hs * h / (tau * tau)
        tau_bar -= 2.0 * (al_bar / w) * ramp_slope(_excess(m, i, j, count, h), kink) * h * h \
            / tau ** 3
        zeta_bar = f_bar * f_zeta
        r_bar = f_bar * f_r
        vapp = -u[0]
        if vapp * h >= pen:  # r = pen / (vapp h); the mean of both sides at equality
            sl = ramp_slope(vapp * h - pen, kink)
            pen_bar += sl * r_bar / (vapp * h)
            # d r / d u_n = r / vapp
            velocity_vjp(normal, t1, t2, body, cpos, cpos_bar, k, cx, V0, W0, sl * r_bar * r / vapp,
                         0.0, 0.0, V0b, W0b, tb, k, cx_bar)
        dist_bar[k] -= pen_bar
        scalar_bar[SLOT_TIMECONST] += tau_bar
        if ratio_given:
            scalar_bar[SLOT_DAMPRATIO] += zeta_bar
        else:
            e_bar[k] += zeta_bar * zslope[p]
        diagonal_vjp(bkind, inertia, body, cpos, normal, t1, t2, invmass_bar, inertia_bar,
                     cpos_bar, k, cx, cR, w_bar, 0.0, 0.0, tb, k, cx_bar, cR_bar)
        velocity_vjp(normal, t1, t2, body, cpos, cpos_bar, k, cx, V, W, ub0, ub1, ub2, Vb, Wb, tb,
                     k, cx_bar)
    impulse_vjp(m, d, a, sel, nsel, lam, cx, cR, Vb, Wb, tb, cx_bar, cR_bar)
    for i in range(m.nbody):
        for j in range(3):
            Vb[i, j] += V0b[i, j]
            Wb[i, j] += W0b[i, j]
    scatter_pose_bars(d, a, nc, cx_bar, cR_bar)
    frames_to_normals(d, a, nc, tb)
