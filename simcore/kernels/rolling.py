"""Rolling and torsional resistance: torque impulses at each contact, bounded by its normal impulse.

PenaltyContact and SmoothedContact end their step's contact solve with the stage below
(penalty.py, smoothed.py); HardContact solves the same bounded torques as unknowns of its
resting solve where a body pair touches at one contact (torque_rows, at the end of this file),
and ends that solve with the stage for pairs held by several contacts. Per contact k between
bodies a and b, with normal impulse lambda_n >= 0 (the model's own), the pair's coefficients
mu_t = max(torsional_a, torsional_b) and mu_r = max(rolling_a, rolling_b) (lengths, m:
MuJoCo's torsional and rolling friction, combined as MuJoCo combines them), and K = I_a^-1
+ I_b^-1 the pair's world inverse inertia at the step start (static sides: 0):

1. torsion, about the normal n: s = n . (w_a - w_b), the impulse that stops it
   tau_n* = -s / (n^T K n), applied clamped: tau_n = clamp(tau_n*, -mu_t lambda_n, mu_t lambda_n);
2. rolling, in the tangent plane E = [t1 t2]: r = E^T (w_a - w_b) after 1, the impulse that
   stops it tau* = -(E^T K E)^-1 r, applied within the disc |tau| <= mu_r lambda_n (scaled onto
   its edge when outside).

Torque impulse E tau goes to a (w_a += I_a^-1 E tau) and its opposite to b. Contacts are taken in
order, each with the velocities the ones before it left (Gauss-Seidel, one pass). Each part is
the scaled minimiser of the kinetic energy over its impulses, so it never adds energy; a body at
rest gets no torque, and a rolling ball decelerates at mu_r lambda_n per step over its
angular momentum about the contact (the sliding friction of the next solve keeps it rolling).
Like the other stages, the velocities' cotangents pass through exactly; at |tau*| equal to the
bound the slope takes the kink convention (DESIGN.md section 4).

Data.con_torque[k] keeps the world torque impulse on a, so the vjp can take the stage off the
end velocities contact by contact (like undo_impulses).
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import BODY_DYNAMIC
from simcore.kernels.kink import ramp_slope


@jit(inline="always")
def any_resistance(m):
    # whether any body has torsional or rolling friction (else the stage is skipped)
    for i in range(m.nbody):
        if m.body_torsional_friction[i] > 0.0 or m.body_rolling_friction[i] > 0.0:
            return True
    return False


@jit(inline="always")
def _coefficients(m, a, b):
    # the pair's (torsional, rolling) friction, MuJoCo's max per component
    return (max(m.body_torsional_friction[a], m.body_torsional_friction[b]),
            max(m.body_rolling_friction[a], m.body_rolling_friction[b]))


@jit
def _inverse_inertia(m, d, i, Kout):
    # I_i^-1 = R diag(1 / inertia) R^T in world axes (0 unless dynamic)
    Kout[:, :] = 0.0
    if m.body_kind[i] != BODY_DYNAMIC:
        return
    R = d.xmat[i]
    for p in range(3):
        for q in range(3):
            s = 0.0
            for j in range(3):
                s += R[p, j] * m.body_invinertia[i, j] * R[q, j]
            Kout[p, q] = s


@jit
def _frame(d, k, E):
    # E (3, 3): rows n, t1, t2 of contact k
    for j in range(3):
        E[0, j] = d.con_normal[k, j]
        E[1, j] = d.con_t1[k, j]
        E[2, j] = d.con_t2[k, j]


@jit
def _setup(m, d, lam, k, Ka, Kb, K, E):
    """Contact k's coefficients (mu_t, mu_r) and whether the stage acts on it (a normal
    impulse, a coefficient, a dynamic side, and no torque block of HardContact's solve, which
    then carries its torques: con_parent[k] <= -2, torque_rows); where it does, its bodies'
    inverse inertias Ka, Kb, their sum K and its frame E."""
    a, b = d.con_body[k, 0], d.con_body[k, 1]
    mu_t, mu_r = _coefficients(m, a, b)
    if not (lam[k, 0] > 0.0 and (mu_t > 0.0 or mu_r > 0.0)) or not (
            m.body_kind[a] == BODY_DYNAMIC or m.body_kind[b] == BODY_DYNAMIC) or (
            d.con_parent[k] <= -2):
        return False, mu_t, mu_r
    _inverse_inertia(m, d, a, Ka)
    _inverse_inertia(m, d, b, Kb)
    for p in range(3):
        for q in range(3):
            K[p, q] = Ka[p, q] + Kb[p, q]
    _frame(d, k, E)
    return True, mu_t, mu_r


@jit
def _reduced(E, r0, nr, K, Km):
    # Km = E_r^T K E_r over the rows r0 .. r0 + nr - 1 of E
    for i in range(nr):
        for j in range(nr):
            s = 0.0
            for p in range(3):
                for q in range(3):
                    s += E[r0 + i, p] * K[p, q] * E[r0 + j, q]
            Km[i, j] = s


@jit
def _solve_reduced(Km, nr, rhs, out):
    # out = Km^-1 rhs for a 1x1 or 2x2 symmetric positive Km
    if nr == 1:
        out[0] = rhs[0] / Km[0, 0]
    else:
        det = Km[0, 0] * Km[1, 1] - Km[0, 1] * Km[1, 0]
        out[0] = (Km[1, 1] * rhs[0] - Km[0, 1] * rhs[1]) / det
        out[1] = (Km[0, 0] * rhs[1] - Km[1, 0] * rhs[0]) / det


@jit
def _part(E, r0, nr, K, Ka, Kb, wa, wb, bound, x, Km, tstar, tau):
    """One part (torsion: row 0 of E; rolling: rows 1, 2) at the velocities wa, wb: the
    stopping impulse tstar, and tau, the one applied (bounded); applied to wa, wb in place.
    Returns |tstar| (the projection's switch is |tstar| = bound)."""
    for i in range(nr):
        s = 0.0
        for p in range(3):
            s += E[r0 + i, p] * (wa[p] - wb[p])
        x[i] = -s
    _reduced(E, r0, nr, K, Km)
    _solve_reduced(Km, nr, x, tstar)
    size = 0.0
    for i in range(nr):
        size += tstar[i] * tstar[i]
    size = np.sqrt(size)
    scale = 1.0 if size <= bound else bound / size
    for i in range(nr):
        tau[i] = scale * tstar[i]
    for p in range(3):
        g = 0.0
        for i in range(nr):
            g += E[r0 + i, p] * tau[i]
        for q in range(3):
            wa[q] += Ka[q, p] * g
            wb[q] -= Kb[q, p] * g
    return size


@jit
def resistance(m, d, lam, W):
    """Apply the stage to the angular velocities W (nbody, 3) in place, for the contacts
    0 .. ncon - 1 with normal impulses lam[:, 0]; sets d.con_torque."""
    nc = d.ncon[0]
    Ka, Kb, K = np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3))
    E, Km = np.empty((3, 3)), np.empty((2, 2))
    x, tstar, tau = np.empty(2), np.empty(2), np.empty(2)
    for k in range(nc):
        d.con_torque[k, :] = 0.0
        acts, mu_t, mu_r = _setup(m, d, lam, k, Ka, Kb, K, E)
        if not acts:
            continue
        a, b = d.con_body[k, 0], d.con_body[k, 1]
        for r0, nr, mu in ((0, 1, mu_t), (1, 2, mu_r)):
            if mu > 0.0:
                _part(E, r0, nr, K, Ka, Kb, W[a], W[b], mu * lam[k, 0], x, Km, tstar, tau)
                for i in range(nr):
                    for p in range(3):
                        d.con_torque[k, p] += E[r0 + i, p] * tau[i]


