"""Hard contact: velocity-level complementarity with the isotropic Coulomb cone.

Per contact k, in its frame (n, t1, t2), with u the velocity of a relative to b at the point:
    u+ = A lambda + u*,   A = J M^-1 J^T + eps_k I   (eps_k tiny: redundant contacts solvable)
    0 <= lambda_n  _|_  u+_n + b_n >= 0
    |lambda_t| <= mu lambda_n, maximal dissipation (stick: u+_t = 0; slide: opposite to u+_t)
as the fixed point of the projection  lambda = P(lambda - R (A lambda + u* + b))  with R a
positive diagonal (1 / A_nn for the normal; one scalar per contact for the tangent disk, which
keeps the disk projection equivalent to maximal dissipation). Each solve splits into islands
(contacts coupled through dynamic bodies), solved one by one: projected Gauss-Seidel over body
velocities (accelerated by nonsmooth nonlinear conjugate gradients), then, for an island that is
small, semismooth Newton on the same fixed point, so the residual reaches rounding level. The
adjoint differentiates this fixed point.

Impacts (contacts that close within the step and would leave faster than a threshold) are
resolved in phases. One simultaneous solve with Newton restitution cannot pass
momentum along a row of touching balls (a cradle of three gives (-1/3, 2/3, 2/3) v instead of
(0, 0, v)), so each phase solves over the contacts that approach faster than a threshold, with
restitution targets from their current approach speed, until none does; a final solve over all
contacts then enforces non-penetration (speculative phi / h and Baumgarte beta phi / h terms).

Time of impact (toi): a contact that closes inside the step at t* = phi / (-u_n) splits its
bodies' motion: free velocity until t*, post-contact velocity for the rest of the step. For an
impact between two moving bodies, the pair's contact geometry (normals, points, gaps) is taken
at the poses of its earliest impact time, when the pair has as many contacts there, each
nearest to the one it replaces.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.collision import collide, collide_vjp, tangent_frame
from simcore.kernels.consts import BODY_DYNAMIC, KINK_LEFT, KINK_RIGHT, MAXCON_PAIR
from simcore.kernels.contact_space import (active_transposed_solve, add_impulse,
                                           apply_contact_impulse, contact_eps, contact_jacobian,
                                           contact_jacobians, contact_poses, contact_u,
                                           contact_velocity, contact_velocity_vjp,
                                           delassus_trace_vjp, dense_delassus, frame_to_normal,
                                           impulse_rhs, impulse_vjp, islands,
                                           scatter_pose_bars, undo_impulses)
from simcore.kernels.linalg import solve_dense
from simcore.kernels.rotation import (quat_integrate, quat_integrate_vjp, quat_to_mat,
                                      rot_bar_to_twist)

NEWTON_STALL = 8  # full Newton steps without a new best before backtracking
EXTRA_SWEEPS = 8  # single Gauss-Seidel sweeps tried before Newton (see _sweep_island)
CONTINUATION_REG = 1e-6  # the nearby problem a stalled polish is solved on first (_continuation)
TIE = 1e-12  # impact times closer than this fraction of the step are a tie (a kink), in the vjp


@jit(inline="always")
def _cone(zn, z1, z2, mu):
    # P(z): z projected onto the friction cone (normal clamped at zero, tangent at mu P_n)
    pn = zn if zn > 0.0 else 0.0
    radius = mu * pn
    zt = np.sqrt(z1 * z1 + z2 * z2)
    if zt > radius:
        scale = radius / zt if zt > 0.0 else 0.0
        return pn, z1 * scale, z2 * scale
    return pn, z1, z2


@jit
def project(lam, u, A, eps, bn, mu, out):
    # out = P(lam - R (u + eps lam + b)): the fixed-point map of one contact, given its current
    # velocity u (= A lam + u*, without eps). Returns z (3,) through out[3:6] for the Jacobian.
    rn = 1.0 / (A[0, 0] + eps)
    rt = 2.0 / (A[1, 1] + A[2, 2] + 2.0 * eps)
    zn = lam[0] - rn * (u[0] + eps * lam[0] + bn)
    z1 = lam[1] - rt * (u[1] + eps * lam[1])
    z2 = lam[2] - rt * (u[2] + eps * lam[2])
    out[0], out[1], out[2] = _cone(zn, z1, z2, mu)
    out[3] = zn
    out[4] = z1
    out[5] = z2


@jit(inline="always")
def _project_scalars(l0, l1, l2, u0, u1, u2, rn, rt, ep, bn, mu):
    # project() on scalars: P(lam - R (u + eps lam + b)) of one contact
    return _cone(l0 - rn * (u0 + ep * l0 + bn), l1 - rt * (u1 + ep * l1),
                 l2 - rt * (u2 + ep * l2), mu)


@jit(inline="always")
def fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg):
    # |lam - P(lam - R (A lam + c))| / R over the selected contacts: the residual in velocity
    # units (for an active normal it is exactly the violation of u+_n + b_n = 0), relative to the
    # solve's velocity scale: the velocity changes its impulses make, |u|, |b| (floor 1e-9 m/s).
    # Velocity units, because redundant contacts leave the split of impulses ill-determined (to
    # 1 / eps) while the velocities are not.
    # (reg: the regularization, m.hard_reg but where _continuation solves a nearby problem)
    return _residual(reg, d.con_A, d.con_J, d.con_body, d.con_mu, sel, nsel, bias, lam, V, W)


@jit(inline="always")
def _residual(reg, A, J, body, mu, sel, nsel, bias, lam, V, W):
    # fixed_point_residual on the arrays it reads (reg = m.hard_reg; A, J, body, mu = d.con_A,
    # con_J, con_body, con_mu). Solver functions called per island or per contact are inlined:
    # a compiled call increments and decrements the reference count of every array argument,
    # and of every array a Model or Data tuple argument holds (atomic updates, dozens each way)
    worst = 0.0
    scale = 1e-9
    for s in range(nsel):
        k = sel[s]
        u0, u1, u2 = contact_u(J, body, k, V, W)
        eps = contact_eps(reg, A, k)
        an = A[k, 0, 0] + eps
        at = 0.5 * (A[k, 1, 1] + A[k, 2, 2]) + eps
        l0, l1, l2 = lam[k, 0], lam[k, 1], lam[k, 2]
        p0, p1, p2 = _project_scalars(l0, l1, l2, u0, u1, u2, 1.0 / an, 1.0 / at, eps, bias[k],
                                      mu[k])
        worst = max(worst, abs(l0 - p0) * an, abs(l1 - p1) * at, abs(l2 - p2) * at)
        scale = max(scale, abs(u0) + abs(bias[k]), abs(u1), abs(u2), an * abs(l0),
                    at * abs(l1), at * abs(l2))
    return worst / scale


@jit(inline="always")
def pgs(m, d, sel, nsel, bias, lam, V, W, tol, maxit):
    return _pgs(m.hard_reg, d.con_A, d.con_J, d.con_MJ, d.con_body, d.con_mu, sel, nsel, bias,
                lam, V, W, tol, maxit)


@jit(inline="always")
def _pgs(reg, A, J, MJ, body, mu, sel, nsel, bias, lam, V, W, tol, maxit):
    # projected Gauss-Seidel over the selected contacts, impulses applied to V, W as they change,
    # until the largest impulse change of a sweep is below tol times the largest impulse, at
    # most maxit sweeps; returns the sweeps done. Accelerated by nonsmooth nonlinear conjugate
    # gradients (Silcowitz, Niebe, Erleben 2010): before each sweep the impulses move by
    # beta p, with r the last sweep's change, p <- r + beta p and beta = |r|^2 / |r_prev|^2
    # (restart at 0 when beta > 1). The result is always a sweep's, so it lies in the cones;
    # the fixed point is PGS's own. The sweep is written on scalars and whole arrays (arguments
    # as for _residual, MJ = d.con_MJ): array views are slow in this inner loop.
    dl = np.empty(3)
    r = np.empty((nsel, 3))
    p = np.zeros((nsel, 3))
    rn = np.empty(nsel)
    rt = np.empty(nsel)
    ep = np.empty(nsel)
    for s in range(nsel):
        k = sel[s]
        ep[s] = contact_eps(reg, A, k)
        rn[s] = 1.0 / (A[k, 0, 0] + ep[s])
        rt[s] = 2.0 / (A[k, 1, 1] + A[k, 2, 2] + 2.0 * ep[s])
    r2_prev = 0.0
    beta = 0.0
    for it in range(maxit):
        if beta > 0.0:
            for s in range(nsel):
                k = sel[s]
                for j in range(3):
                    dl[j] = beta * p[s, j]
                    lam[k, j] += dl[j]
                add_impulse(MJ, body, k, dl[0], dl[1], dl[2], V, W)
        change = 0.0
        size = 0.0
        r2 = 0.0
        for s in range(nsel):
            k = sel[s]
            u0, u1, u2 = contact_u(J, body, k, V, W)
            l0, l1, l2 = lam[k, 0], lam[k, 1], lam[k, 2]
            pn, z1, z2 = _project_scalars(l0, l1, l2, u0, u1, u2, rn[s], rt[s], ep[s], bias[k],
                                          mu[k])
            d0, d1, d2 = pn - l0, z1 - l1, z2 - l2
            lam[k, 0], lam[k, 1], lam[k, 2] = pn, z1, z2
            r[s, 0], r[s, 1], r[s, 2] = d0, d1, d2
            r2 += d0 * d0 + d1 * d1 + d2 * d2
            change = max(change, abs(d0), abs(d1), abs(d2))
            size = max(size, pn, abs(z1), abs(z2))
            add_impulse(MJ, body, k, d0, d1, d2, V, W)
        if change <= tol * size or change < 1e-300:
            return it + 1
        beta = r2 / r2_prev if r2_prev > 0.0 else 0.0
        if beta > 1.0:
            beta = 0.0
        r2_prev = r2
        for s in range(nsel):
            for j in range(3):
                p[s, j] = r[s, j] + beta * p[s, j]
    return maxit


@jit
def projection_jacobian(z, mu, dP):
    # dP (3, 3): derivative of the contact's projection P(z) at z (zn, z1, z2).
    # Convention at the kinks: the normal clamp counts as active only for zn > 0; the disk counts
    # as sliding only for |z_t| > radius (the one-sided derivative from the inside).
    projection_jacobian_side(z, mu, False, dP)


@jit
def projection_jacobian_side(z, mu, outside, dP):
    # projection_jacobian, at a kink from the inside (outside False: normal clamp inactive, disk
    # sticking) or from the outside (True: clamp active at zn = 0, sliding at |z_t| = radius)
    dP[:, :] = 0.0
    zn, z1, z2 = z[0], z[1], z[2]
    dn = 1.0 if zn > 0.0 or (outside and zn == 0.0) else 0.0
    dP[0, 0] = dn
    if mu == 0.0 or zn < 0.0:
        return  # the disk is the point 0 all around z: no tangential impulse (nor slope)
    radius = mu * max(zn, 0.0)
    zt = np.sqrt(z1 * z1 + z2 * z2)
    if (zt > radius or (outside and zt == radius)) and zt > 0.0:
        e1, e2 = z1 / zt, z2 / zt
        c = radius / zt
        dP[1, 1] = c * (1.0 - e1 * e1)
        dP[1, 2] = -c * e1 * e2
        dP[2, 1] = -c * e2 * e1
        dP[2, 2] = c * (1.0 - e2 * e2)
        dP[1, 0] = mu * dn * e1
        dP[2, 0] = mu * dn * e2
    else:
        dP[1, 1] = 1.0
        dP[2, 2] = 1.0


@jit
def newton_polish(m, d, sel, nsel, bias, lam, V, W, reg):
    # semismooth Newton on G(lam) = lam - P(lam - R (A lam + c)) over the selected contacts,
    # starting from the PGS solution; returns the relative residual and leaves the best impulses.
    # Full steps first, even where the residual grows: near a redundant contact set (a box face
    # on the ground) PGS leaves every corner pushing while the solution lifts one, and the way
    # there changes modes, which no monotone line search passes (measured: a sliding box's four
    # corners stall at 8.6e-8 with backtracking, reach 3.5e-18 in 7 full steps). If that misses
    # rounding, again from the start with each iterate projected onto the friction cones: on
    # sticking corners the steps' internal tangential impulses (set by eps alone, ~1e9 times the
    # residual) can make plain Newton cycle between two mode sets, which the projection breaks.
    # The better of the two is kept (benchmarks/solver_convergence.py counts what is left).
    lam0 = np.empty((nsel, 3))
    for p in range(nsel):
        lam0[p, :] = lam[sel[p]]
    res = _newton(m, d, sel, nsel, bias, lam, V, W, False, reg)
    if res <= 1e-13:
        return res
    lam1 = np.empty((nsel, 3))
    for p in range(nsel):
        lam1[p, :] = lam[sel[p]]
    _set_impulses(d, sel, nsel, lam0, lam, V, W)
    res2 = _newton(m, d, sel, nsel, bias, lam, V, W, True, reg)
    if res2 <= res:
        return res2
    _set_impulses(d, sel, nsel, lam1, lam, V, W)
    return res


@jit
def _newton(m, d, sel, nsel, bias, lam, V, W, cones, reg):
    # newton_polish's iteration; cones: project each iterate onto the friction cones. After
    # NEWTON_STALL full steps without a new best, back to the best impulses and backtrack.
    n3 = 3 * nsel
    A = np.empty((n3, n3))
    dense_delassus(m, d, sel, nsel, A, reg)
    G = np.empty(n3)
    JG = np.empty((n3, n3))
    u = np.empty(3)
    out = np.empty(6)
    dP = np.empty((3, 3))
    dl = np.empty(3)
    trial = np.empty(3)
    lam_old = np.empty((nsel, 3))
    lam_best = np.empty((nsel, 3))
    res = fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg)
    best = res
    for p in range(nsel):
        lam_best[p, :] = lam[sel[p]]
    stall = 0
    for _ in range(40):
        if res < 1e-15:
            break
        JG[:, :] = 0.0
        for p in range(nsel):
            k = sel[p]
            contact_velocity(d, k, V, W, u)
            Ak = d.con_A[k]
            eps = contact_eps(reg, d.con_A, k)
            project(lam[k], u, Ak, eps, bias[k], d.con_mu[k], out)
            for j in range(3):
                G[3 * p + j] = lam[k, j] - out[j]
            projection_jacobian(out[3:], d.con_mu[k], dP)
            rn = 1.0 / (Ak[0, 0] + eps)
            rt = 2.0 / (Ak[1, 1] + Ak[2, 2] + 2.0 * eps)
            # dz/dlam = I - R (A + eps I) (eps already on A's diagonal)
            for a in range(3):
                r = rn if a == 0 else rt
                for col in range(n3):
                    dz = -r * A[3 * p + a, col]
                    if col == 3 * p + a:
                        dz += 1.0
                    for b in range(3):
                        JG[3 * p + b, col] -= dP[b, a] * dz
            for b in range(3):
                JG[3 * p + b, 3 * p + b] += 1.0
        ok, step = solve_dense(JG, -G)
        if not ok:  # a singular Newton system: stop here (the residual says how far it got)
            break
        for p in range(nsel):
            lam_old[p, :] = lam[sel[p]]
        # full steps while they keep finding new bests; then halve until the residual drops
        alpha = 1.0
        tries = 1 if stall < NEWTON_STALL else 12
        improved = False
        for _ in range(tries):
            for p in range(nsel):
                k = sel[p]
                for j in range(3):
                    trial[j] = lam_old[p, j] + alpha * step[3 * p + j]
                if cones:
                    _project_cone(trial, d.con_mu[k])
                for j in range(3):
                    dl[j] = trial[j] - lam[k, j]
                    lam[k, j] = trial[j]
                apply_contact_impulse(d, k, dl, V, W)
            new = fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg)
            if new < res:
                improved = True
                break
            alpha *= 0.5
        if not improved and stall >= NEWTON_STALL:
            break
        res = new  # a full step is kept either way
        if res < best:
            best = res
            stall = 0
            for p in range(nsel):
                lam_best[p, :] = lam[sel[p]]
        else:
            stall += 1
            if stall == NEWTON_STALL:  # back to the best impulses, from there monotone
                _set_impulses(d, sel, nsel, lam_best, lam, V, W)
                res = best
    # the impulses left are the last full step's or the last trial of a failed backtracking:
    # back to the best, so that the residual returned is theirs
    if fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg) > best:
        _set_impulses(d, sel, nsel, lam_best, lam, V, W)
    return best


@jit
def _project_cone(lam, mu):
    # lam (3,) onto the cone lam_n >= 0, |lam_t| <= mu lam_n, in place (the nearest point)
    ln = lam[0]
    lt = np.sqrt(lam[1] * lam[1] + lam[2] * lam[2])
    if lt <= mu * ln:
        return
    if mu * lt <= -ln:  # in the polar cone: to the apex
        lam[:] = 0.0
        return
    # onto the cone's surface: the normal part (ln + mu lt) / (1 + mu^2)
    pn = (ln + mu * lt) / (1.0 + mu * mu)
    lam[0] = pn
    scale = mu * pn / lt
    lam[1] *= scale
    lam[2] *= scale


@jit
def _set_impulses(d, sel, nsel, target, lam, V, W):
    # lam[sel[p]] = target[p], with the velocities V, W following
    dl = np.empty(3)
    for p in range(nsel):
        k = sel[p]
        for j in range(3):
            dl[j] = target[p, j] - lam[k, j]
            lam[k, j] = target[p, j]
        apply_contact_impulse(d, k, dl, V, W)


@jit
def solve(m, d, sel, nsel, bias, lam, V, W, npair_con):
    # one complementarity solve over the selected contacts; returns the largest relative
    # residual. npair_con[k]: the contacts of contact k's body pair. A contact that starts
    # separated (no impulse, u_n + b_n > 0) and is its pair's only contact is left out, as its solution is most often to stay so: it neither costs
    # sweeps nor couples the islands of the others (a sphere pile's speculative contacts are
    # about a third of its contacts, and tie it into one island). Once the others are solved,
    # any of those it left out that they close (u_n + b_n < 0) is taken in and its island solved
    # again; the ones left out have lam = 0 with u_n + b_n >= 0, a solution of their fixed point
    # with no residual. (A pair with several contacts, a box's corners, keeps them all: leaving
    # out its separated corners doubled the failed solves of the 64-box pile.)
    if nsel == 0:
        return 0.0
    act = np.empty(nsel, dtype=np.int64)
    out = np.empty(nsel, dtype=np.int64)
    fresh = np.zeros(d.ncon[0], dtype=np.bool_)  # contacts whose island is not solved yet
    res = np.zeros(d.ncon[0])  # the relative residual of each contact's island
    nact = nout = 0
    for p in range(nsel):
        k = sel[p]
        u0, u1, u2 = contact_u(d.con_J, d.con_body, k, V, W)
        if (npair_con[k] == 1 and lam[k, 0] == 0.0 and lam[k, 1] == 0.0 and lam[k, 2] == 0.0
                and u0 + bias[k] > 0.0):
            out[nout] = k
            nout += 1
        else:
            act[nact] = k
            nact += 1
            fresh[k] = True
    while True:
        _solve_islands(m, d, act, nact, bias, lam, V, W, fresh, res)
        kept = 0
        for q in range(nout):
            k = out[q]
            u0, u1, u2 = contact_u(d.con_J, d.con_body, k, V, W)
            if u0 + bias[k] < 0.0:
                act[nact] = k
                nact += 1
                fresh[k] = True
            else:
                out[kept] = k
                kept += 1
        if kept == nout:
            break
        nout = kept
    worst = 0.0
    for p in range(nact):
        worst = max(worst, res[act[p]])
    return worst


@jit
def _solve_islands(m, d, sel, nsel, bias, lam, V, W, fresh, res):
    # solve()'s contacts island by island (independent problems, each to its own tolerance: a
    # settled body is not swept again while a pile elsewhere converges). Only islands holding a
    # fresh contact are solved (the others are those of an earlier call, solved then); fresh[k]
    # is cleared and res[k] set to the relative residual of contact k's island
    if nsel == 0:
        return
    order = np.empty(nsel, dtype=np.int64)
    start = np.empty(nsel + 1, dtype=np.int64)
    nis = islands(m, d, sel, nsel, order, start)
    sub = np.empty(nsel, dtype=np.int64)
    A, J, MJ, body, mu = d.con_A, d.con_J, d.con_MJ, d.con_body, d.con_mu
    for j in range(nis):
        n = start[j + 1] - start[j]
        todo = False
        for q in range(n):
            k = sel[order[start[j] + q]]
            sub[q] = k
            todo = todo or fresh[k]
        if not todo:
            continue
        # an island of at most m.opt_polish contacts: a few sweeps often converge; else PGS has
        # at least found the active set, and Newton finishes it (_polish_island). A larger
        # island: PGS to tolerance
        polish = n <= m.opt_polish
        few = min(m.opt_maxiter, 50) if polish else m.opt_maxiter
        r, sweeps = _sweep_island(m.hard_reg, A, J, MJ, body, mu, polish, few, m.hard_tol, sub,
                                  n, bias, lam, V, W)
        if polish and r > 1e-13:
            r = _polish_island(m, d, sub, n, bias, lam, V, W, sweeps < few)
        for q in range(n):
            fresh[sub[q]] = False
            res[sub[q]] = r


@jit(inline="always")
def _sweep_island(reg, A, J, MJ, body, mu, polish, few, tol, sel, nsel, bias, lam, V, W):
    # PGS over an island to tol, at most `few` sweeps (arrays as for _pgs); returns (relative
    # residual, sweeps). An island to be polished that PGS converged by its impulse change, the
    # residual a little above rounding, gets a few single sweeps more: they usually end it, at
    # a fraction of a Newton step's dense factorisation. Inlined per island and on arrays: an
    # inlined Model / Data tuple argument can have every array it holds reference-counted
    sweeps = _pgs(reg, A, J, MJ, body, mu, sel, nsel, bias, lam, V, W, tol, few)
    res = _residual(reg, A, J, body, mu, sel, nsel, bias, lam, V, W)
    if polish and sweeps < few:
        for _ in range(EXTRA_SWEEPS):
            if res <= 1e-13:
                break
            _pgs(reg, A, J, MJ, body, mu, sel, nsel, bias, lam, V, W, 0.0, 1)
            res = _residual(reg, A, J, body, mu, sel, nsel, bias, lam, V, W)
    return res, sweeps


@jit
def _polish_island(m, d, sel, nsel, bias, lam, V, W, converged):
    # Newton from PGS's active set; if it stalls and PGS had not converged (by its impulse
    # change), PGS to tolerance and Newton again; if that stalls too, _continuation. Returns
    # the relative residual
    res = newton_polish(m, d, sel, nsel, bias, lam, V, W, m.hard_reg)
    if res > 1e-13 and not converged:
        pgs(m, d, sel, nsel, bias, lam, V, W, m.hard_tol, m.opt_maxiter)
        res = newton_polish(m, d, sel, nsel, bias, lam, V, W, m.hard_reg)
    if res > 1e-13:
        res = _continuation(m, d, sel, nsel, bias, lam, V, W, res)
    return res


@jit
def _continuation(m, d, sel, nsel, bias, lam, V, W, res):
    # A stalled polish (relative residual res), again from the solution of the same problem
    # regularised by CONTINUATION_REG: there Gauss-Seidel and Newton find the active set that
    # the tiny regularization makes ill-posed (a box landing flat on four sliding corners, one
    # of which lifts, stalled at 3.3e-6 with 2,000 sweeps and converged with 20,000), and its
    # solution is close to the true one. Keeps whichever impulses end lower
    if m.hard_reg >= CONTINUATION_REG:
        return res
    keep = np.empty((nsel, 3))
    for p in range(nsel):
        keep[p, :] = lam[sel[p]]
    _pgs(CONTINUATION_REG, d.con_A, d.con_J, d.con_MJ, d.con_body, d.con_mu, sel, nsel, bias,
         lam, V, W, m.hard_tol, m.opt_maxiter)
    newton_polish(m, d, sel, nsel, bias, lam, V, W, CONTINUATION_REG)
    new = newton_polish(m, d, sel, nsel, bias, lam, V, W, m.hard_reg)
    if new < res:
        return new
    _set_impulses(d, sel, nsel, keep, lam, V, W)
    return res


@jit(inline="always")
def penetration_bias(m, phi, h):
    # the normal bias that corrects a penetration phi < 0: Baumgarte's beta phi / h, no faster
    # than hard_depenetration_speed (an overlap of 0.1 m at 1 ms is pushed out at 1 m/s, not
    # 20: a deep overlap is corrected over several steps instead of launching the bodies)
    return max(m.hard_beta * phi / h, -m.hard_depenetration_speed)


@jit(inline="always")
def _penetration_part(m, phi, h):
    # an impact phase's bias for its gap phi: the penetration's correction, none when apart
    return penetration_bias(m, phi, h) if phi < 0.0 else 0.0


@jit(inline="always")
def _penetration_slope(m, phi, h, kink):
    # d penetration_bias / d phi: beta / h, 0 beyond the speed limit (a kink at the limit)
    return _ramp_slope_at(m.hard_beta * phi / h + m.hard_depenetration_speed, 0.0,
                          m.hard_beta / h, kink)


@jit
def impact_pose(d, i, t, x_out, q_out, R_out):
    # body i's pose at time t of the split step (mean velocity d.vel_pre over [0, t])
    for j in range(3):
        x_out[j] = d.pos[i, j] + t * d.vel_pre[i, j]
    quat_integrate(d.quat[i], d.ang_vel_pre[i], t, q_out)
    quat_to_mat(q_out, R_out)


@jit
def _refresh_at_impact(m, d, k0, n, t, xa, Ra, qa, xb, Rb, qb, buf_d, buf_n, buf_p):
    # geometry of the pair of contacts k0 .. k0 + n - 1 at the poses its bodies reach at time t
    # of the split step (velocity d.vel_pre = v + t a over [0, t]); returns False (leaving the
    # contacts as they were) unless the pair has n contacts there, the j-th nearest to k0 + j
    a, b = d.con_body[k0, 0], d.con_body[k0, 1]
    impact_pose(d, a, t, xa, qa, Ra)
    impact_pose(d, b, t, xb, qb, Rb)
    margin = m.opt_margin + d.body_spec[a] + d.body_spec[b]
    if collide(m.geom_type[a], m.geom_type[b], xa, Ra, m.geom_size[a], xb, Rb,
               m.geom_size[b], margin, 0, buf_d, buf_n, buf_p) != n:
        return False
    for j in range(n):
        best, near = np.inf, -1
        for c in range(n):
            e = 0.0
            for i in range(3):
                e += (buf_p[j, i] - d.con_pos[k0 + c, i]) ** 2
            if e < best:
                best, near = e, c
        if near != j:
            return False
    for j in range(n):
        k = k0 + j
        d.con_dist[k] = buf_d[j]
        for i in range(3):
            d.con_normal[k, i] = buf_n[j, i]
            d.con_pos[k, i] = buf_p[j, i]
        tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
        contact_jacobian(m, d, k, xa, Ra, xb, Rb)
    return True


@jit
def impact_time(phi, b, a2, h):
    # earliest t in [0, h] with phi + b t + a2 t^2 = 0 (the gap along the step's parabola);
    # phi <= 0 is an impact at the start, no root in the step gives h
    if phi <= 0.0:
        return 0.0
    if a2 == 0.0:
        return min(phi / (-b), h) if b < 0.0 else h
    disc = b * b - 4.0 * a2 * phi
    if disc < 0.0:
        return h
    sq = np.sqrt(disc)
    q = -0.5 * (b - sq) if b < 0.0 else -0.5 * (b + sq)  # no cancellation
    best = h
    for t in (q / a2, phi / q if q != 0.0 else h):
        if 0.0 <= t < best:
            best = t
    return best


@jit
def _set_hit(m, d, i, t, h, hit, acc_v, acc_w, V, W):
    # body i first takes part in an impact at time t of the step. Semi-implicit Euler is exact
    # for constant acceleration a when its velocity v is read at the half step before (t_k -
    # h/2), so the instantaneous velocity at t is v + a (t + h/2) and the mean over [0, t] is
    # v + a (h + t) / 2 (kept in vel_pre for the pose)
    if m.body_kind[i] != BODY_DYNAMIC or hit[i]:
        return
    hit[i] = True
    d.body_toi[i] = t
    for j in range(3):
        V[i, j] = d.vel[i, j] + (t + 0.5 * h) * acc_v[i, j]
        W[i, j] = d.ang_vel[i, j] + (t + 0.5 * h) * acc_w[i, j]
        d.vel_pre[i, j] = d.vel[i, j] + 0.5 * (h + t) * acc_v[i, j]
        d.ang_vel_pre[i, j] = d.ang_vel[i, j] + 0.5 * (h + t) * acc_w[i, j]


@jit
def _contact_keys(m, d, nc, keys):
    # identify a contact across steps by its body pair and its rank among the pair's contacts
    rank = 0
    for k in range(nc):
        if k > 0 and d.con_body[k, 0] == d.con_body[k - 1, 0] and \
                d.con_body[k, 1] == d.con_body[k - 1, 1]:
            rank += 1
        else:
            rank = 0
        keys[k] = (d.con_body[k, 0] * m.nbody + d.con_body[k, 1]) * MAXCON_PAIR + rank


@jit
def warm_start(m, d, nc, keys, lam, V, W):
    # lam[k] = the impulse the same contact had at the end of the previous solve (applied to
    # V, W), else zero; keys (nc,) is filled for remember()
    _contact_keys(m, d, nc, keys)
    order = np.argsort(d.prev_key[:d.nprev[0]])
    sorted_keys = d.prev_key[:d.nprev[0]][order]
    for k in range(nc):
        lam[k, :] = 0.0
        pos = np.searchsorted(sorted_keys, keys[k])
        if pos < sorted_keys.shape[0] and sorted_keys[pos] == keys[k]:
            lam[k, :] = d.prev_lam[order[pos]]
            apply_contact_impulse(d, k, lam[k], V, W)


@jit
def remember(d, nc, keys, lam):
    # keep this solve's impulses for the next step's warm start
    for k in range(nc):
        d.prev_key[k] = keys[k]
        d.prev_lam[k, :] = lam[k]
    d.nprev[0] = nc


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


@jit
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
    acc_v = np.empty((nb, 3))  # free accelerations over the step
    acc_w = np.empty((nb, 3))
    for i in range(nb):
        d.body_toi[i] = -1.0  # no impact
        for j in range(3):
            acc_v[i, j] = (V[i, j] - d.vel[i, j]) / h
            acc_w[i, j] = (W[i, j] - d.ang_vel[i, j]) / h
    hit = np.zeros(nb, dtype=np.bool_)
    contact_jacobians(m, d, nc)
    for k in range(nc):
        d.con_lambda[k, :] = 0.0
        d.con_phase[k] = -1
        d.con_toi[k] = 0.0
        d.con_refresh_src[k] = -1
        d.con_cap_margin[k] = np.inf
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
        while (l < nc and d.con_body[l, 0] == d.con_body[k, 0]
               and d.con_body[l, 1] == d.con_body[k, 1]):
            l += 1
        npair_con[k:l] = l - k
        pair0[k:l] = k
        k = l
    max_phases = 2 * nc + 8
    phase = 0
    while phase < max_phases:
        # select the contacts approaching faster than the threshold that close in this step
        nsel = 0
        for k in range(nc):
            contact_velocity(d, k, V, W, u)
            phi = d.con_dist[k]
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
            if d.con_e[k] * approach < -m.hard_ethresh:
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
                        _set_hit(m, d, i, tb, h, hit, acc_v, acc_w, V, W)
            s = 0
            while phase == 0 and s < nsel:
                # a pair of moving bodies: its geometry at its earliest impact (sel is sorted)
                k = sel[s]
                k0 = pair0[k]
                src = k
                s += 1
                while s < nsel and pair0[sel[s]] == k0:
                    if d.con_toi[sel[s]] < d.con_toi[src]:
                        src = sel[s]
                    s += 1
                a, b = d.con_body[k, 0], d.con_body[k, 1]
                if (d.con_toi[src] > 0.0 and m.body_kind[a] == BODY_DYNAMIC
                        and m.body_kind[b] == BODY_DYNAMIC
                        and _refresh_at_impact(m, d, k0, npair_con[k], d.con_toi[src], xa, Ra, qa,
                                               xb, Rb, qb, buf_d, buf_n, buf_p)):
                    d.con_refresh_src[k0:k0 + npair_con[k]] = src
        for s in range(nsel):
            k = sel[s]
            contact_velocity(d, k, V, W, u)
            # Newton restitution alone sets the exit speed. (A speculative phi / h term here
            # would take up to the whole speed away; without toi the ball then bounces off
            # where it is, an O(h v) position error, which is the failure toi removes.)
            d.con_bias[k] = (d.con_e[k] * min(u[0], 0.0)
                             + _penetration_part(m, d.con_dist[k], h))
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
                bias0[k] = _penetration_part(m, d.con_dist[k], h)  # (restitution 0)
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
            for j in range(3):
                V[i, j] += (0.5 * h - t) * acc_v[i, j]
                W[i, j] += (0.5 * h - t) * acc_w[i, j]
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
        phi = d.con_dist[k]
        d.con_bias[k] = phi / h if phi > 0.0 else penetration_bias(m, phi, h)
        a, b = d.con_body[k, 0], d.con_body[k, 1]
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
            d.con_bias[k] = (gap / rest if gap > 0.0 else penetration_bias(m, gap, h)) \
                + 0.5 * tc * u0[0]
    keys = np.empty(nc, dtype=np.int64)
    warm_start(m, d, nc, keys, lam, V, W)
    res = solve(m, d, sel, nc, d.con_bias, lam, V, W, npair_con)
    remember(d, nc, keys, lam)
    worst = max(worst, res)
    if not res <= m.opt_tol_fail:
        failures += 1
    for k in range(nc):
        for j in range(3):
            d.con_lambda[k, j] += lam[k, j]
    # mean velocity over [t, h] for the pose of bodies in an impact
    for i in range(nb):
        if hit[i]:
            t = d.body_toi[i]
            for j in range(3):
                d.vel_post[i, j] = V[i, j] + 0.5 * t * acc_v[i, j]
                d.ang_vel_post[i, j] = W[i, j] + 0.5 * t * acc_w[i, j]
    return worst, failures


# ----------------------------------------------------------------------------------------------
# Adjoint: implicit differentiation of each solve's fixed point G = lambda - P(z) = 0 at its
# solution, z = lambda - R (u + eps lambda + b), u = J V_out (contact_space.py for the layout).
# R does not move the solution (at a fixed point, u + eps lambda + b vanishes along every
# direction P is sensitive to); eps_k = hard_reg tr(A_kk) / 3 does, through the contact's
# geometry and the masses (contact_space.delassus_trace_vjp).


@jit
def _fixed_point_vjp(m, d, a, sel, nsel, bias, lam, V, W, Vb, Wb, lam_bar, kink, P, b_bar):
    """vjp of one solve over the selected contacts: impulses lam[k], post-solve velocities V, W.

    in: Vb, Wb the cotangent of the post-solve velocities, lam_bar (ncon, 3) the impulses' own
    (where they are used beside the velocities); out: the pre-solve velocities' (in place).
    Accumulates the geometry (a.con_*_bar, the contact poses' and frames' cotangents in
    P = (cx, cR, cx_bar, cR_bar, tb)), a.con_mu_bar and the masses;
    b_bar[k] = the cotangent of the bias b_n of each selected contact.
    """
    cx, cR, cx_bar, cR_bar, tb = P
    Fl = np.zeros((nsel, 3, 3))
    Fu = np.empty((nsel, 3, 3))
    zs = np.empty((nsel, 3))
    wslide = np.zeros(nsel)
    u = np.empty(3)
    out = np.empty(6)
    dP = np.empty((3, 3))
    dP2 = np.empty((3, 3))
    Rd = np.empty(3)
    for p in range(nsel):
        k = sel[p]
        contact_velocity(d, k, V, W, u)
        A = d.con_A[k]
        eps = contact_eps(m.hard_reg, d.con_A, k)
        mu = d.con_mu[k]
        project(lam[k], u, A, eps, bias[k], mu, out)
        for j in range(3):
            zs[p, j] = out[3 + j]
        # the one-sided Jacobians; they differ only at a kink (weakly active, on the cone)
        projection_jacobian_side(zs[p], mu, False, dP)
        projection_jacobian_side(zs[p], mu, True, dP2)
        w_out = 0.0 if kink == KINK_LEFT else (1.0 if kink == KINK_RIGHT else 0.5)
        zt = np.sqrt(zs[p, 1] ** 2 + zs[p, 2] ** 2)
        radius = mu * max(zs[p, 0], 0.0)
        if zt > 0.0 and zt > radius:
            wslide[p] = 1.0
        elif zt > 0.0 and zt == radius:
            wslide[p] = w_out
        Rd[0] = 1.0 / (A[0, 0] + eps)
        Rd[1] = 2.0 / (A[1, 1] + A[2, 2] + 2.0 * eps)
        Rd[2] = Rd[1]
        for i in range(3):
            for j in range(3):
                dp = (1.0 - w_out) * dP[i, j] + w_out * dP2[i, j]
                Fu[p, i, j] = dp * Rd[j]
                Fl[p, i, j] = (1.0 if i == j else 0.0) - dp + eps * dp * Rd[j]
    g = np.empty(3 * nsel)
    impulse_rhs(d, sel, nsel, Vb, Wb, g)
    for p in range(nsel):
        for j in range(3):
            g[3 * p + j] += lam_bar[sel[p], j]
    y = active_transposed_solve(m, d, sel, nsel, Fl, Fu, g)
    c = np.empty(3)
    ubar = np.empty(3)
    for p in range(nsel):
        k = sel[p]
        for j in range(3):
            c[j] = -y[3 * p + j]
        for j in range(3):
            ubar[j] = Fu[p, 0, j] * c[0] + Fu[p, 1, j] * c[1] + Fu[p, 2, j] * c[2]
        b_bar[k] = ubar[0]  # b enters z like u_n
        # eps lam enters z like u: eps_k = hard_reg tr(A_kk) / 3 moves with the geometry
        eps_bar = ubar[0] * lam[k, 0] + ubar[1] * lam[k, 1] + ubar[2] * lam[k, 2]
        delassus_trace_vjp(m, d, a, k, cx, cR, m.hard_reg * eps_bar / 3.0, cx_bar, cR_bar)
        if wslide[p] > 0.0:  # P_t = mu max(z_n, 0) z_t / |z_t|
            zt = np.sqrt(zs[p, 1] ** 2 + zs[p, 2] ** 2)
            a.con_mu_bar[k] -= (wslide[p] * max(zs[p, 0], 0.0)
                                * (c[1] * zs[p, 1] + c[2] * zs[p, 2]) / zt)
        contact_velocity_vjp(d, a, k, cx, V, W, ubar, Vb, Wb, tb[k], cx_bar)
    impulse_vjp(m, d, a, sel, nsel, lam, cx, cR, Vb, Wb, tb, cx_bar, cR_bar)


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


@jit(inline="always")
def _tied(t1, t2, h):
    # two impact times of a step equal up to the rounding of their roots
    return abs(t1 - t2) <= TIE * h


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
def _impact_time_vjp(phi, u0n, un, h, t_bar):
    # vjp of t = impact_time(phi, b, a2, h), b = u0n + an h / 2, a2 = an / 2, an = (un - u0n) / h,
    # at a root inside (0, h): dt = -(dphi + t db + t^2 da2) / (b + 2 a2 t). Returns
    # (phi_bar, u0n_bar, un_bar); zero when t sits at a bound or the gap's rate there vanishes
    an = (un - u0n) / h
    b = u0n + 0.5 * an * h
    a2 = 0.5 * an
    t = impact_time(phi, b, a2, h)
    den = b + 2.0 * a2 * t
    if not (0.0 < t < h) or den == 0.0:
        return 0.0, 0.0, 0.0
    s = -t_bar / den
    b_bar = s * t
    an_bar = 0.5 * h * b_bar + 0.5 * s * t * t
    return s, b_bar - an_bar / h, an_bar / h


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
def _vel_pre_vjp(m, d, a, i, h, vb, wb, acc_v, acc_w, acc_vb, acc_wb, toi_bar):
    # vjp of vel_pre = v + (h + t) acc / 2 (and ang_vel_pre) of body i, cotangent (vb, wb) (3,)
    t = d.body_toi[i]
    for j in range(3):
        a.vel_bar[i, j] += vb[j]
        a.ang_vel_bar[i, j] += wb[j]
        toi_bar[i] += 0.5 * (vb[j] * acc_v[i, j] + wb[j] * acc_w[i, j])
        acc_vb[i, j] += 0.5 * (h + t) * vb[j]
        acc_wb[i, j] += 0.5 * (h + t) * wb[j]


@jit
def _refresh_vjp(m, d, a, k0, n, h, kink, geom0, P, acc_v, acc_w, acc_vb, acc_wb, t_bar, toi_bar):
    """vjp of _refresh_at_impact for the pair of contacts k0 .. k0 + n - 1: their geometry and
    Jacobians at the impact poses x + t v_pre, Exp(t w_pre) R (t = d.con_toi[src], src the
    contact whose impact time they were taken at) -> those poses -> t (into t_bar[src]), the
    start poses and the pre-impact velocities. Then puts the start-of-step geometry back into
    d (and P's poses), for the impact time's own vjp."""
    cx, cR, cx_bar, cR_bar, tb = P
    ka, kb = d.con_body[k0, 0], d.con_body[k0, 1]
    src = d.con_refresh_src[k0]
    for k in range(k0, k0 + n):
        frame_to_normal(d, a, k, tb[k])
        tb[k] = 0.0
    xb = np.zeros((2, 3))
    Rb = np.zeros((2, 3, 3))
    margin = m.opt_margin + d.body_spec[ka] + d.body_spec[kb]
    collide_vjp(m.geom_type[ka], m.geom_type[kb], cx[k0, 0], cR[k0, 0], m.geom_size[ka],
                cx[k0, 1], cR[k0, 1], m.geom_size[kb], margin, k0, a.con_dist_bar,
                a.con_normal_bar, a.con_pos_bar, kink, xb[0], Rb[0], xb[1], Rb[1])
    for k in range(k0, k0 + n):
        a.con_dist_bar[k] = 0.0
        a.con_normal_bar[k] = 0.0
        a.con_pos_bar[k] = 0.0
    t = d.con_toi[src]
    th = np.empty(3)
    vb = np.empty(3)
    wb = np.zeros(3)
    for s in range(2):
        i = d.con_body[k0, s]
        th[:] = 0.0
        wb[:] = 0.0
        for k in range(k0, k0 + n):
            for j in range(3):
                xb[s, j] += cx_bar[k, s, j]
                for c in range(3):
                    Rb[s, j, c] += cR_bar[k, s, j, c]
            cx_bar[k, s] = 0.0
            cR_bar[k, s] = 0.0
        # x' = x + t v_pre
        for j in range(3):
            a.pos_bar[i, j] += xb[s, j]
            t_bar[src] += xb[s, j] * d.vel_pre[i, j]
            vb[j] = t * xb[s, j]
        # R' = Exp(t w_pre) R
        rot_bar_to_twist(cR[k0, s], Rb[s], th)
        for j in range(3):
            t_bar[src] += th[j] * d.ang_vel_pre[i, j]
        quat_integrate_vjp(d.ang_vel_pre[i], t, th, wb)
        for j in range(3):
            a.th_bar[i, j] += th[j]
        _vel_pre_vjp(m, d, a, i, h, vb, wb, acc_v, acc_w, acc_vb, acc_wb, toi_bar)
        for k in range(k0, k0 + n):
            cx[k, s] = d.pos[i]
            cR[k, s] = d.xmat[i]
    dist0, normal0, pos0 = geom0
    for k in range(k0, k0 + n):
        d.con_dist[k] = dist0[k]
        d.con_normal[k] = normal0[k]
        d.con_pos[k] = pos0[k]
        tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
        contact_jacobian(m, d, k, d.pos[ka], d.xmat[ka], d.pos[kb], d.xmat[kb])


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
    between two moving bodies refreshes its contact's at the impact poses); vpre_bar ..
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
    for i in range(nb):
        hit[i] = d.body_toi[i] >= 0.0
    cx, cR, cx_bar, cR_bar = contact_poses(d, nc)
    tb = np.zeros((nc, 3, 3))
    P = (cx, cR, cx_bar, cR_bar, tb)
    src = d.con_refresh_src
    q = np.empty(4)
    for k in range(nc):
        if src[k] >= 0:  # its geometry and Jacobian were taken at the impact poses
            for s in range(2):
                impact_pose(d, d.con_body[k, s], d.con_toi[src[k]], cx[k, s], q, cR[k, s])
        p = d.con_phase[k]
        if p < 0 or not m.hard_toi:
            continue
        for s in range(2):
            i = d.con_body[k, s]
            if hit[i] and (body_phase[i] < 0 or p < body_phase[i]):
                body_phase[i] = p
    acc_v = np.empty((nb, 3))
    acc_w = np.empty((nb, 3))
    for i in range(nb):
        for j in range(3):
            acc_v[i, j] = (Vstar[i, j] - d.vel[i, j]) / h
            acc_w[i, j] = (Wstar[i, j] - d.ang_vel[i, j]) / h
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
            _vel_pre_vjp(m, d, a, i, h, vpre_bar[i], wpre_bar[i], acc_v, acc_w, acc_vb, acc_wb,
                         toi_bar)
    b_bar = np.zeros(nc)
    t_bar = np.zeros(nc)  # cotangents of the contacts' impact times d.con_toi
    sel = np.arange(nc)
    lam = d.con_lam_phase
    # resting solve: b = phi / h (gap) or beta phi / h (penetration); after an impact at t,
    # b = f(gap) / (h - tc) + tc a_n / 2 with gap = phi + tc u_n(mean velocity before it)
    no_lam_bar = np.zeros((nc, 3))
    _fixed_point_vjp(m, d, a, sel, nc, d.con_bias, lam, V, W, Vb, Wb, no_lam_bar, kink, P, b_bar)
    undo_impulses(d, sel, nc, lam, V, W)
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
    for k in range(nc):
        phi = d.con_dist[k]
        ka, kb = d.con_body[k, 0], d.con_body[k, 1]
        if not (hit[ka] or hit[kb]):
            a.con_dist_bar[k] += b_bar[k] * _ramp_slope_at(
                phi, _penetration_slope(m, phi, h, kink), 1.0 / h, kink)
            continue
        ta = d.body_toi[ka] if hit[ka] else 0.0
        tbb = d.body_toi[kb] if hit[kb] else 0.0
        tc = max(ta, tbb)
        t_geom = d.con_toi[src[k]] if src[k] >= 0 else 0.0
        contact_velocity(d, k, Vm, Wm, u)
        gap = phi + (tc - t_geom) * u[0]
        un_m = u[0]
        contact_velocity(d, k, acc_v, acc_w, u)
        rest = max(h - tc, 1e-12 * h)
        gap_bar = b_bar[k] * _ramp_slope_at(gap, _penetration_slope(m, gap, h, kink),
                                            1.0 / rest, kink)
        tc_bar = gap_bar * un_m + 0.5 * b_bar[k] * u[0]
        if gap > 0.0 and h - tc > 1e-12 * h:
            tc_bar += b_bar[k] * gap / (rest * rest)
        a.con_dist_bar[k] += gap_bar
        if src[k] >= 0:
            t_bar[src[k]] -= gap_bar * un_m
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
            _vel_pre_vjp(m, d, a, i, h, Vmb[i], Wmb[i], acc_v, acc_w, acc_vb, acc_wb, toi_bar)
            # the re-staggering V += (h / 2 - t) acc after the impact phases
            toi_bar[i] -= _dot6(i, acc_v, acc_w, Vb, Wb)
            _add_scaled(i, 0.5 * h - t, Vb, Wb, acc_vb, acc_wb)
            _add_scaled(i, -(0.5 * h - t), acc_v, acc_w, V, W)
        else:
            _add_scaled(i, 1.0, Vmb, Wmb, Vb, Wb)
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
                bias0[k] = _penetration_part(m, d.con_dist[k], h)
            _fixed_point_vjp(m, d, a, sel, ns, bias0, lam0, V0, W0, V0b, W0b, lam0_bar, kink, P,
                             b0_bar)
            for s in range(ns):
                k = sel[s]
                a.con_dist_bar[k] += b0_bar[k] * _ramp_slope_at(
                    d.con_dist[k], _penetration_slope(m, d.con_dist[k], h, kink), 0.0, kink)
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
            bias[k] = d.con_e[k] * min(u[0], 0.0) + _penetration_part(m, d.con_dist[k], h)
        # (Newton's solve: Vb holds its velocities' cotangent, and then the pre-phase ones')
        _fixed_point_vjp(m, d, a, sel, ns, bias, lam_p, VN, WN, Vb, Wb, lam_bar, kink, P, b_bar)
        if alpha < 1.0:
            for i in range(nb):
                for j in range(3):
                    Vb[i, j] += Vpb[i, j]
                    Wb[i, j] += Wpb[i, j]
        for s in range(ns):
            k = sel[s]
            contact_velocity(d, k, Vp, Wp, u)
            a.con_e_bar[k] += b_bar[k] * min(u[0], 0.0)
            a.con_dist_bar[k] += b_bar[k] * _ramp_slope_at(
                d.con_dist[k], _penetration_slope(m, d.con_dist[k], h, kink), 0.0, kink)
            ubar[0] = b_bar[k] * d.con_e[k] * _ramp_slope_at(u[0], 1.0, 0.0, kink)
            contact_velocity_vjp(d, a, k, cx, Vp, Wp, ubar, Vb, Wb, tb[k], cx_bar)
        if m.hard_toi:
            k = 0
            while phase == 0 and k < nc:  # each refreshed pair, at its first contact
                n = 1
                while k + n < nc and src[k] >= 0 and src[k + n] == src[k]:
                    n += 1
                if src[k] >= 0:
                    _refresh_vjp(m, d, a, k, n, h, kink, geom0, P, acc_v, acc_w, acc_vb, acc_wb,
                                 t_bar, toi_bar)
                k += n
            # bodies first hit in this phase: V = v + (t + h/2) acc replaced their v*
            for i in range(nb):
                if body_phase[i] != phase:
                    continue
                t = d.body_toi[i]
                _add_scaled(i, 1.0, Vb, Wb, a.vel_bar, a.ang_vel_bar)
                toi_bar[i] += _dot6(i, acc_v, acc_w, Vb, Wb)
                _add_scaled(i, t + 0.5 * h, Vb, Wb, acc_vb, acc_wb)
                Vb[i, :] = 0.0
                Wb[i, :] = 0.0
                Vp[i, :] = Vstar[i]
                Wp[i, :] = Wstar[i]
            # t_i = min over the phase's contacts on body i of their times. Contacts tied with
            # the min (a level capsule's two ends: equal up to rounding) are a kink: the mean of
            # their derivatives, or the first / last of them (kink left / right)
            for i in range(nb):
                if body_phase[i] != phase or toi_bar[i] == 0.0:
                    continue
                nties, first, last = 0, -1, -1
                for s in range(ns):
                    k = sel[s]
                    if (d.con_body[k, 0] == i or d.con_body[k, 1] == i) and \
                            _tied(d.con_toi[k], d.body_toi[i], h):
                        nties += 1
                        last = k
                        if first < 0:
                            first = k
                for s in range(ns):
                    k = sel[s]
                    if (d.con_body[k, 0] == i or d.con_body[k, 1] == i) and \
                            _tied(d.con_toi[k], d.body_toi[i], h):
                        if kink == KINK_LEFT:
                            t_bar[k] += toi_bar[i] if k == first else 0.0
                        elif kink == KINK_RIGHT:
                            t_bar[k] += toi_bar[i] if k == last else 0.0
                        else:
                            t_bar[k] += toi_bar[i] / nties
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
                on_root = _tied(troot, tk, h)
                on_a = ha and _tied(d.body_toi[ka], tk, h)
                on_b = hb and _tied(d.body_toi[kb], tk, h)
                share = t_bar[k] / max((1 if on_root else 0) + (1 if on_a else 0)
                                       + (1 if on_b else 0), 1)
                if on_a:
                    toi_bar[ka] += share
                if on_b:
                    toi_bar[kb] += share
                if on_root:
                    phb, u0b, unb = _impact_time_vjp(d.con_dist[k], u0[0], u[0], h, share)
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
    for k in range(nc):
        frame_to_normal(d, a, k, tb[k])
    scatter_pose_bars(d, a, nc, cx_bar, cR_bar)
