"""Smoothed contact: the hard problem with its complementarity relaxed, solved by Newton.

Per contact k, with u+ = u* + A lambda (hard_solver.py) and s_n = u+_n + b_n, b_n = phi / h
(a penetration's speed-limited: contact_bias):
    F_n = lambda_n s_n - kappa_k = 0,  lambda_n > 0, s_n > 0       (interior point, fixed kappa)
    F_t = lambda_t + mu lambda_n u+_t / sqrt(|u+_t|^2 + v_k^2) = 0  (smoothed Coulomb)
(the friction rows are solved multiplied by the square root, which has the same root and stays
well conditioned when v_k is tiny).
kappa_k = kappa w(phi) fades with a C1 cutoff w to zero at the edge of the contact's distance
band (its collision margin), so a contact enters and leaves with zero impulse: the step is smooth
in every input. v_k = sqrt(kappa A_tt) has units of speed and vanishes with kappa, so kappa -> 0
recovers the Coulomb cone and complementarity, i.e. HardContact(toi=False) without restitution.

Solved by nonlinear block Gauss-Seidel (a safeguarded 3x3 Newton per contact); a small solve
(at most polish_max_contacts contacts) takes a few sweeps as a start and finishes by global
damped Newton on F. The adjoint differentiates F = 0.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.body_space import ACCEPT_TOL, affordable, solve as solve_bodies
from simcore.kernels.consts import SLOT_KAPPA
from simcore.kernels.contact_space import (apply_contact_impulse, contact_jacobians,
                                           contact_poses, contact_velocity, dense_delassus,
                                           diagonal_vjp, frames_to_normals, friction_rows,
                                           friction_rows_jacobian, impulse_rhs, impulse_vjp,
                                           local_scratch, scatter_pose_bars, transposed_solve,
                                           undo_impulses, velocity, velocity_vjp)
from simcore.kernels.factors import MEMO_SOLVE, memo_find, memo_keep, memo_key
from simcore.kernels.memory import remember, warm_start
from simcore.kernels.rolling import any_resistance, resistance, resistance_vjp
from simcore.kernels.linalg import solve_dense, solve_dense_in


@jit
def band_weight(phi, band):
    # 1 for phi <= 0, C1 down to 0 at phi = band
    if phi <= 0.0:
        return 1.0
    if phi >= band:
        return 0.0
    x = phi / band
    return (1.0 - x * x) ** 2


@jit(inline="always")
def contact_scales(m, d, k):
    # (kappa_k, v_k) of contact k, after contact_jacobian: kappa faded over the distance band
    # (the pair's collision margin), v_k = sqrt(kappa A_tt) with A_tt the mean tangent Delassus
    return scales(m.smooth_kappa, m.opt_margin, d.body_spec, d.con_body, d.con_dist, d.con_A, k)


@jit(inline="always")
def scales(kappa, margin, spec, body, dist, A, k):
    # contact_scales from the arrays Data.body_spec, con_body, con_dist, con_A
    band = margin + spec[body[k, 0]] + spec[body[k, 1]]
    return kappa * band_weight(dist[k], band), np.sqrt(kappa * 0.5 * (A[k, 1, 1] + A[k, 2, 2]))


@jit
def residual(lam, u, bn, kappa_k, mu, vs, F_out):
    # F (3,) of one contact at its current velocity u (3,); the friction rows are multiplied by
    # rho = sqrt(|u_t|^2 + vs^2) > 0 (same root), which keeps them near-bilinear when vs is tiny
    sn = u[0] + bn
    F_out[0] = lam[0] * sn - kappa_k
    return friction_rows(lam, u, mu, vs, F_out)


@jit(entry=True)
def residual_jacobian(lam, u, bn, mu, vs, Fl_out, Fu_out):
    # dF/dlam (3,3) at fixed u and dF/du (3,3) at fixed lam, for one contact
    friction_rows_jacobian(lam, u, mu, vs, Fl_out, Fu_out)
    Fl_out[0, 0] = u[0] + bn
    Fu_out[0, 0] = lam[0]


@jit(inline="always")
def _local_newton(m, d, k, bn, kappa_k, vs, lam_k, V, W, scratch):
    # solve contact k's three equations with the other impulses fixed: u = u0 + A_kk dlam.
    # Keeps lambda_n > 0 and s_n > 0 (fraction to the boundary). scratch: local_scratch()
    u, F, dl, Fl, Fu, Jk, M3, step, piv = scratch
    dl[:] = 0.0
    A = d.con_A[k]
    mu = d.con_mu[k]
    # other contacts' updates may have closed this one (s_n <= 0): push it open first
    contact_velocity(d, k, V, W, u)
    if u[0] + bn <= 0.0:
        dl[0] = (np.sqrt(kappa_k * A[0, 0]) - u[0] - bn) / A[0, 0]
        lam_k[0] += dl[0]
        apply_contact_impulse(d, k, dl, V, W)
    for _ in range(20):
        contact_velocity(d, k, V, W, u)
        rho = residual(lam_k, u, bn, kappa_k, mu, vs, F)
        if abs(F[0]) <= 1e-15 * (abs(kappa_k) + 1e-300) and \
                abs(F[1]) + abs(F[2]) <= 1e-15 * rho * (abs(lam_k[0]) * mu + 1e-300):
            break
        residual_jacobian(lam_k, u, bn, mu, vs, Fl, Fu)
        for p in range(3):
            for q in range(3):
                acc = Fl[p, q]
                for r in range(3):
                    acc += Fu[p, r] * A[r, q]
                Jk[p, q] = acc
        for j in range(3):
            step[j] = -F[j]
        if not solve_dense_in(Jk, M3, step, piv):  # singular: leave it to the next sweep
            break
        # fraction to the boundary: lambda_n and s_n stay positive
        alpha = 1.0
        if step[0] < 0.0:
            alpha = min(alpha, 0.99 * lam_k[0] / (-step[0]))
        ds = A[0, 0] * step[0] + A[0, 1] * step[1] + A[0, 2] * step[2]
        sn = u[0] + bn
        if ds < 0.0:
            alpha = min(alpha, 0.99 * sn / (-ds))
        for j in range(3):
            dl[j] = alpha * step[j]
            lam_k[j] += dl[j]
        apply_contact_impulse(d, k, dl, V, W)


@jit(inline="always")
def _start(d, k, bn, kappa_k, lam_k, V, W):
    # a strictly feasible start for contact k (whose impulse lam_k is applied to V, W): keep a
    # warm start with lambda_n > 0, else s_n > 0 and lambda_n s_n = kappa_k without friction
    if kappa_k > 0.0 and lam_k[0] > 0.0:
        return
    dl = -lam_k
    apply_contact_impulse(d, k, dl, V, W)
    lam_k[:] = 0.0
    if kappa_k > 0.0:
        u = np.empty(3)
        contact_velocity(d, k, V, W, u)
        scale = np.sqrt(kappa_k * d.con_A[k, 0, 0])  # s_n where lambda_n A_nn = s_n
        lam_k[0] = kappa_k / max(u[0] + bn, scale, 1e-300)
        apply_contact_impulse(d, k, lam_k, V, W)


@jit(inline="always")
def contact_bias(m, phi, h):
    # b_n: phi / h, the gap closed in a step; a penetration (phi < 0) is corrected no faster
    # than smooth_depenetration_speed v, by v tanh(phi / (h v)), which leaves the bias smooth
    # (C2 at phi = 0, where both sides have slope 1 / h and no curvature)
    if phi >= 0.0:
        return phi / h
    v = m.smooth_depenetration_speed
    return v * np.tanh(phi / (h * v))


@jit(inline="always")
def contact_bias_slope(m, phi, h):
    # d contact_bias / d phi
    if phi >= 0.0:
        return 1.0 / h
    t = np.tanh(phi / (h * m.smooth_depenetration_speed))
    return (1.0 - t * t) / h


@jit
def smoothed_residual(m, d, nc, bias, kap, vs, lam, V, W):
    # largest |F| in velocity units (F_n / lambda_n, F_t A_tt / rho), relative to the velocity
    # scale
    u = np.empty(3)
    F = np.empty(3)
    worst = 0.0
    scale = 1e-9
    for k in range(nc):
        if kap[k] <= 0.0:
            continue
        contact_velocity(d, k, V, W, u)
        rho = residual(lam[k], u, bias[k], kap[k], d.con_mu[k], vs[k], F)
        at = 0.5 * (d.con_A[k, 1, 1] + d.con_A[k, 2, 2])
        worst = max(worst, abs(F[0]) / max(lam[k, 0], 1e-300), at * abs(F[1]) / rho,
                    at * abs(F[2]) / rho)
        scale = max(scale, abs(u[0]) + abs(bias[k]), abs(u[1]), abs(u[2]),
                    d.con_A[k, 0, 0] * lam[k, 0], at * abs(lam[k, 1]), at * abs(lam[k, 2]))
    return worst / scale


@jit
def _assemble(d, nc, bias, kap, vs, lam, V, W, A, F, JF, jac):
    # F (3 nc) of all contacts at the current impulses, and when jac its Jacobian JF in lambda
    Fk = np.empty(3)
    Fl = np.empty((3, 3))
    Fu = np.empty((3, 3))
    u = np.empty(3)
    n3 = 3 * nc
    if jac:
        JF[:, :] = 0.0
    for k in range(nc):
        if kap[k] <= 0.0:  # outside the band: lambda = 0 is its equation
            for a in range(3):
                F[3 * k + a] = lam[k, a]
                if jac:
                    JF[3 * k + a, 3 * k + a] = 1.0
            continue
        contact_velocity(d, k, V, W, u)
        residual(lam[k], u, bias[k], kap[k], d.con_mu[k], vs[k], Fk)
        for a in range(3):
            F[3 * k + a] = Fk[a]
        if not jac:
            continue
        residual_jacobian(lam[k], u, bias[k], d.con_mu[k], vs[k], Fl, Fu)
        for a in range(3):
            for b in range(3):
                JF[3 * k + a, 3 * k + b] += Fl[a, b]
            for col in range(n3):
                acc = 0.0
                for r in range(3):
                    acc += Fu[a, r] * A[3 * k + r, col]
                JF[3 * k + a, col] += acc


@jit
def _global_newton(m, d, nc, bias, kap, vs, lam, V, W):
    # damped Newton on all contacts' F at once, keeping lambda_n, s_n > 0; its system
    # K = F_l + F_u A assembled densely, or beyond m.opt_polish_max_contacts contacts solved
    # through the bodies (body_space.solve). The line search is Armijo on |D F|^2 with the row
    # scaling D (to velocity units) frozen per iteration, for which the Newton direction is always a
    # descent direction.
    n3 = 3 * nc
    bodies = nc > m.opt_polish_max_contacts
    sel = np.arange(nc)
    A = np.empty((0, 0) if bodies else (n3, n3))
    JF = np.empty((0, 0) if bodies else (n3, n3))
    Fl = np.empty((nc, 3, 3) if bodies else (0, 3, 3))
    Fu = np.empty((nc, 3, 3) if bodies else (0, 3, 3))
    dV = np.empty((m.nbody, 3) if bodies else (0, 3))
    dW = np.empty((m.nbody, 3) if bodies else (0, 3))
    if not bodies:
        dense_delassus(m, d, sel, nc, A, 0.0)
    F = np.empty(n3)
    D = np.empty(n3)
    u = np.empty(3)
    dl = np.empty(3)
    res = smoothed_residual(m, d, nc, bias, kap, vs, lam, V, W)
    for _ in range(60):
        if res < 1e-14:
            break
        _assemble(d, nc, bias, kap, vs, lam, V, W, A, F, JF, not bodies)
        if bodies:
            for k in range(nc):
                if kap[k] > 0.0:
                    contact_velocity(d, k, V, W, u)
                    residual_jacobian(lam[k], u, bias[k], d.con_mu[k], vs[k], Fl[k], Fu[k])
                else:  # F = lambda
                    Fu[k, :, :] = 0.0
                    Fl[k, :, :] = 0.0
                    for a in range(3):
                        Fl[k, a, a] = 1.0
        merit = 0.0
        for k in range(nc):
            at = 0.5 * (d.con_A[k, 1, 1] + d.con_A[k, 2, 2])
            if kap[k] > 0.0:
                contact_velocity(d, k, V, W, u)
                D[3 * k] = 1.0 / max(lam[k, 0], 1e-300)
                at /= np.sqrt(u[1] * u[1] + u[2] * u[2] + vs[k] * vs[k])
            else:
                D[3 * k] = at
            D[3 * k + 1] = at
            D[3 * k + 2] = at
            for a in range(3):
                merit += (D[3 * k + a] * F[3 * k + a]) ** 2
        if bodies:
            ok, step = solve_bodies(m, d, sel, nc, Fl, Fu, -F, np.empty(0), np.bool_(False),
                                    ACCEPT_TOL)
        else:
            ok, step = solve_dense(JF, -F)
        if not ok:  # singular: stop (the residual says how far it got)
            break
        if bodies:  # the step's velocity change, for its normal gaps below
            dV[:, :] = 0.0
            dW[:, :] = 0.0
            for k in range(nc):
                apply_contact_impulse(d, k, step[3 * k:3 * k + 3], dV, dW)
        alpha = 1.0
        for k in range(nc):
            if kap[k] <= 0.0:
                continue
            if step[3 * k] < 0.0:
                alpha = min(alpha, 0.99 * lam[k, 0] / (-step[3 * k]))
            contact_velocity(d, k, V, W, u)
            ds = 0.0
            if bodies:
                contact_velocity(d, k, dV, dW, dl)
                ds = dl[0]
            else:
                for col in range(n3):
                    ds += A[3 * k, col] * step[col]
            if ds < 0.0 and u[0] + bias[k] > 0.0:
                alpha = min(alpha, 0.99 * (u[0] + bias[k]) / (-ds))
        lam_old = lam[:nc].copy()
        V_old = V.copy()
        W_old = W.copy()
        improved = False
        for _ in range(30):
            for k in range(nc):
                for j in range(3):
                    dl[j] = lam_old[k, j] + alpha * step[3 * k + j] - lam[k, j]
                    lam[k, j] += dl[j]
                apply_contact_impulse(d, k, dl, V, W)
            _assemble(d, nc, bias, kap, vs, lam, V, W, A, F, JF, False)
            trial = 0.0
            for r in range(n3):
                trial += (D[r] * F[r]) ** 2
            if trial <= (1.0 - 1e-4 * alpha) * merit:
                improved = True
                break
            alpha *= 0.5
        if not improved:
            for k in range(nc):
                lam[k, :] = lam_old[k]
            V[:, :] = V_old
            W[:, :] = W_old
            break
        res = smoothed_residual(m, d, nc, bias, kap, vs, lam, V, W)
    return res


@jit
def _sweeps(m, d, nc, kap, vs, lam, V, W, tol, sweep):
    # Gauss-Seidel (a local Newton solve per contact) until the relative residual is below tol
    # or m.opt_max_iter sweeps are done in all (sweep: those done before); a small solve checks
    # the residual every sweep, a large one every fourth. Returns (residual, sweeps done)
    small = nc <= m.opt_polish_max_contacts
    res = smoothed_residual(m, d, nc, d.con_bias, kap, vs, lam, V, W)
    scratch = local_scratch()
    while not res < tol and sweep < m.opt_max_iter:
        for k in range(nc):
            if kap[k] > 0.0:
                _local_newton(m, d, k, d.con_bias[k], kap[k], vs[k], lam[k], V, W, scratch)
        sweep += 1
        if small or sweep % 4 == 0:
            res = smoothed_residual(m, d, nc, d.con_bias, kap, vs, lam, V, W)
    return smoothed_residual(m, d, nc, d.con_bias, kap, vs, lam, V, W), sweep


@jit
def _solve(m, d, nc, kap, vs, lam, V, W):
    # the solve from the impulses lam (applied to V, W); returns its relative residual
    for k in range(nc):
        _start(d, k, d.con_bias[k], kap[k], lam[k], V, W)
    # a solve of at most m.opt_polish_max_contacts contacts, or one whose bodies' band is affordable
    # (body_space.py), finishes with the global Newton: Gauss-Seidel only brings it close
    polish = nc <= m.opt_polish_max_contacts or affordable(m, d, np.arange(nc), nc)
    res, sweep = _sweeps(m, d, nc, kap, vs, lam, V, W, 1e-4 if polish else 1e-10, 0)
    if polish:
        res = _global_newton(m, d, nc, d.con_bias, kap, vs, lam, V, W)
        if not res < 1e-10 and nc > m.opt_polish_max_contacts:
            # a large solve's Newton stalled: sweeps on
            res, sweep = _sweeps(m, d, nc, kap, vs, lam, V, W, 1e-10, sweep)
    return res


@jit
def smoothed_contacts(m, d, h):
    """Impulses of every contact of the step under the relaxed problem.

    in: d.con_* geometry, d.vel_free / d.ang_vel_free (free velocities); out: the same hold the
    post-contact velocities, d.con_lambda the impulses, d.con_bias the bias b_n.
    Returns (relative residual, 1 if the solve did not converge else 0).
    """
    nc = d.ncon[0]
    V, W = d.vel_free, d.ang_vel_free
    lam = d.con_lambda
    kap = np.empty(nc)
    vs = np.empty(nc)
    contact_jacobians(m, d, nc)
    for k in range(nc):
        d.con_bias[k] = contact_bias(m, d.con_dist[k], h)
        kap[k], vs[k] = contact_scales(m, d, k)
        d.con_phase[k] = -1
    keys = np.empty(nc, dtype=np.int64)
    warm_start(m, d, nc, keys, lam, V, W)
    res = _solve(m, d, nc, kap, vs, lam, V, W)
    if not res <= m.opt_tol_fail:
        # the relaxed problem has one solution, but a warm start can leave Gauss-Seidel and the
        # Newton finish stuck far from it (tests/test_rolling.py's mixed scene, one step in
        # 250: relative residual 0.1; from rest it solves to 1e-15): once more from rest
        undo_impulses(d, np.arange(nc), nc, lam, V, W)
        lam[:nc] = 0.0
        res = _solve(m, d, nc, kap, vs, lam, V, W)
    remember(d, nc, keys, lam)
    if any_resistance(m):  # rolling and torsional
        resistance(m, d, lam, W)
    return res, 0 if res <= m.opt_tol_fail else 1


# ----------------------------------------------------------------------------------------------
# Adjoint: implicit differentiation of F(lambda, theta) = 0 at the solution (contact_space.py).


@jit
def band_weight_grad(phi, band):
    # (dw/dphi, dw/dband) of band_weight; zero outside (0, band), where w is C1 anyway
    if phi <= 0.0 or phi >= band:
        return 0.0, 0.0
    x = phi / band
    dwdx = -4.0 * x * (1.0 - x * x)
    return dwdx / band, -x * dwdx / band


@jit(inline="always")
def _memo_views(blk, nc, nb):
    # the solve's scales and Jacobian blocks (20 floats per contact) and the free velocities
    # (6 per body) as views of one block (a memo's)
    n11, n20, e = 11 * nc, 20 * nc, 20 * nc + 3 * nb
    return (blk[:nc], blk[nc:2 * nc], blk[2 * nc:n11].reshape((nc, 3, 3)),
            blk[n11:n20].reshape((nc, 3, 3)), blk[n20:e].reshape((nb, 3)),
            blk[e:e + 3 * nb].reshape((nb, 3)))


@jit
def smoothed_contacts_vjp(m, d, a, h, kink):
    """vjp of smoothed_contacts, after the forward solve re-ran on this substep (d holds its
    solution: d.con_lambda, post-contact d.vel_free / ang_vel_free).

    in: a.vfree_bar / a.wfree_bar, cotangents of the post-contact velocities; out: the same hold
    the cotangents of the free velocities; accumulates a.con_{dist,normal,pos,mu}_bar, a.pos_bar,
    a.R_bar, a.invmass_bar, a.inertia_bar and a.scalar_bar[SLOT_KAPPA] (and the rolling and
    torsional stage's, rolling.resistance_vjp, taken off first).
    """
    nc = d.ncon[0]
    if nc == 0:
        return
    V, W = d.vel_free, d.ang_vel_free.copy()
    Vb, Wb = a.vfree_bar, a.wfree_bar
    lam = d.con_lambda
    kappa = m.smooth_kappa
    tb = np.zeros((nc, 3, 3))   # cotangents of each contact's frame columns n, t1, t2
    lam_bar = np.zeros((nc, 3))
    if any_resistance(m):  # W: back to the solve's
        resistance_vjp(m, d, a, lam, W, Wb, lam_bar, tb, kink)
    sel = np.arange(nc)
    u = np.empty(3)
    # (the records' arrays read before the loops: simcore/_jit.py, records)
    J, body, bias, mu, dist, spec = d.con_J, d.con_body, d.con_bias, d.con_mu, d.con_dist, \
        d.body_spec
    margin = m.opt_margin
    # the part that depends on the solution only, kept once per substep for transition_kernel's
    # rows (factors.py, memo; slot 0) with the solve's factorization: the scales, F_l, F_u, and
    # the free velocities V0, W0 (the band's motion bounds depend on them: the impulses undone)
    memo = d.fac_on[0] == 1
    key = memo_key(np.int64(MEMO_SOLVE), np.int64(0), sel, nc)
    size = 20 * nc + 6 * m.nbody
    found, blk = memo_find(d, key, size) if memo else (False, np.empty(0))
    if not found:
        blk = np.zeros(size)
    kap, vs, Fl, Fu, V0, W0 = _memo_views(blk, nc, m.nbody)
    if not found:
        for k in range(nc):
            kap[k], vs[k] = scales(kappa, margin, spec, body, dist, d.con_A, k)
            if kap[k] <= 0.0:  # outside the band: F = lambda
                for r in range(3):
                    Fl[k, r, r] = 1.0
            else:
                velocity(J, body, k, V, W, u)
                residual_jacobian(lam[k], u, bias[k], mu[k], vs[k], Fl[k], Fu[k])
        V0[:, :] = V
        W0[:, :] = W
        undo_impulses(d, sel, nc, lam, V0, W0)
        if memo:
            memo_keep(d, key, blk)
    y = np.empty(3 * nc)
    impulse_rhs(d, sel, nc, Vb, Wb, y)
    for k in range(nc):
        y[3 * k] += lam_bar[k, 0]
    if memo:
        d.fac_tag[0] = 0
    y = transposed_solve(m, d, sel, nc, Fl, Fu, y, np.empty(0))
    d.fac_tag[0] = -1
    cx, cR, cx_bar, cR_bar = contact_poses(d, nc)
    band_bar = np.zeros(nc)
    normal, t1, t2, cpos = d.con_normal, d.con_t1, d.con_t2, d.con_pos
    mu_bar, dist_bar, cpos_bar, scalar_bar = a.con_mu_bar, a.con_dist_bar, a.con_pos_bar, \
        a.scalar_bar
    bkind, inertia, invmass_bar, inertia_bar = m.body_kind, m.body_inertia, a.invmass_bar, \
        a.inertia_bar
    for k in range(nc):
        if kap[k] <= 0.0:  # lambda = 0 whatever theta
            continue
        velocity(J, body, k, V, W, u)
        c0, c1, c2 = -y[3 * k], -y[3 * k + 1], -y[3 * k + 2]
        ub0 = Fu[k, 0, 0] * c0 + Fu[k, 1, 0] * c1 + Fu[k, 2, 0] * c2
        ub1 = Fu[k, 0, 1] * c0 + Fu[k, 1, 1] * c1 + Fu[k, 2, 1] * c2
        ub2 = Fu[k, 0, 2] * c0 + Fu[k, 1, 2] * c1 + Fu[k, 2, 2] * c2
        # F_n = lam_n (u_n + b_n) - kappa_k;  F_t = rho lam_t + mu lam_n u_t, rho^2 = |u_t|^2 + v^2
        rho = np.sqrt(u[1] * u[1] + u[2] * u[2] + vs[k] * vs[k])
        vs_bar = (c1 * lam[k, 1] + c2 * lam[k, 2]) * vs[k] / rho
        mu_bar[k] += (c1 * u[1] + c2 * u[2]) * lam[k, 0]
        band = margin + spec[body[k, 0]] + spec[body[k, 1]]
        dw_phi, dw_band = band_weight_grad(dist[k], band)
        dist_bar[k] += ub0 * contact_bias_slope(m, dist[k], h) - c0 * kappa * dw_phi
        band_bar[k] = -c0 * kappa * dw_band
        scalar_bar[SLOT_KAPPA] -= c0 * band_weight(dist[k], band)
        if vs[k] > 0.0:  # v = sqrt(kappa A_tt)
            scalar_bar[SLOT_KAPPA] += vs_bar * vs[k] / (2.0 * kappa)
            att_bar = vs_bar * kappa / (2.0 * vs[k])  # A_tt = (A_11 + A_22) / 2
            diagonal_vjp(bkind, inertia, body, cpos, normal, t1, t2, invmass_bar, inertia_bar,
                         cpos_bar, k, cx, cR, 0.0, 0.5 * att_bar, 0.5 * att_bar, tb, k, cx_bar,
                         cR_bar)
        velocity_vjp(normal, t1, t2, body, cpos, cpos_bar, k, cx, V, W, ub0, ub1, ub2, Vb, Wb, tb,
                     k, cx_bar)
    impulse_vjp(m, d, a, sel, nc, lam, cx, cR, Vb, Wb, tb, cx_bar, cR_bar)
    scatter_pose_bars(d, a, nc, cx_bar, cR_bar)
    frames_to_normals(d, a, nc, tb)
    rbound = m.geom_rbound
    for k in range(nc):  # the band's motion bounds h (|v*| + |w*| rbound) of both bodies
        if band_bar[k] != 0.0:
            for s in range(2):
                i = body[k, s]
                nv = np.sqrt(V0[i, 0] ** 2 + V0[i, 1] ** 2 + V0[i, 2] ** 2)
                nw = np.sqrt(W0[i, 0] ** 2 + W0[i, 1] ** 2 + W0[i, 2] ** 2)
                for j in range(3):
                    if nv > 0.0:  # at rest: the norm's slope taken as 0
                        Vb[i, j] += band_bar[k] * h * V0[i, j] / nv
                    if nw > 0.0:
                        Wb[i, j] += band_bar[k] * h * rbound[i] * W0[i, j] / nw