@jit
def _inverse_inertia_vjp(m, d, a, i, Kbar):
    # I^-1 = R D R^T, D = diag(1 / inertia): into a.R_bar[i] and a.inertia_bar[i]
    if m.body_kind[i] != BODY_DYNAMIC:
        return
    R = d.xmat[i]
    Dv = m.body_invinertia[i]
    for p in range(3):
        for j in range(3):
            s = 0.0
            for q in range(3):
                s += (Kbar[p, q] + Kbar[q, p]) * R[q, j]
            a.R_bar[i, p, j] += s * Dv[j]
    for j in range(3):
        s = 0.0
        for p in range(3):
            for q in range(3):
                s += R[p, j] * Kbar[p, q] * R[q, j]
        a.inertia_bar[i, j] -= s * Dv[j] * Dv[j]


@jit
def _part_vjp(E, r0, nr, K, Ka, Kb, wa, wb, bound, kink, wab, wbb, Eb, Kab, Kbb, x, Km, tstar,
              tau, tbar, sbar):
    """vjp of _part at the velocities wa, wb before it (wab, wbb: the cotangents after it, in
    place to before it); into the frame rows' cotangents Eb, Kab / Kbb (of I_a^-1, I_b^-1).
    Returns the bound's cotangent."""
    wa0, wb0 = wa.copy(), wb.copy()
    size = _part(E, r0, nr, K, Ka, Kb, wa0, wb0, bound, x, Km, tstar, tau)
    # applied: w_a += Ka E tau, w_b -= Kb E tau
    g = np.empty(3)
    v = np.zeros(3)
    for p in range(3):
        g[p] = 0.0
        for q in range(3):
            g[p] += Ka[p, q] * wab[q] - Kb[p, q] * wbb[q]
        for i in range(nr):
            v[p] += E[r0 + i, p] * tau[i]
    for i in range(nr):
        tbar[i] = 0.0
        for p in range(3):
            tbar[i] += E[r0 + i, p] * g[p]
            Eb[r0 + i, p] += g[p] * tau[i]
    for p in range(3):
        for q in range(3):
            Kab[p, q] += wab[p] * v[q]
            Kbb[p, q] -= wbb[p] * v[q]
    # tau = tstar inside the bound, bound tstar / |tstar| outside; at the switch the kink's mix
    bound_bar = 0.0
    if size > 0.0:
        inside = 1.0 - ramp_slope(size - bound, kink)
        proj = 0.0
        for i in range(nr):
            proj += tstar[i] * tbar[i]
        proj /= size
        bound_bar = (1.0 - inside) * proj
        for i in range(nr):
            # outside: d(bound u) / d tstar = bound / |tstar| (I - u u^T)
            sbar[i] = inside * tbar[i] + (1.0 - inside) * bound / size * (
                tbar[i] - proj * tstar[i] / size)
    else:  # tstar = 0 (no relative rotation): inside, unless the bound is 0 too
        for i in range(nr):
            sbar[i] = tbar[i] if bound > 0.0 else 0.0
    # tstar = Km^-1 x: x_bar = Km^-1 sbar (Km symmetric), Km_bar = -x_bar tstar^T
    xbar = np.empty(2)
    _solve_reduced(Km, nr, sbar, xbar)
    # x = -E_r^T (w_a - w_b)
    for i in range(nr):
        for p in range(3):
            wab[p] -= E[r0 + i, p] * xbar[i]
            wbb[p] += E[r0 + i, p] * xbar[i]
            Eb[r0 + i, p] -= (wa[p] - wb[p]) * xbar[i]
    # Km = E_r^T K E_r, K = Ka + Kb
    for i in range(nr):
        for j in range(nr):
            kb = -xbar[i] * tstar[j]
            for p in range(3):
                Ke = 0.0
                for q in range(3):
                    Ke += K[p, q] * E[r0 + j, q]
                    Kab[p, q] += kb * E[r0 + i, p] * E[r0 + j, q]
                    Kbb[p, q] += kb * E[r0 + i, p] * E[r0 + j, q]
                Eb[r0 + i, p] += kb * Ke  # d Km_ij / d e_i = K e_j, / d e_j = K e_i
            for p in range(3):
                Ke = 0.0
                for q in range(3):
                    Ke += K[p, q] * E[r0 + i, q]
                Eb[r0 + j, p] += kb * Ke
    return bound_bar


