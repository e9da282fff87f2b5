"""The hard contact solve: velocity-level complementarity with the isotropic Coulomb cone.

Per contact k, in its frame (n, t1, t2), with u the velocity of a relative to b at the point:
    u+ = A lambda + u*,   A = J M^-1 J^T + eps_k I   (eps_k tiny: redundant contacts solvable)
    0 <= lambda_n  _|_  u+_n + b_n >= 0
    |lambda_t| <= mu lambda_n, maximal dissipation (stick: u+_t = 0; slide: opposite to u+_t)
as the fixed point of the projection  lambda = P(lambda - R (A lambda + u* + b))  with R a
positive diagonal (1 / A_nn for the normal; one scalar per contact for the tangent disk, which
keeps the disk projection equivalent to maximal dissipation). Each solve splits into islands
(contacts coupled through dynamic bodies), solved one by one: projected Gauss-Seidel over body
velocities (accelerated by nonsmooth nonlinear conjugate gradients), then, for an island that is
small, semismooth Newton on the same fixed point, so the residual reaches rounding level; a large
island where Gauss-Seidel stalls gets the same Newton with its steps solved through the bodies
(body_space.py), and Gauss-Seidel goes on where that does not converge. The
adjoint differentiates this fixed point (fixed_point_vjp). The model around the solves (impact
phases, restitution, the resting solve) is hard.py.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.body_space import affordable, solve as solve_bodies
from simcore.kernels.consts import KINK_LEFT, KINK_RIGHT
from simcore.kernels.contact_space import (TORQUE_REG, active_transposed_solve, add_impulse,
                                           apply_contact_impulse, body_vector, contact_eps,
                                           contact_u, contact_velocity, contacts_in,
                                           dense_delassus, dense_transposed, impulse_rhs,
                                           impulse_vjp, islands, trace_vjp, velocity,
                                           velocity_vjp)
from simcore.kernels.factors import MEMO_SOLVE, memo_find, memo_keep, memo_key
from simcore.kernels.linalg import solve_dense, solve_or_lstsq
from simcore.kernels.rolling import (disc, disc_slope, torque_box, torque_box_jacobian_side,
                                     torque_coefficients_vjp, torque_trace_vjp,
                                     torque_velocity_vjp)

NEWTON_STALL = 8  # full Newton steps without a new best before backtracking

BODY_NEWTON_STALL = 2  # the same through the bodies, where Newton then stops (a step is dearer)

EXTRA_SWEEPS = 8  # single Gauss-Seidel sweeps tried before Newton (see _sweep_island)

CONTINUATION_REG = 1e-6  # the nearby problem a stalled polish is solved on first (_continuation)

# the relative residual at which a Newton step solved through the bodies is taken (inexact
# Newton: each step still cuts the residual by about this factor)
NEWTON_ACCEPT = 1e-6

PGS_CHUNK = 50  # on a large island, Gauss-Seidel sweeps between checks of its progress
STALL_GAIN = 0.01  # a chunk that cuts the residual by less is a stall (_polish_large_island)

PGS_STOP = 1e-14  # a relative residual that ends Gauss-Seidel (a decade below Newton's start)
# ... as does one at most this (what the island solves take as converged) that the sweeps
# since the last check did not halve
PGS_FLOOR = 1e-13

# a larger island whose solve would fail is given dense Newton up to this many contacts
# (_rescue; a system of 3 x 512 unknowns)
RESCUE_MAX_CONTACTS = 512

MAX_COUPLED = 100  # passes of _coupled_transposed_solve at most


@jit(inline="always")
def _cone(zn, z1, z2, mu):
    # P(z): z projected onto the friction cone (normal clamped at zero, tangent at mu P_n)
    pn = zn if zn > 0.0 else 0.0
    t1, t2 = disc(z1, z2, mu * pn)
    return pn, t1, t2


@jit(inline="always")
def _fixed_point_z(lam, u, A, eps, bn, out):
    # out[3:6] = z = lam - R (u + eps lam + b) of one entry, given its current velocity u
    # (= A lam + u*, without eps)
    rn = 1.0 / (A[0, 0] + eps)
    rt = 2.0 / (A[1, 1] + A[2, 2] + 2.0 * eps)
    out[3] = lam[0] - rn * (u[0] + eps * lam[0] + bn)
    out[4] = lam[1] - rt * (u[1] + eps * lam[1])
    out[5] = lam[2] - rt * (u[2] + eps * lam[2])


@jit
def project(lam, u, A, eps, bn, mu, out):
    # out = P(lam - R (u + eps lam + b)): the fixed-point map of one contact, given its current
    # velocity u (= A lam + u*, without eps). Returns z (3,) through out[3:6] for the Jacobian.
    _fixed_point_z(lam, u, A, eps, bn, out)
    out[0], out[1], out[2] = _cone(out[3], out[4], out[5], mu)


@jit(inline="always")
def _project_scalars(lam, k, u0, u1, u2, rn, rt, ep, bias, mu, parent, resist):
    # project() on scalars: P(lam - R (u + eps lam + b)) of entry k, a contact or a torque
    # block (parent[k] >= 0 its contact; its bounds from that contact's normal impulse)
    l0, l1, l2 = lam[k, 0], lam[k, 1], lam[k, 2]
    z0 = l0 - rn * (u0 + ep * l0 + bias[k])
    z1 = l1 - rt * (u1 + ep * l1)
    z2 = l2 - rt * (u2 + ep * l2)
    q = parent[k]
    if q < 0:
        return _cone(z0, z1, z2, mu[k])
    ln = max(lam[q, 0], 0.0)
    return torque_box(z0, z1, z2, resist[k, 0] * ln, resist[k, 1] * ln)


@jit(inline="always")
def _bounds(d, lam, k):
    # torque block k's bounds (mu_t lambda_n, mu_r lambda_n), lambda_n its contact's normal
    # impulse
    ln = max(lam[d.con_parent[k], 0], 0.0)
    return d.con_resist[k, 0] * ln, d.con_resist[k, 1] * ln


@jit
def _project_torque(lam, u, A, eps, bt, br, out):
    # project() of a torque block with bounds bt, br (no bias)
    _fixed_point_z(lam, u, A, eps, 0.0, out)
    out[0], out[1], out[2] = torque_box(out[3], out[4], out[5], bt, br)


@jit(inline="always")
def fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg):
    # |lam - P(lam - R (A lam + c))| / R over the selected contacts: the residual in velocity
    # units (for an active normal it is exactly the violation of u+_n + b_n = 0), relative to the
    # solve's velocity scale: the velocity changes its impulses make, |u|, |b| (floor 1e-9 m/s).
    # Velocity units, because redundant contacts leave the split of impulses ill-determined (to
    # 1 / eps) while the velocities are not.
    # (reg: the regularization, m.hard_regularization but where _continuation solves a nearby
    # problem)
    return _residual(reg, d.con_A, d.con_J, d.con_body, d.con_mu, d.con_parent, d.con_resist, sel,
                     nsel, bias, lam, V, W)


@jit
def _residual(reg, A, J, body, mu, parent, resist, sel, nsel, bias, lam, V, W):
    # fixed_point_residual on the arrays it reads (reg = m.hard_regularization; A, J, body,
    # mu = d.con_A, con_J, con_body, con_mu). Functions called per contact are inlined; this
    # one and _pgs, called per island, are not: one compiled copy each instead of one per
    # caller cut the first hard rollout's compile by a quarter (benchmarks/compile_time.py),
    # and the piles' rates did not change (benchmarks/throughput.py)
    worst = 0.0
    scale = 1e-9
    for s in range(nsel):
        k = sel[s]
        u0, u1, u2 = contact_u(J, body, k, V, W)
        eps = contact_eps(reg, A, parent, k)
        an = A[k, 0, 0] + eps
        at = 0.5 * (A[k, 1, 1] + A[k, 2, 2]) + eps
        l0, l1, l2 = lam[k, 0], lam[k, 1], lam[k, 2]
        p0, p1, p2 = _project_scalars(lam, k, u0, u1, u2, 1.0 / an, 1.0 / at, eps, bias, mu,
                                      parent, resist)
        worst = max(worst, abs(l0 - p0) * an, abs(l1 - p1) * at, abs(l2 - p2) * at)
        scale = max(scale, abs(u0) + abs(bias[k]), abs(u1), abs(u2), an * abs(l0),
                    at * abs(l1), at * abs(l2))
    return worst / scale


@jit(inline="always")
def pgs(m, d, sel, nsel, bias, lam, V, W, tol, maxit):
    return _pgs(m.hard_regularization, d.con_A, d.con_J, d.con_MJ, d.con_body, d.con_mu,
                d.con_parent, d.con_resist, sel, nsel, bias, lam, V, W, tol, maxit)


@jit
def _pgs(reg, A, J, MJ, body, mu, parent, resist, sel, nsel, bias, lam, V, W, tol, maxit):
    # projected Gauss-Seidel over the selected contacts, impulses applied to V, W as they change,
    # until the largest impulse change of a sweep is below tol times the largest impulse or the
    # relative residual below PGS_STOP, or at most PGS_FLOOR and no longer falling (rounding's
    # floor, which grows with the island: a row of cubes resting side by side can stay above
    # PGS_STOP from the warm start on, while each sweep still moves the split of a face's weight
    # over its corners by about eps), at most maxit sweeps; returns the sweeps done. Accelerated
    # by nonsmooth nonlinear conjugate gradients (Silcowitz, Niebe, Erleben 2010): before each sweep
    # the impulses move by beta p, with r the last sweep's change, p <- r + beta p and beta = |r|^2
    # / |r_prev|^2 (restart at 0 when beta > 1). The result is always a sweep's, so it lies in the
    # cones; the fixed point is PGS's own. The sweep is written on scalars and whole arrays
    # (arguments as for _residual, MJ = d.con_MJ): array views are slow in this inner loop.
    dl = np.empty(3)
    r = np.empty((nsel, 3))
    p = np.zeros((nsel, 3))
    rn = np.empty(nsel)
    rt = np.empty(nsel)
    ep = np.empty(nsel)
    for s in range(nsel):
        k = sel[s]
        ep[s] = contact_eps(reg, A, parent, k)
        rn[s] = 1.0 / (A[k, 0, 0] + ep[s])
        rt[s] = 2.0 / (A[k, 1, 1] + A[k, 2, 2] + 2.0 * ep[s])
    r2_prev = 0.0
    beta = 0.0
    res_prev = np.inf
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
            pn, z1, z2 = _project_scalars(lam, k, u0, u1, u2, rn[s], rt[s], ep[s], bias, mu,
                                          parent, resist)
            d0, d1, d2 = pn - l0, z1 - l1, z2 - l2
            lam[k, 0], lam[k, 1], lam[k, 2] = pn, z1, z2
            r[s, 0], r[s, 1], r[s, 2] = d0, d1, d2
            r2 += d0 * d0 + d1 * d1 + d2 * d2
            change = max(change, abs(d0), abs(d1), abs(d2))
            size = max(size, pn, abs(z1), abs(z2))
            add_impulse(MJ, body, k, d0, d1, d2, V, W)
        if change <= tol * size or change < 1e-300:
            return it + 1
        # at sweeps 1, 2, 4, 8, ...: the fixed point's own residual (velocity units) may be at
        # rounding while the impulse change is not small against impulses near zero (bodies
        # touching in free fall)
        if (it + 1) & it == 0:
            res = _residual(reg, A, J, body, mu, parent, resist, sel, nsel, bias, lam, V, W)
            if res <= PGS_STOP or (res <= PGS_FLOOR and res > 0.5 * res_prev):
                return it + 1
            res_prev = res
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
    projection_jacobian_side(z, mu, np.bool_(False), dP)


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
        e1, e2 = disc_slope(z1, z2, zt, radius, dP)
        dP[1, 0] = mu * dn * e1
        dP[2, 0] = mu * dn * e2
    else:
        dP[1, 1] = 1.0
        dP[2, 2] = 1.0


@jit
def newton_polish(m, d, sel, nsel, bias, lam, V, W, reg, dense_limit):
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
    # Islands of at most dense_limit contacts take dense steps, larger ones steps through the
    # bodies and no second start.
    lam0 = np.empty((nsel, 3))
    for p in range(nsel):
        lam0[p, :] = lam[sel[p]]
    res = _newton(m, d, sel, nsel, bias, lam, V, W, np.bool_(False), reg, dense_limit)
    if res <= 1e-13 or contacts_in(d, sel, nsel) > dense_limit:
        return res
    lam1 = np.empty((nsel, 3))
    for p in range(nsel):
        lam1[p, :] = lam[sel[p]]
    _set_impulses(d, sel, nsel, lam0, lam, V, W)
    res2 = _newton(m, d, sel, nsel, bias, lam, V, W, np.bool_(True), reg, dense_limit)
    if res2 <= res:
        return res2
    _set_impulses(d, sel, nsel, lam1, lam, V, W)
    return res


@jit
def _newton(m, d, sel, nsel, bias, lam, V, W, cones, reg, dense_limit):
    # newton_polish's iteration; cones: project each iterate onto the friction cones. After
    # NEWTON_STALL full steps without a new best, back to the best impulses and backtrack
    # (through the bodies: BODY_NEWTON_STALL steps, then stop).
    n3 = 3 * nsel
    # the Newton system JG = I - dP + dP R (A + eps I): dense up to dense_limit contacts, else
    # per contact F_l = I - dP + eps dP R and F_u = dP R, solved through the
    # island's bodies (body_space.solve)
    dense = contacts_in(d, sel, nsel) <= dense_limit
    stall_limit = NEWTON_STALL if dense else BODY_NEWTON_STALL
    nd = n3 if dense else 0
    A = np.empty((nd, nd))
    JG = np.empty((nd, nd))
    if dense:
        dense_delassus(m, d, sel, nsel, A, reg)
    Fl = np.empty((0 if dense else nsel, 3, 3))
    Fu = np.empty((0 if dense else nsel, 3, 3))
    G = np.empty(n3)
    u = np.empty(3)
    out = np.empty(6)
    dP = np.empty((3, 3))
    dl = np.empty(3)
    trial = np.empty(3)
    lam_old = np.empty((nsel, 3))
    lam_best = np.empty((nsel, 3))
    # torque blocks: their bounds move with their contact's normal impulse, a column of JG
    # outside their block (where[k]: entry k's position in sel; through the bodies that column
    # is left out, an inexact Newton step)
    db = np.empty(3)
    where = np.empty(0, dtype=np.int64)
    for p in range(nsel):
        if d.con_parent[sel[p]] >= 0:
            where = np.full(lam.shape[0], -1, dtype=np.int64)
            for q in range(nsel):
                where[sel[q]] = q
            break
    res = fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg)
    best = res
    for p in range(nsel):
        lam_best[p, :] = lam[sel[p]]
    stall = 0
    for _ in range(40):
        if res < (1e-15 if dense else 1e-14):  # (through the bodies a step is a factorization)
            break
        JG[:, :] = 0.0
        for p in range(nsel):
            k = sel[p]
            contact_velocity(d, k, V, W, u)
            Ak = d.con_A[k]
            eps = contact_eps(reg, d.con_A, d.con_parent, k)
            q = d.con_parent[k]
            if q < 0:
                project(lam[k], u, Ak, eps, bias[k], d.con_mu[k], out)
                projection_jacobian(out[3:], d.con_mu[k], dP)
            else:
                bt, br = _bounds(d, lam, k)
                _project_torque(lam[k], u, Ak, eps, bt, br, out)
                torque_box_jacobian_side(out[3:], bt, br, np.bool_(False), dP, db)
                if dense and where[q] >= 0 and lam[q, 0] > 0.0:  # G_k = lam_k - P(z_k; b(lam_q))
                    for b in range(3):
                        JG[3 * p + b, 3 * where[q]] -= db[b] * d.con_resist[k, min(b, 1)]
            for j in range(3):  # -G, the Newton system's right-hand side
                G[3 * p + j] = out[j] - lam[k, j]
            rn = 1.0 / (Ak[0, 0] + eps)
            rt = 2.0 / (Ak[1, 1] + Ak[2, 2] + 2.0 * eps)
            # dz/dlam = I - R (A + eps I) (eps already on A's diagonal)
            for a in range(3):
                r = rn if a == 0 else rt
                if not dense:
                    for b in range(3):
                        Fu[p, b, a] = dP[b, a] * r
                        Fl[p, b, a] = (1.0 if a == b else 0.0) - dP[b, a] * (1.0 - r * eps)
                    continue
                for col in range(n3):
                    dz = -r * A[3 * p + a, col]
                    if col == 3 * p + a:
                        dz += 1.0
                    for b in range(3):
                        JG[3 * p + b, col] -= dP[b, a] * dz
            if dense:
                for b in range(3):
                    JG[3 * p + b, 3 * p + b] += 1.0
        if dense:
            ok, step = solve_dense(JG, G)
        else:
            ok, step = solve_bodies(m, d, sel, nsel, Fl, Fu, G, np.empty(0), np.bool_(False),
                                    NEWTON_ACCEPT)
        if not ok:  # a singular Newton system: stop here (the residual says how far it got)
            break
        for p in range(nsel):
            lam_old[p, :] = lam[sel[p]]
        # full steps while they keep finding new bests; then halve until the residual drops
        alpha = 1.0
        tries = 1 if stall < stall_limit else 12
        improved = False
        for _ in range(tries):
            for p in range(nsel):
                k = sel[p]
                for j in range(3):
                    trial[j] = lam_old[p, j] + alpha * step[3 * p + j]
                if cones and d.con_parent[k] < 0:
                    _project_cone(trial, d.con_mu[k])
                elif cones:  # (its contact's trial impulse is set: it comes first in sel)
                    bt, br = _bounds(d, lam, k)
                    trial[0], trial[1], trial[2] = torque_box(trial[0], trial[1], trial[2], bt,
                                                              br)
                for j in range(3):
                    dl[j] = trial[j] - lam[k, j]
                    lam[k, j] = trial[j]
                apply_contact_impulse(d, k, dl, V, W)
            new = fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg)
            if new < res:
                improved = True
                break
            alpha *= 0.5
        if not improved and stall >= stall_limit:
            break
        res = new  # a full step is kept either way
        if res < best:
            best = res
            stall = 0
            for p in range(nsel):
                lam_best[p, :] = lam[sel[p]]
        else:
            stall += 1
            if stall == stall_limit:  # back to the best impulses, from there monotone
                _set_impulses(d, sel, nsel, lam_best, lam, V, W)
                res = best
                if not dense:  # (through the bodies: Gauss-Seidel goes on from there)
                    break
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
    # one complementarity solve over the selected contacts; returns the largest relative residual.
    # npair_con[k]: the contacts of contact k's body pair. A contact that starts separated (no
    # impulse, u_n + b_n > 0) and is its pair's only contact is left out, as its solution is most
    # often to stay so: it neither costs sweeps nor couples the islands of the others (a sphere
    # pile's speculative contacts are about a third of its contacts, and tie it into one island).
    # Once the others are solved, any of those it left out that they close (u_n + b_n < 0) is taken
    # in and its island solved again; the ones left out have lam = 0 with u_n + b_n >= 0, a solution
    # of their fixed point with no residual. (A pair with several contacts, a box's corners, keeps
    # them all: leaving out its separated corners doubled the failed solves of the 64-box pile.)
    if nsel == 0:
        return 0.0
    act = np.empty(nsel, dtype=np.int64)
    out = np.empty(nsel, dtype=np.int64)
    fresh = np.zeros(lam.shape[0], dtype=np.bool_)  # contacts whose island is not solved yet
    res = np.zeros(lam.shape[0])  # the relative residual of each contact's island
    nact = nout = np.int64(0)
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
    parent, resist = d.con_parent, d.con_resist
    for j in range(nis):
        n = start[j + 1] - start[j]
        todo = False
        for q in range(n):
            k = sel[order[start[j] + q]]
            sub[q] = k
            todo = todo or fresh[k]
        if not todo:
            continue
        # an island of at most m.opt_polish_max_contacts contacts: a few sweeps often converge;
        # else PGS has at least found the active set, and Newton finishes it (_polish_island).
        # A larger island: PGS to tolerance, with Newton through its bodies where PGS stalls and
        # their band is affordable (_polish_large_island; not with polish_max_contacts 0)
        ncon = contacts_in(d, sub, n)
        polish = ncon <= m.opt_polish_max_contacts
        large = (not polish and m.opt_polish_max_contacts > 0 and m.opt_max_iter > 2 * PGS_CHUNK
                 and affordable(m, d, sub, n))
        few = min(m.opt_max_iter, 50) if polish else PGS_CHUNK if large else m.opt_max_iter
        # from the impulses it has (the warm start); where that fails, once more from rest, and
        # the better of the two is kept (a ball held by its rolling resistance against a leaning
        # box: Newton stalled at 4e-6 from the previous step's impulses, reached 1e-16 from rest)
        keep = np.empty((0, 3))
        r = np.inf
        for attempt in range(2):
            if attempt == 1:
                keep = np.empty((n, 3))
                for q in range(n):
                    keep[q, :] = lam[sub[q]]
                _set_impulses(d, sub, n, np.zeros((n, 3)), lam, V, W)
            r_try, sweeps = _sweep_island(m.hard_regularization, A, J, MJ, body, mu, parent,
                                          resist, polish or large, few, m.hard_tol, sub, n, bias,
                                          lam, V, W)
            if polish and r_try > 1e-13:
                r_try = _polish_island(m, d, sub, n, bias, lam, V, W, sweeps < few)
            elif large and r_try > 1e-13 and sweeps == few:
                r_try = _polish_large_island(m, d, sub, n, bias, lam, V, W, r_try)
            if (r_try > m.opt_tol_fail and m.opt_polish_max_contacts > 0
                    and m.opt_polish_max_contacts < ncon <= RESCUE_MAX_CONTACTS):
                r_try = _rescue(m, d, sub, n, bias, lam, V, W, r_try)
            if attempt == 1 and not r_try < r:
                _set_impulses(d, sub, n, keep, lam, V, W)
                break
            r = r_try
            if r <= m.opt_tol_fail:
                break
        for q in range(n):
            fresh[sub[q]] = False
            res[sub[q]] = r


@jit(inline="always")
def _sweep_island(reg, A, J, MJ, body, mu, parent, resist, polish, few, tol, sel, nsel, bias,
                  lam, V, W):
    # PGS over an island to tol, at most `few` sweeps (arrays as for _pgs); returns (relative
    # residual, sweeps). An island to be polished that PGS converged by its impulse change, the
    # residual a little above rounding, gets a few single sweeps more: they usually end it, at
    # a fraction of a Newton step's dense factorisation. On arrays: a Model / Data tuple
    # argument can have every array it holds reference-counted
    sweeps = _pgs(reg, A, J, MJ, body, mu, parent, resist, sel, nsel, bias, lam, V, W, tol, few)
    res = _residual(reg, A, J, body, mu, parent, resist, sel, nsel, bias, lam, V, W)
    if polish and sweeps < few:
        for _ in range(EXTRA_SWEEPS):
            if res <= 1e-13:
                break
            _pgs(reg, A, J, MJ, body, mu, parent, resist, sel, nsel, bias, lam, V, W, 0.0,
                 np.int64(1))
            res = _residual(reg, A, J, body, mu, parent, resist, sel, nsel, bias, lam, V, W)
    return res, sweeps


@jit
def _polish_island(m, d, sel, nsel, bias, lam, V, W, converged):
    # Newton from PGS's active set; if it stalls and PGS had not converged (by its impulse
    # change), PGS to tolerance and Newton again; if that stalls too, _continuation. Returns
    # the relative residual
    res = newton_polish(m, d, sel, nsel, bias, lam, V, W, m.hard_regularization,
                        m.opt_polish_max_contacts)
    if res > 1e-13 and not converged:
        pgs(m, d, sel, nsel, bias, lam, V, W, m.hard_tol, m.opt_max_iter)
        res = newton_polish(m, d, sel, nsel, bias, lam, V, W, m.hard_regularization,
                            m.opt_polish_max_contacts)
    if res > 1e-13:
        res = _continuation(m, d, sel, nsel, bias, lam, V, W, res, m.opt_polish_max_contacts)
    return res


@jit
def _polish_large_island(m, d, sel, nsel, bias, lam, V, W, res):
    # an island too large for a dense Newton step but whose bodies' band is affordable, left
    # at the relative residual res by PGS_CHUNK sweeps. If the next PGS_CHUNK gain less than
    # STALL_GAIN, Gauss-Seidel is stalling (a layer of cubes a little apart on the ground: each
    # cube's four corners): Newton through the bodies, which finishes an island whose modes
    # PGS has found. Where its full steps keep changing modes (the same layer face to face, the
    # cubes pressed against each other: a step moves the impulses along the directions that eps
    # alone decides, and hundreds of contacts change mode) it stops at BODY_NEWTON_STALL steps
    # without a new best. Then, or if PGS was not stalling, PGS to tolerance from the best
    # impulses. Returns the relative residual
    reg = m.hard_regularization
    sweeps = pgs(m, d, sel, nsel, bias, lam, V, W, m.hard_tol, np.int64(PGS_CHUNK))
    new = fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg)
    if new <= 1e-13 or sweeps < PGS_CHUNK:
        return new
    if new > STALL_GAIN * res:
        new = newton_polish(m, d, sel, nsel, bias, lam, V, W, reg, m.opt_polish_max_contacts)
        if new <= 1e-13:
            return new
    pgs(m, d, sel, nsel, bias, lam, V, W, m.hard_tol, max(m.opt_max_iter - 2 * PGS_CHUNK, 0))
    return fixed_point_residual(m, d, sel, nsel, bias, lam, V, W, reg)


@jit
def _rescue(m, d, sel, nsel, bias, lam, V, W, res):
    # an island larger than the dense polish whose solve would fail (relative residual res):
    # dense Newton from where Gauss-Seidel left it, and if that fails too, its continuation.
    # Measured: a 462-contact island of the 512-sphere lattice pile where Gauss-Seidel stalled
    # at 8e-5 (still 5e-5 after 8,000 sweeps) ends at 2e-16 by Newton; on the 27-cube lattice
    # pile, islands of 150 to 270 contacts where Newton does not move are brought from 2e-6 to
    # 1e-7 by the continuation, others not below 1e-6. Keeps whichever impulses end lower
    keep = np.empty((nsel, 3))
    for p in range(nsel):
        keep[p, :] = lam[sel[p]]
    new = newton_polish(m, d, sel, nsel, bias, lam, V, W, m.hard_regularization,
                        RESCUE_MAX_CONTACTS)
    if new > m.opt_tol_fail:
        new = _continuation(m, d, sel, nsel, bias, lam, V, W, new, RESCUE_MAX_CONTACTS)
    if new < res:
        return new
    _set_impulses(d, sel, nsel, keep, lam, V, W)
    return res


@jit
def _continuation(m, d, sel, nsel, bias, lam, V, W, res, limit):
    # A stalled polish (relative residual res), again from the solution of the same problem
    # regularised by CONTINUATION_REG: there Gauss-Seidel and Newton find the active set that
    # the tiny regularization makes ill-posed (a box landing flat on four sliding corners, one
    # of which lifts, stalled at 3.3e-6 with 2,000 sweeps and converged with 20,000), and its
    # solution is close to the true one. Newton's steps are dense up to limit contacts. Keeps
    # whichever impulses end lower
    if m.hard_regularization >= CONTINUATION_REG:
        return res
    keep = np.empty((nsel, 3))
    for p in range(nsel):
        keep[p, :] = lam[sel[p]]
    _pgs(CONTINUATION_REG, d.con_A, d.con_J, d.con_MJ, d.con_body, d.con_mu, d.con_parent,
         d.con_resist, sel, nsel, bias, lam, V, W, m.hard_tol, m.opt_max_iter)
    newton_polish(m, d, sel, nsel, bias, lam, V, W, CONTINUATION_REG, limit)
    new = newton_polish(m, d, sel, nsel, bias, lam, V, W, m.hard_regularization, limit)
    if new < res:
        return new
    _set_impulses(d, sel, nsel, keep, lam, V, W)
    return res


# ----------------------------------------------------------------------------------------------
# Adjoint: implicit differentiation of each solve's fixed point G = lambda - P(z) = 0 at its
# solution, z = lambda - R (u + eps lambda + b), u = J V_out (contact_space.py for the layout).
# R does not move the solution (at a fixed point, u + eps lambda + b vanishes along every
# direction P is sensitive to); eps_k = hard_regularization tr(A_kk) / 3 does, through the contact's
# geometry and the masses (contact_space.delassus_trace_vjp).


@jit
def _linearize(m, d, sel, nsel, lam, V, W, bias, w_out, Fl, Fu, zs, wslide, db):
    # fixed_point_vjp's part that depends on the solution only (a memo's, per substep): per
    # selected contact, the blocks F_l, F_u of the fixed point's Jacobian, the projection's
    # argument z, the slide weight, and a torque block's bound derivatives db. Returns whether
    # torque blocks couple the system (db non-zero)
    u = np.empty(3)
    out = np.empty(6)
    dP = np.empty((3, 3))
    dP2 = np.empty((3, 3))
    Rd = np.empty(3)
    db1 = np.empty(3)
    db2 = np.empty(3)
    coupled = False
    # (the records' arrays read before the loops: simcore/_jit.py, records)
    J, body, con_A, parent, con_mu = d.con_J, d.con_body, d.con_A, d.con_parent, d.con_mu
    reg = m.hard_regularization
    for p in range(nsel):
        k = sel[p]
        velocity(J, body, k, V, W, u)
        A = con_A[k]
        eps = contact_eps(reg, con_A, parent, k)
        if parent[k] >= 0:
            bt, br = _bounds(d, lam, k)
            _project_torque(lam[k], u, A, eps, bt, br, out)
            for j in range(3):
                zs[p, j] = out[3 + j]
            torque_box_jacobian_side(zs[p], bt, br, np.bool_(False), dP, db1)
            torque_box_jacobian_side(zs[p], bt, br, np.bool_(True), dP2, db2)
            for j in range(3):
                db[p, j] = (1.0 - w_out) * db1[j] + w_out * db2[j]
                coupled = coupled or db[p, j] != 0.0
        else:
            mu = con_mu[k]
            project(lam[k], u, A, eps, bias[k], mu, out)
            for j in range(3):
                zs[p, j] = out[3 + j]
            # the one-sided Jacobians; they differ only at a kink (weakly active, on the cone)
            projection_jacobian_side(zs[p], mu, np.bool_(False), dP)
            projection_jacobian_side(zs[p], mu, np.bool_(True), dP2)
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
    return coupled


@jit(inline="always")
def _memo_views(blk, nsel):
    # _linearize's results as views of one block (a memo's): F_l, F_u, z, the slide weights,
    # db, then whether torque blocks couple (25 nsel + 1 floats)
    n9, n18, n21, n22 = 9 * nsel, 18 * nsel, 21 * nsel, 22 * nsel
    return (blk[:n9].reshape((nsel, 3, 3)), blk[n9:n18].reshape((nsel, 3, 3)),
            blk[n18:n21].reshape((nsel, 3)), blk[n21:n22], blk[n22:25 * nsel].reshape((nsel, 3)))


@jit
def fixed_point_vjp(m, d, a, sel, nsel, bias, lam, V, W, Vb, Wb, lam_bar, kink, P, b_bar,
                    slot):
    """vjp of one solve over the selected contacts: impulses lam[k], post-solve velocities V, W.

    in: Vb, Wb the cotangent of the post-solve velocities, lam_bar (ncon, 3) the impulses' own
    (where they are used beside the velocities); out: the pre-solve velocities' (in place).
    Accumulates the geometry (a.con_*_bar, the contact poses' and frames' cotangents in
    P = (cx, cR, cx_bar, cR_bar, tb)), a.con_mu_bar and the masses;
    b_bar[k] = the cotangent of the bias b_n of each selected contact. A torque block among them
    (rolling.torque_rows) adds its frame's cotangent to its contact's tb, and its coefficients',
    its orientations' and its inertias' to a.
    slot (>= 0): names this solve within its substep, for transition_kernel's rows, which keep
    its row-independent part (_linearize) and its factorizations under it (factors.py, memo);
    -1: none kept.
    """
    cx, cR, cx_bar, cR_bar, tb = P
    w_out = 0.0 if kink == KINK_LEFT else (1.0 if kink == KINK_RIGHT else 0.5)
    # F_l, F_u, z, the slide weights and, for torque blocks (rolling.torque_rows), the
    # derivative of each row in its own bound (db), which their contact's normal impulse sets:
    # _linearize's, or a memo's (read only)
    memo = d.fac_on[0] == 1 and slot >= 0
    key = memo_key(np.int64(MEMO_SOLVE), slot, sel, nsel)
    found, blk = memo_find(d, key, 25 * nsel + 1) if memo else (False, np.empty(0))
    if not found:
        blk = np.zeros(25 * nsel + 1)
    Fl, Fu, zs, wslide, db = _memo_views(blk, nsel)
    if not found:
        coupled = _linearize(m, d, sel, nsel, lam, V, W, bias, w_out, Fl, Fu, zs, wslide, db)
        blk[25 * nsel] = 1.0 if coupled else 0.0
        if memo:
            memo_keep(d, key, blk)
    coupled = blk[25 * nsel] != 0.0
    g = np.empty(3 * nsel)
    impulse_rhs(d, sel, nsel, Vb, Wb, g)
    from_bodies = True  # g = J M^-1 [Vb; Wb] (transposed_solve's g_bodies)
    for p in range(nsel):
        for j in range(3):
            g[3 * p + j] += lam_bar[sel[p], j]
            from_bodies = from_bodies and lam_bar[sel[p], j] == 0.0
    if memo:  # (the solves' factors kept under the slot: factors.py)
        d.fac_tag[0] = slot
    if coupled:
        y = _coupled_transposed_solve(m, d, sel, nsel, lam, Fl, Fu, g, db)
    else:
        y = active_transposed_solve(m, d, sel, nsel, Fl, Fu, g,
                                    body_vector(Vb, Wb) if from_bodies else np.empty(0))
    d.fac_tag[0] = -1
    c = np.empty(3)
    ubar = np.empty(3)
    # (the records' arrays read before the loops: simcore/_jit.py, records)
    body, parent, reg = d.con_body, d.con_parent, m.hard_regularization
    bkind, inertia = m.body_kind, m.body_inertia
    normal, t1, t2, cpos = d.con_normal, d.con_t1, d.con_t2, d.con_pos
    invmass_bar, inertia_bar, cpos_bar, mu_bar = (a.invmass_bar, a.inertia_bar, a.con_pos_bar,
                                                  a.con_mu_bar)
    for p in range(nsel):
        k = sel[p]
        for j in range(3):
            c[j] = -y[3 * p + j]
        for j in range(3):
            ubar[j] = Fu[p, 0, j] * c[0] + Fu[p, 1, j] * c[1] + Fu[p, 2, j] * c[2]
        if c[0] == 0.0 and c[1] == 0.0 and c[2] == 0.0:
            if parent[k] < 0:
                b_bar[k] = 0.0
            continue  # (everything below is linear in c: nothing to pass back)
        q = parent[k]
        if q >= 0:  # a torque block: eps from its trace, its bounds, its rows' velocity
            torque_trace_vjp(m, d, a, k, max(reg, TORQUE_REG) * (
                ubar[0] * lam[k, 0] + ubar[1] * lam[k, 1] + ubar[2] * lam[k, 2]) / 3.0)
            ln = max(lam[q, 0], 0.0)
            torque_coefficients_vjp(m, d, a, k, -c[0] * db[p, 0] * ln,
                                    -(c[1] * db[p, 1] + c[2] * db[p, 2]) * ln, kink)
            torque_velocity_vjp(d, k, W, ubar, Wb, tb[q])
            continue
        b_bar[k] = ubar[0]  # b enters z like u_n
        # eps lam enters z like u: eps_k = hard_regularization tr(A_kk) / 3 moves with the geometry
        eps_bar = ubar[0] * lam[k, 0] + ubar[1] * lam[k, 1] + ubar[2] * lam[k, 2]
        trace_vjp(bkind, inertia, body, cpos, invmass_bar, inertia_bar, cpos_bar, k, cx, cR,
                  reg * eps_bar / 3.0, cx_bar, cR_bar)
        if wslide[p] > 0.0:  # P_t = mu max(z_n, 0) z_t / |z_t|
            zt = np.sqrt(zs[p, 1] ** 2 + zs[p, 2] ** 2)
            mu_bar[k] -= (wslide[p] * max(zs[p, 0], 0.0)
                          * (c[1] * zs[p, 1] + c[2] * zs[p, 2]) / zt)
        velocity_vjp(normal, t1, t2, body, cpos, cpos_bar, k, cx, V, W, ubar[0], ubar[1], ubar[2],
                     Vb, Wb, tb, k, cx_bar)
    impulse_vjp(m, d, a, sel, nsel, lam, cx, cR, Vb, Wb, tb, cx_bar, cR_bar)


@jit
def _coupled_transposed_solve(m, d, sel, nsel, lam, Fl, Fu, g, db):
    """y with K^T y = g where torque blocks' bounds couple them to their contacts' normal
    impulses: K = K0 + C, K0 = F_l + F_u A (active_transposed_solve's), C[p, q_n] = -db_p mu_p
    for a torque block p at its bound and its contact q. Solved by iterating K0^T y = g - C^T y
    (exact at its fixed point, reached in one pass where the torques do not move the normal
    impulses, a ball on the ground, and converging at about mu_r / r per pass otherwise); where
    that does not reach rounding in MAX_COUPLED passes, or a pass changes y more than the one
    before it (diverging, or rounding's floor) or leaves it non-finite, K^T assembled densely."""
    pos = np.full(lam.shape[0], -1, dtype=np.int64)
    for p in range(nsel):
        pos[sel[p]] = p
    rhs = g.copy()
    y = active_transposed_solve(m, d, sel, nsel, Fl, Fu, rhs, np.empty(0))
    prev = np.inf
    for _ in range(MAX_COUPLED):
        for r in range(3 * nsel):
            rhs[r] = g[r]
        _coupling_add(d, sel, nsel, lam, db, pos, y, rhs, 1.0)
        y_new = active_transposed_solve(m, d, sel, nsel, Fl, Fu, rhs, np.empty(0))
        change = 0.0
        size = 0.0
        finite = True
        for r in range(3 * nsel):
            finite = finite and np.isfinite(y_new[r])
            change = max(change, abs(y_new[r] - y[r]))
            size = max(size, abs(y_new[r]))
        if not finite or change > prev:
            break
        y = y_new
        if change <= 1e-15 * size:
            return y
        prev = change
    KT = dense_transposed(m, d, sel, nsel, Fl, Fu)
    eye = np.zeros(3 * nsel)
    for r in range(3 * nsel):  # C^T's columns, one per row of the torque blocks
        eye[r] = 1.0
        _coupling_add(d, sel, nsel, lam, db, pos, eye, KT[:, r], -1.0)
        eye[r] = 0.0
    return solve_or_lstsq(KT, g)


@jit
def _coupling_add(d, sel, nsel, lam, db, pos, y, out, s):
    # out += s (-C^T y): each torque block's rows in their bounds, on its contact's normal row
    for p in range(nsel):
        k = sel[p]
        q = d.con_parent[k]
        if q < 0 or pos[q] < 0 or not lam[q, 0] > 0.0:
            continue
        out[3 * pos[q]] += s * (db[p, 0] * d.con_resist[k, 0] * y[3 * p]
                                + d.con_resist[k, 1] * (db[p, 1] * y[3 * p + 1]
                                                        + db[p, 2] * y[3 * p + 2]))