@jit
def resistance_vjp(m, d, a, lam, W, Wb, lam_bar, tb, kink):
    """vjp of resistance, after it ran (d.con_torque set): W (nbody, 3) holds the angular
    velocities after it and is taken back to those before it; Wb, their cotangent, likewise.
    Adds the normal impulses' cotangents to lam_bar[:, 0], the frames' to tb (ncon, 3, 3; rows
    n, t1, t2), and a.R_bar, a.inertia_bar, a.torsional_friction_bar, a.rolling_friction_bar."""
    nc = d.ncon[0]
    Ka, Kb, K = np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3))
    Kab, Kbb = np.empty((3, 3)), np.empty((3, 3))
    E, Km = np.empty((3, 3)), np.empty((2, 2))
    x, tstar, tau, tbar, sbar = np.empty(2), np.empty(2), np.empty(2), np.empty(2), np.empty(2)
    for k in range(nc - 1, -1, -1):
        acts, mu_t, mu_r = _setup(m, d, lam, k, Ka, Kb, K, E)
        if not acts:
            continue
        a_, b_ = d.con_body[k, 0], d.con_body[k, 1]
        lk = lam[k, 0]
        Kab[:, :] = 0.0
        Kbb[:, :] = 0.0
        for r0, nr, mu in ((1, 2, mu_r), (0, 1, mu_t)):  # rolling was applied last
            if not mu > 0.0:
                continue
            # take this part's torque impulse off: the velocities before it
            for p in range(3):
                g = 0.0
                for i in range(nr):
                    c = 0.0
                    for q in range(3):
                        c += E[r0 + i, q] * d.con_torque[k, q]
                    g += E[r0 + i, p] * c
                for q in range(3):
                    W[a_, q] -= Ka[q, p] * g
                    W[b_, q] += Kb[q, p] * g
            bound_bar = _part_vjp(E, r0, nr, K, Ka, Kb, W[a_], W[b_], mu * lk, kink, Wb[a_],
                                  Wb[b_], tb[k], Kab, Kbb, x, Km, tstar, tau, tbar, sbar)
            lam_bar[k, 0] += mu * bound_bar
            # mu = max over the pair (ties shared by the kink convention)
            w = ramp_slope((m.body_rolling_friction[a_] - m.body_rolling_friction[b_]) if
                           r0 == 1 else (m.body_torsional_friction[a_]
                                         - m.body_torsional_friction[b_]), kink)
            if r0 == 1:
                a.rolling_friction_bar[a_] += lk * bound_bar * w
                a.rolling_friction_bar[b_] += lk * bound_bar * (1.0 - w)
            else:
                a.torsional_friction_bar[a_] += lk * bound_bar * w
                a.torsional_friction_bar[b_] += lk * bound_bar * (1.0 - w)
        _inverse_inertia_vjp(m, d, a, a_, Kab)
        _inverse_inertia_vjp(m, d, a, b_, Kbb)


# ----------------------------------------------------------------------------------------------
# HardContact: the resisting torques as unknowns of its resting solve. Each body pair that
# touches at one contact (a sphere, a capsule's end, a corner) with torsional or rolling
# friction gets a block of three torque rows in the solve, after the contacts: rows (n, t1, t2)
# of the contact's frame on the relative angular velocity w_a - w_b, torque impulse tau on a
# (its opposite on b), projected onto |tau_0| <= mu_t lambda_n (torsion) and
# |(tau_1, tau_2)| <= mu_r lambda_n (rolling), lambda_n the contact's normal impulse in the same
# solve (hard_solver.py). A ball that only rolling resistance holds then stays at rest: the
# friction and the normal impulses are solved with the torque that holds it, which the stage
# above, run after the solve, cannot do. A pair held by several contacts (a box on its face, a
# capsule lying down) keeps the stage: there the contacts already hold some of the turning, so
# the blocks' rows repeat theirs, and the split between them was left to the regularisation
# alone (a box sliding and spinning on its face had per-step derivatives off by 8 to 16%).


@jit
def torque_rows(m, d, nc):
    """Appends the torque blocks of the body pairs that touch at one of the contacts 0 .. nc-1
    (with torsional or rolling friction and a dynamic side) at entries nc, nc + 1, ... of the
    solve's arrays: con_parent (the block's contact; for the contacts -1, and -2 - e for a
    contact whose block is entry e, which the stage then leaves alone), con_resist (mu_t,
    mu_r), con_body, con_bias (0), and J, MJ, A as a contact's (pure rotation rows; the inverse
    inertias at the step start, as the stage's). Returns their number, also in d.ntorque[0]."""
    parent, resist, body = d.con_parent, d.con_resist, d.con_body
    J, MJ, A, bias = d.con_J, d.con_MJ, d.con_A, d.con_bias
    for k in range(nc):
        parent[k] = -1
    nt = 0
    if not any_resistance(m):
        d.ntorque[0] = 0
        return 0
    E = np.empty((3, 3))
    Ka, Kb = np.empty((3, 3)), np.empty((3, 3))
    k = 0
    while k < nc:
        k0 = k
        a, b = body[k, 0], body[k, 1]
        while k < nc and body[k, 0] == a and body[k, 1] == b:
            k += 1
        mu_t, mu_r = _coefficients(m, a, b)
        if k - k0 > 1 or not (mu_t > 0.0 or mu_r > 0.0) or not (
                m.body_kind[a] == BODY_DYNAMIC or m.body_kind[b] == BODY_DYNAMIC):
            continue
        e = nc + nt
        if e >= J.shape[0]:  # (make_data gives them room when the model has these frictions)
            raise ValueError("torque_rows: no room for the torque blocks; make the Data with "
                             "this model (make_data)")
        nt += 1
        parent[e] = k0
        parent[k0] = -2 - e
        resist[e, 0] = mu_t
        resist[e, 1] = mu_r
        body[e, 0] = a
        body[e, 1] = b
        bias[e] = 0.0
        _frame(d, k0, E)
        _inverse_inertia(m, d, a, Ka)
        _inverse_inertia(m, d, b, Kb)
        for s in range(2):
            sign = 1.0 if s == 0 else -1.0
            K = Ka if s == 0 else Kb
            for row in range(3):
                for j in range(3):
                    J[e, s, row, j] = 0.0
                    J[e, s, row, 3 + j] = sign * E[row, j]
                    MJ[e, s, j, row] = 0.0
                    acc = 0.0
                    for q in range(3):
                        acc += K[j, q] * E[row, q]
                    MJ[e, s, 3 + j, row] = sign * acc
        for p in range(3):
            for q in range(3):
                acc = 0.0
                for j in range(3):
                    for c in range(3):
                        acc += E[p, j] * (Ka[j, c] + Kb[j, c]) * E[q, c]
                A[e, p, q] = acc
    d.ntorque[0] = nt
    return nt


@jit(inline="always")
def disc(z1, z2, radius):
    # (z1, z2) scaled onto the disc of the radius where it lies outside (the friction cone's
    # tangent part, hard_solver._cone, and the rolling part of a torque block)
    zt = np.sqrt(z1 * z1 + z2 * z2)
    if zt > radius:
        scale = radius / zt if zt > 0.0 else 0.0
        return z1 * scale, z2 * scale
    return z1, z2


@jit(inline="always")
def disc_slope(z1, z2, zt, radius, dP):
    # disc's Jacobian at (z1, z2) outside the disc, zt = |(z1, z2)| > 0: into dP[1:3, 1:3];
    # returns the direction (e1, e2) = (z1, z2) / zt (the slope in the radius)
    e1, e2 = z1 / zt, z2 / zt
    c = radius / zt
    dP[1, 1] = c * (1.0 - e1 * e1)
    dP[1, 2] = -c * e1 * e2
    dP[2, 1] = -c * e2 * e1
    dP[2, 2] = c * (1.0 - e2 * e2)
    return e1, e2


@jit(inline="always")
def torque_box(z0, z1, z2, bt, br):
    # a torque block's projection: torsion clamped to [-bt, bt], rolling onto the disc of
    # radius br (bt = mu_t lambda_n, br = mu_r lambda_n)
    p1, p2 = disc(z1, z2, br)
    return min(max(z0, -bt), bt), p1, p2


@jit
def torque_box_jacobian_side(z, bt, br, outside, dP, db):
    """dP (3, 3) = d torque_box / dz at z and db (3,) its derivative in each row's own bound
    (row 0 in bt, rows 1, 2 in br). At the switch (|z_0| = bt, |z_t| = br) the slope from the
    inside (outside False) or the outside, as the cone's (hard_solver.projection_jacobian_side);
    a bound of 0 makes its rows 0 all around."""
    dP[:, :] = 0.0
    db[:] = 0.0
    z0 = z[0]
    if bt > 0.0 and (abs(z0) < bt or (abs(z0) == bt and not outside)):
        dP[0, 0] = 1.0
    elif z0 != 0.0:
        db[0] = 1.0 if z0 > 0.0 else -1.0
    z1, z2 = z[1], z[2]
    zt = np.sqrt(z1 * z1 + z2 * z2)
    if br > 0.0 and (zt < br or (zt == br and not outside)):
        dP[1, 1] = 1.0
        dP[2, 2] = 1.0
    elif zt > 0.0:
        db[1], db[2] = disc_slope(z1, z2, zt, br, dP)


@jit
def torque_velocity_vjp(d, e, W, ubar, Wb, tb):
    # vjp of u = E (w_a - w_b) of torque block e at the angular velocities W: into Wb and its
    # contact's frame rows' cotangent tb (3, 3) (rows n, t1, t2)
    k = d.con_parent[e]
    a, b = d.con_body[e, 0], d.con_body[e, 1]
    for j in range(3):
        g = (ubar[0] * d.con_normal[k, j] + ubar[1] * d.con_t1[k, j]
             + ubar[2] * d.con_t2[k, j])
        Wb[a, j] += g
        Wb[b, j] -= g
        for row in range(3):
            tb[row, j] += ubar[row] * (W[a, j] - W[b, j])


@jit
def torque_impulse_vjp(m, d, adj, e, tau, Wb, tb):
    """vjp of W_a += I_a^-1 E^T tau, W_b -= I_b^-1 E^T tau (torque block e, impulse tau (3,)) at
    fixed tau: into its contact's frame rows' cotangent tb (3, 3), adj.R_bar and
    adj.inertia_bar (the inverse inertias at the step start); Wb passes through."""
    k = d.con_parent[e]
    a, b = d.con_body[e, 0], d.con_body[e, 1]
    E = np.empty((3, 3))
    _frame(d, k, E)
    Ka, Kb = np.empty((3, 3)), np.empty((3, 3))
    _inverse_inertia(m, d, a, Ka)
    _inverse_inertia(m, d, b, Kb)
    g = np.zeros(3)  # the world torque impulse E^T tau
    for row in range(3):
        for j in range(3):
            g[j] += tau[row] * E[row, j]
    for j in range(3):
        s = 0.0
        for q in range(3):
            s += Ka[j, q] * Wb[a, q] - Kb[j, q] * Wb[b, q]
        for row in range(3):
            tb[row, j] += tau[row] * s
    Kbar = np.empty((3, 3))
    for p in range(3):
        for q in range(3):
            Kbar[p, q] = Wb[a, p] * g[q]
    _inverse_inertia_vjp(m, d, adj, a, Kbar)
    for p in range(3):
        for q in range(3):
            Kbar[p, q] = -Wb[b, p] * g[q]
    _inverse_inertia_vjp(m, d, adj, b, Kbar)


@jit
def torque_trace_vjp(m, d, adj, e, tr_bar):
    # vjp of tr A_ee = tr(I_a^-1) + tr(I_b^-1) (frame and orientation free): adj.inertia_bar
    for s in range(2):
        i = d.con_body[e, s]
        if m.body_kind[i] != BODY_DYNAMIC:
            continue
        for j in range(3):
            adj.inertia_bar[i, j] -= tr_bar / m.body_inertia[i, j] ** 2


@jit
def torque_coefficients_vjp(m, d, adj, e, mu_t_bar, mu_r_bar, kink):
    # the cotangents of torque block e's (mu_t, mu_r) onto its bodies' torsional and rolling
    # friction (a pair takes the larger; ties shared by the kink convention)
    a, b = d.con_body[e, 0], d.con_body[e, 1]
    w = ramp_slope(m.body_torsional_friction[a] - m.body_torsional_friction[b], kink)
    adj.torsional_friction_bar[a] += mu_t_bar * w
    adj.torsional_friction_bar[b] += mu_t_bar * (1.0 - w)
    w = ramp_slope(m.body_rolling_friction[a] - m.body_rolling_friction[b], kink)
    adj.rolling_friction_bar[a] += mu_r_bar * w
    adj.rolling_friction_bar[b] += mu_r_bar * (1.0 - w)
