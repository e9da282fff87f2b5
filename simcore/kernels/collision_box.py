"""Narrow phase, box pairs (a = box): box-sphere, box-capsule (exact segment-box closest points)
and box-box (separating axes, then a clipped face manifold or one edge-edge contact), each forward
with its vjp (collision.py holds the contract). Only box-box clipping and the segment-box
breakpoints use small local arrays.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.consts import KINK_MEAN
from simcore.kernels.collision_common import (_abs_slope, _add, _add_col, _add_outer, _axis, _axpy,
                                              _bars, _clamp, _col, _cross, _dot, _emit, _mid, _norm,
                                              _scale, _seg_closest, _seg_closest_vjp, _setk, _sgn,
                                              _sub, _tolocal, _toworld, _unit_vjp)
from simcore.kernels.kink import clamp_slope, ramp_slope


@jit
def _seg_box(c, u, hl, h):
    """Exact closest parameter t of the segment c + t u (|t| <= hl) to the box |x_i| <= h_i and the
    squared distance. The squared distance is a convex piecewise quadratic in t; it is minimised in
    closed form on each piece between the breakpoints where a coordinate crosses a box face."""
    ts = np.empty(8)
    ts[0] = -hl
    ts[1] = hl
    m = 2
    for i in range(3):
        if abs(u[i]) > 1e-12:
            for q in range(2):
                tb = ((2.0 * q - 1.0) * h[i] - c[i]) / u[i]
                if -hl < tb < hl:
                    ts[m] = tb
                    m += 1
    for i in range(1, m):  # insertion sort of <= 8 breakpoints
        v = ts[i]
        j = i - 1
        while j >= 0 and ts[j] > v:
            ts[j + 1] = ts[j]
            j -= 1
        ts[j + 1] = v
    best_t = -hl
    best_f = np.inf
    for p in range(m - 1):
        t0 = ts[p]
        t1 = ts[p + 1]
        tm = 0.5 * (t0 + t1)
        num = 0.0
        den = 0.0
        for i in range(3):  # coordinates outside the box on this piece contribute a quadratic
            v = c[i] + tm * u[i]
            if v > h[i]:
                num += u[i] * (c[i] - h[i])
                den += u[i] * u[i]
            elif v < -h[i]:
                num += u[i] * (c[i] + h[i])
                den += u[i] * u[i]
        t = _clamp(-num / den, t0, t1) if den > 1e-300 else tm
        f = 0.0
        for i in range(3):
            e = abs(c[i] + t * u[i]) - h[i]
            if e > 0.0:
                f += e * e
        if f < best_f:
            best_f = f
            best_t = t
    return best_t, best_f


@jit
def _seg_box_t_vjp(c, u, t, h, hl, t_bar, c_bar, u_bar):
    # vjp of _seg_box's minimiser t: constant at an end +-hl; inside, the stationary point of the
    # squared distance over the coordinates outside the box there (sign s_i):
    # t = -sum u_i (c_i - s_i h_i) / sum u_i^2. Accumulates into c_bar, u_bar (arrays)
    if t <= -hl or t >= hl:
        return
    den = 0.0
    for i in range(3):
        v = c[i] + t * u[i]
        if v > h[i] or v < -h[i]:
            den += u[i] * u[i]
    if den <= 1e-300:
        return
    for i in range(3):
        v = c[i] + t * u[i]
        if v > h[i] or v < -h[i]:
            o = c[i] - h[i] if v > h[i] else c[i] + h[i]
            c_bar[i] -= t_bar * u[i] / den
            u_bar[i] -= t_bar * (o + 2.0 * t * u[i]) / den


@jit(inline="always")  # per pair
def _box_sphere_features(pa, Ra, sa, pb, r):
    """Box a against the sphere (centre pb, radius r), shared by collide_box_sphere and its vjp:
    in the box frame the centre c, the closest box point xl, the normal nl (from the sphere's
    centre to the box) and the gap d. A centre outside: the clamped point (i = -1, L its
    distance); inside: it leaves through the least-penetrated face i, side sg (lowest index on
    ties). Returns (c, L, i, sg, d, nl, xl)."""
    h = (sa[0], sa[1], sa[2])
    c = _tolocal(Ra, _sub(pb, pa))
    q = (_clamp(c[0], -h[0], h[0]), _clamp(c[1], -h[1], h[1]), _clamp(c[2], -h[2], h[2]))
    dv = _sub(q, c)
    L = _norm(dv)
    if L > 1e-12:
        return c, L, -1, 1.0, L - r, _scale(1.0 / L, dv), q
    i = 0
    for j in range(1, 3):
        if h[j] - abs(c[j]) < h[i] - abs(c[i]):
            i = j
    sg = _sgn(c[i])
    return c, L, i, sg, abs(c[i]) - h[i] - r, _axis(i, -sg), _setk(c, i, sg * h[i])


@jit(entry=True)
def collide_box_sphere(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Box a vs sphere b: closest box point; a centre inside leaves through the least-penetrated face."""
    r = sb[0]
    _, _, _, _, d, nl, xl = _box_sphere_features(pa, Ra, sa, pb, r)
    if d >= margin:
        return 0
    n = _toworld(Ra, nl)
    xa = _axpy(1.0, _toworld(Ra, xl), pa)
    _emit(k0, d, n, _mid(xa, _axpy(r, n, pb)), dist_out, normal_out, point_out)
    return 1


@jit(entry=True)
def collide_box_sphere_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar, point_bar,
                           kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    h = (sa[0], sa[1], sa[2])
    r = sb[0]
    c, L, i, sg, d, nl, xl = _box_sphere_features(pa, Ra, sa, pb, r)
    if d >= margin:
        return 0
    outside = i < 0
    db, nb, ptb = _bars(k0, dist_bar, normal_bar, point_bar)
    # point = (xa + pb + r n) / 2, xa = pa + Ra xl, n = Ra nl
    xab = _scale(0.5, ptb)
    _add(pb_bar, xab)
    nb = _axpy(0.5 * r, ptb, nb)
    _add_outer(Ra_bar, nb, nl)
    nlb = _tolocal(Ra, nb)
    _add(pa_bar, xab)
    _add_outer(Ra_bar, xab, xl)
    xlb = _tolocal(Ra, xab)
    if outside:
        # xl = q = clamp(c), nl = (q - c) / L, d = L - r
        dvb = _axpy(-_dot(nl, nlb), nl, nlb)
        dvb = _axpy(db, nl, _scale(1.0 / L, dvb))
        qb = _axpy(1.0, dvb, xlb)
        cb = (qb[0] * clamp_slope(c[0], -h[0], h[0], kink) - dvb[0],
              qb[1] * clamp_slope(c[1], -h[1], h[1], kink) - dvb[1],
              qb[2] * clamp_slope(c[2], -h[2], h[2], kink) - dvb[2])
    else:
        # xl = c with component i on the face; d = |c_i| - h_i - r
        cb = _setk(xlb, i, sg * db)
    # c = Ra^T (pb - pa)
    _add_outer(Ra_bar, _sub(pb, pa), cb)
    cw = _toworld(Ra, cb)
    _add(pb_bar, cw)
    _add(pa_bar, _scale(-1.0, cw))
    return 1


@jit
def _capsule_sat_axis(i, u):
    # the box-capsule SAT axis i (box frame): e_i, or the unit cross u x e_(i-3); and its length
    if i < 3:
        return _axis(i, 1.0), 1.0
    L = _cross(u, _axis(i - 3, 1.0))
    ln = _norm(L)
    return _scale(1.0 / max(ln, 1e-300), L), ln


@jit
def _capsule_sat_axis_vjp(i, u, L_bar, u_bar):
    # vjp of _capsule_sat_axis: L_bar -> u_bar (accumulated)
    if i >= 3:
        e = _axis(i - 3, 1.0)
        vb = _unit_vjp(_cross(u, e), L_bar)
        ub = _cross(e, vb)  # v = u x e: v.vb = u.(e x vb)
        _add(u_bar, ub)


@jit
def _box_capsule_features(pa, Ra, sa, pb, Rb, sb, margin):
    """The case analysis of box a against capsule b, shared by collide_box_capsule and its vjp:
    in the box frame (half extents h), the capsule's segment c + t u (|t| <= hl, radius r), its
    closest parameter t and distance d to the box (_seg_box). Beyond the margin: found False.
    Outside the box (d > 1e-10) the closest-point direction is
    exact ((box - segment) + ball). Touching it: separating axes over the 3 face normals and the
    3 crosses u x e_i, exact for the segment's penetration; the contact axis's normal
    n = nsg L(axis) (face axes win near-ties: resting capsules), and its points: on a face axis the
    segment end deepest along n against that face (xa0 before the clamp to the face), on an edge
    axis the closest points of the segment and the box edge supporting -n (ec, the edge's centre).
    The gap is the minimum depth over all axes (imin, its side smin), whichever axis the bias
    picks. The contact face: outward normal sg e_k most opposed to n (n points from the capsule
    to the box). Returns (found, c, u, outside, axis, nsg, imin, smin, g, n, t, x, xa0, xa, xb,
    ec, k, sg)."""
    h = (sa[0], sa[1], sa[2])
    r = sb[0]
    hl = sb[1]
    c = _tolocal(Ra, _sub(pb, pa))
    u = _tolocal(Ra, _col(Rb, 2))
    t, f2 = _seg_box(c, u, hl, h)
    d = np.sqrt(f2)
    z = (0.0, 0.0, 0.0)
    if d - r >= margin:
        return False, c, u, False, 0, 1.0, 0, 1.0, d - r, z, t, z, z, z, z, z, 0, 1.0
    if d > 1e-10:
        x = _axpy(t, u, c)
        xa = (_clamp(x[0], -h[0], h[0]), _clamp(x[1], -h[1], h[1]), _clamp(x[2], -h[2], h[2]))
        n = _scale(1.0 / d, _sub(xa, x))
        k, sg = _contact_face(n)
        return True, c, u, True, 0, 1.0, 0, 1.0, d - r, n, t, x, xa, xa, _axpy(r, n, x), z, k, sg
    best = np.inf
    dmin = np.inf
    axis = imin = 0
    smin = nsg = 1.0
    for i in range(6):
        L, ln = _capsule_sat_axis(i, u)
        if i < 3:
            thr = best
        else:
            if ln < 1e-6:  # segment parallel to this box axis: the face axes cover it
                continue
            thr = best - 1e-4 * abs(best) - 1e-12
        rho = h[0] * abs(L[0]) + h[1] * abs(L[1]) + h[2] * abs(L[2])
        cen = _dot(L, c)
        ext = hl * abs(_dot(L, u))
        dp = rho + ext - cen  # push the segment along +L to separate
        dm = rho + ext + cen  # push it along -L
        if min(dp, dm) < dmin:
            imin = i
            smin = -1.0 if dp <= dm else 1.0
        dmin = min(dmin, dp, dm)
        if min(dp, dm) < thr:
            best = min(dp, dm)
            axis = i
            nsg = -1.0 if dp <= dm else 1.0  # the box moves opposite to the segment
    n = _scale(nsg, _capsule_sat_axis(axis, u)[0])
    if axis < 3:
        t = hl if _dot(n, u) > 0.0 else -hl
        x = _axpy(t, u, c)
        xa0 = _setk(x, axis, -_sgn(n[axis]) * h[axis])
        xa = (_clamp(xa0[0], -h[0], h[0]), _clamp(xa0[1], -h[1], h[1]),
              _clamp(xa0[2], -h[2], h[2]))
        ec = z
    else:
        i = axis - 3
        ec = (0.0 if i == 0 else -_sgn(n[0]) * h[0], 0.0 if i == 1 else -_sgn(n[1]) * h[1],
              0.0 if i == 2 else -_sgn(n[2]) * h[2])
        rr = _sub(c, ec)
        t, te = _seg_closest(u[i], _dot(u, rr), rr[i], hl, h[i])
        x = _axpy(t, u, c)
        xa = _setk(ec, i, te)
        xa0 = xa
    k, sg = _contact_face(n)
    return (True, c, u, False, axis, nsg, imin, smin, -dmin - r, n, t, x, xa0, xa, _axpy(r, n, x),
            ec, k, sg)


@jit(inline="always")
def _contact_face(n):
    # the box face (outward normal sg e_k) most opposed to n
    k = 0
    for j in range(1, 3):
        if abs(n[j]) > abs(n[k]):
            k = j
    return k, -_sgn(n[k])


@jit
def _segment_on_face(h, hl, c, u, k, kink, w):
    """The segment c + t u (|t| <= hl) clipped to the box face rectangle of axis k: (t0, t1),
    empty when t1 <= t0. For the vjp, w (4, 3): per coordinate m, the weight of its face crossing
    in t0 (a nested max; w[0]) and in t1 (a min; w[1]) under the kink convention, and those
    crossings (w[2], w[3])."""
    w[:, :] = 0.0
    t0 = -hl
    t1 = hl
    for m in range(3):
        if m == k:
            continue
        if abs(u[m]) > 1e-12:
            ta = (-h[m] - c[m]) / u[m]
            tb = (h[m] - c[m]) / u[m]
            lo_m = min(ta, tb)
            hi_m = max(ta, tb)
            wn = ramp_slope(lo_m - t0, kink)
            for q in range(3):
                w[0, q] *= 1.0 - wn
            w[0, m] = wn
            w[2, m] = lo_m
            wn = ramp_slope(t1 - hi_m, kink)
            for q in range(3):
                w[1, q] *= 1.0 - wn
            w[1, m] = wn
            w[3, m] = hi_m
            t0 = max(t0, lo_m)
            t1 = min(t1, hi_m)
        elif abs(c[m]) > h[m]:
            t1 = t0 - 1.0
    return t0, t1


@jit(inline="always")
def _line_ends(h, sg, c, u, k, t, t0, t1):
    # a line contact's ends' heights over the face sg e_k, and whether end t0 is the near one
    # (the one that takes the exact gap): the closest point's side, else the lower end
    H0 = sg * (c[k] + t0 * u[k]) - h[k]
    H1 = sg * (c[k] + t1 * u[k]) - h[k]
    return H0, H1, t < t0 - 1e-9 or (t <= t1 + 1e-9 and H0 <= H1)


@jit(entry=True)
def collide_box_capsule(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Box a vs capsule b, in the box frame. Segment outside the box: exact segment-box distance.
    Segment touching the box: SAT over the 3 face normals and the 3 crosses (segment x box axis),
    which is exact for the segment's penetration. 2 contacts (segment clipped to the face) when the
    segment is nearly parallel (|u_k| < 0.02) to the contact face k."""
    h = (sa[0], sa[1], sa[2])
    r = sb[0]
    hl = sb[1]
    found, c, u, _, _, _, _, _, g, n, t, x, _, xa, xb, _, k, sg = _box_capsule_features(
        pa, Ra, sa, pb, Rb, sb, margin)
    if not found:
        return 0
    nw = _toworld(Ra, n)
    if abs(u[k]) < 0.02 and hl > 0.0:
        w = np.empty((4, 3))
        t0, t1 = _segment_on_face(h, hl, c, u, k, KINK_MEAN, w)
        if t1 - t0 > 1e-9:
            # line contact at the clipped ends: the deeper end gets the exact gap g (and the exact
            # closest points if they lie beyond the clipped part), the other its height over the face
            H0, H1, near0 = _line_ends(h, sg, c, u, k, t, t0, t1)
            cnt = 0
            for e in range(2):
                te = t0 if e == 0 else t1
                near = (e == 0) == near0
                gap = g if near else max((H0 if e == 0 else H1) - r, g)
                if gap < margin:
                    if near and (t < t0 - 1e-9 or t > t1 + 1e-9):
                        pt = _mid(xa, xb)
                    else:
                        x = _axpy(te, u, c)
                        pt = _mid(_setk(x, k, sg * h[k]), _setk(x, k, x[k] - sg * r))
                    _emit(k0 + cnt, gap, nw, _axpy(1.0, _toworld(Ra, pt), pa),
                          dist_out, normal_out, point_out)
                    cnt += 1
            return cnt
    _emit(k0, g, nw, _axpy(1.0, _toworld(Ra, _mid(xa, xb)), pa), dist_out, normal_out, point_out)
    return 1


@jit(entry=True)
def collide_box_capsule_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar, point_bar,
                            kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    # Branches held fixed: outside / SAT, the SAT axis and its sign, the axis of the minimum
    # depth, the face / edge feature, the line contact's face, near end and clip bounds' terms.
    # Outside: the closest parameter t is differentiated as the stationary point of its piece.
    h = (sa[0], sa[1], sa[2])
    r = sb[0]
    hl = sb[1]
    found, c, u, outside, axis, nsg, imin, smin, g, n, t, x, xa0, xa, xb, ec, k, sg = \
        _box_capsule_features(pa, Ra, sa, pb, Rb, sb, margin)
    if not found:
        return 0
    c_bar = np.zeros(3)
    u_bar = np.zeros(3)
    z = (0.0, 0.0, 0.0)
    g_bar = 0.0
    nw_bar = z  # world normal's cotangent, summed over the contacts
    xa_bar = z
    xb_bar = z
    cnt = -1
    if abs(u[k]) < 0.02 and hl > 0.0:
        # (w: per coordinate m, the weight of its face crossing in t0 (nested max) and in t1
        # (min), and that crossing's value)
        w = np.empty((4, 3))
        t0, t1 = _segment_on_face(h, hl, c, u, k, kink, w)
        w0, w1, v0, v1 = w[0], w[1], w[2], w[3]
        if t1 - t0 > 1e-9:
            H0, H1, near0 = _line_ends(h, sg, c, u, k, t, t0, t1)
            t0b = 0.0
            t1b = 0.0
            cnt = 0
            for e in range(2):
                te = t0 if e == 0 else t1
                near = (e == 0) == near0
                He = H0 if e == 0 else H1
                gap = g if near else max(He - r, g)
                if gap >= margin:
                    continue
                db, nk, ptb = _bars(k0 + cnt, dist_bar, normal_bar, point_bar)
                nw_bar = _axpy(1.0, nk, nw_bar)
                _add(pa_bar, ptb)
                teb = 0.0
                if near and (t < t0 - 1e-9 or t > t1 + 1e-9):
                    pt = _mid(xa, xb)
                    _add_outer(Ra_bar, ptb, pt)
                    ptl = _tolocal(Ra, ptb)
                    xa_bar = _axpy(0.5, ptl, xa_bar)
                    xb_bar = _axpy(0.5, ptl, xb_bar)
                else:
                    # pt = x with x_k -> (sg h_k + x_k - sg r) / 2, x = c + te u
                    xe = _axpy(te, u, c)
                    pt = _setk(xe, k, 0.5 * (sg * h[k] + xe[k] - sg * r))
                    _add_outer(Ra_bar, ptb, pt)
                    ptl = _tolocal(Ra, ptb)
                    xeb = _setk(ptl, k, 0.5 * ptl[k])
                    _add(c_bar, xeb)
                    _add(u_bar, _scale(te, xeb))
                    teb += _dot(u, xeb)
                if near:
                    g_bar += db
                else:  # gap = max(He - r, g), He = sg (c_k + te u_k) - h_k
                    wf = ramp_slope(He - r - g, kink)
                    g_bar += (1.0 - wf) * db
                    Hb = wf * db
                    c_bar[k] += sg * Hb
                    u_bar[k] += sg * te * Hb
                    teb += sg * u[k] * Hb
                if e == 0:
                    t0b += teb
                else:
                    t1b += teb
                cnt += 1
            # t0, t1: weighted face crossings (F - c_m) / u_m
            for m in range(3):
                if w0[m] != 0.0:
                    c_bar[m] -= t0b * w0[m] / u[m]
                    u_bar[m] -= t0b * w0[m] * v0[m] / u[m]
                if w1[m] != 0.0:
                    c_bar[m] -= t1b * w1[m] / u[m]
                    u_bar[m] -= t1b * w1[m] * v1[m] / u[m]
    if cnt < 0:
        g_bar, nk, ptb = _bars(k0, dist_bar, normal_bar, point_bar)
        nw_bar = nk
        _add(pa_bar, ptb)
        _add_outer(Ra_bar, ptb, _mid(xa, xb))
        ptl = _tolocal(Ra, ptb)
        xa_bar = _scale(0.5, ptl)
        xb_bar = xa_bar
        cnt = 1
    # nw = Ra n; xb = x + r n
    _add_outer(Ra_bar, nw_bar, n)
    n_bar = _axpy(r, xb_bar, _tolocal(Ra, nw_bar))
    x_bar = xb_bar
    if outside:
        # xa = clamp(x), n = (xa - x) / d, g = d - r, d = |xa - x|
        dvec = _sub(xa, x)
        dvb = _axpy(g_bar, n, _unit_vjp(dvec, n_bar))
        qb = _axpy(1.0, dvb, xa_bar)
        x_bar = (x_bar[0] - dvb[0] + qb[0] * clamp_slope(x[0], -h[0], h[0], kink),
                 x_bar[1] - dvb[1] + qb[1] * clamp_slope(x[1], -h[1], h[1], kink),
                 x_bar[2] - dvb[2] + qb[2] * clamp_slope(x[2], -h[2], h[2], kink))
        _add(c_bar, x_bar)
        _add(u_bar, _scale(t, x_bar))
        _seg_box_t_vjp(c, u, t, h, hl, _dot(u, x_bar), c_bar, u_bar)
    else:
        # g = -dmin - r, dmin = rho + ext + smin cen of axis imin
        Lm, ln = _capsule_sat_axis(imin, u)
        db = -g_bar
        Lb = (db * (h[0] * _abs_slope(Lm[0], kink) + smin * c[0]),
              db * (h[1] * _abs_slope(Lm[1], kink) + smin * c[1]),
              db * (h[2] * _abs_slope(Lm[2], kink) + smin * c[2]))
        sl = db * hl * _abs_slope(_dot(Lm, u), kink)
        Lb = _axpy(sl, u, Lb)
        _add(u_bar, _scale(sl, Lm))
        _add(c_bar, _scale(db * smin, Lm))
        _capsule_sat_axis_vjp(imin, u, Lb, u_bar)
        # n = nsg L(axis)
        _capsule_sat_axis_vjp(axis, u, _scale(nsg, n_bar), u_bar)
        if axis < 3:
            # x = c + t u (t = +-hl); xa = clamp(x with x_axis on the face)
            for q in range(3):
                if q != axis:
                    x_bar = _setk(x_bar, q, x_bar[q]
                                  + xa_bar[q] * clamp_slope(xa0[q], -h[q], h[q], kink))
            _add(c_bar, x_bar)
            _add(u_bar, _scale(t, x_bar))
        else:
            # x = c + t u, xa = ec with xa_i = te; (t, te) = _seg_closest(u_i, u.rr, rr_i), rr = c - ec
            i = axis - 3
            rr = _sub(c, ec)
            _add(c_bar, x_bar)
            _add(u_bar, _scale(t, x_bar))
            bbb, ccb, ffb = _seg_closest_vjp(u[i], _dot(u, rr), rr[i], hl, h[i], _dot(u, x_bar),
                                             xa_bar[i], kink)
            u_bar[i] += bbb
            _add(u_bar, _scale(ccb, rr))
            _add(c_bar, _scale(ccb, u))
            c_bar[i] += ffb
    # c = Ra^T (pb - pa), u = Ra^T ub
    _add_outer(Ra_bar, _sub(pb, pa), c_bar)
    _add_outer(Ra_bar, _col(Rb, 2), u_bar)
    cw = _toworld(Ra, c_bar)
    _add(pb_bar, cw)
    _add(pa_bar, _scale(-1.0, cw))
    _add_col(Rb_bar, 2, _toworld(Ra, u_bar))
    return cnt


@jit
def _box_axis(ax, Q):
    # SAT axis ax of box-box (a's frame) as collide_box_box builds it, and the cross's length
    if ax < 3:
        return _axis(ax, 1.0), 1.0
    if ax < 6:
        return (Q[0, ax - 3], Q[1, ax - 3], Q[2, ax - 3]), 1.0
    j = (ax - 6) % 3
    L = _cross(_axis((ax - 6) // 3, 1.0), (Q[0, j], Q[1, j], Q[2, j]))
    ln = _norm(L)
    return _scale(1.0 / max(ln, 1e-300), L), ln


@jit
def _box_axis_vjp(ax, sa, sb, Q, C, S_bar, L_bar, kink, Q_bar, C_bar):
    # vjp of the separation S = |L.C| - rA - rB along SAT axis ax and of its unit axis L:
    # (S_bar, L_bar) -> Q_bar, C_bar (accumulated)
    L, ln = _box_axis(ax, Q)
    sc = _abs_slope(_dot(L, C), kink)
    Lb = _axpy(S_bar * sc, C, L_bar)
    _add(C_bar, _scale(S_bar * sc, L))
    Lb = (Lb[0] - S_bar * sa[0] * _abs_slope(L[0], kink),
          Lb[1] - S_bar * sa[1] * _abs_slope(L[1], kink),
          Lb[2] - S_bar * sa[2] * _abs_slope(L[2], kink))
    for j in range(3):
        qj = (Q[0, j], Q[1, j], Q[2, j])
        w = S_bar * sb[j] * _abs_slope(_dot(L, qj), kink)
        Lb = _axpy(-w, qj, Lb)
        _add_col(Q_bar, j, _scale(-w, L))
    if 3 <= ax < 6:
        _add_col(Q_bar, ax - 3, Lb)
    elif ax >= 6:
        e = _axis((ax - 6) // 3, 1.0)
        j = (ax - 6) % 3
        vb = _unit_vjp(_cross(e, (Q[0, j], Q[1, j], Q[2, j])), Lb)
        _add_col(Q_bar, j, _cross(vb, e))  # v = e x q: v.vb = q.(vb x e)


@jit
def _clip(P, npt, m, sgn, lim, out, src):
    """Sutherland-Hodgman: keep the part of polygon P[:npt] with sgn * x_m <= lim, into out;
    src[o] records each output point's source: (j, i, 1) for the crossing of edge P[j] -> P[i]
    with the plane, (0, i, 0) for a kept P[i]."""
    no = 0
    cap = out.shape[0]
    for i in range(npt):
        j = i - 1 if i > 0 else npt - 1
        dc = sgn * P[i, m] - lim
        dp = sgn * P[j, m] - lim
        if (dp <= 0.0) != (dc <= 0.0) and no < cap:
            a = dp / (dp - dc)
            for q in range(3):
                out[no, q] = P[j, q] + a * (P[i, q] - P[j, q])
            src[no, 0] = j
            src[no, 1] = i
            src[no, 2] = 1
            no += 1
        if dc <= 0.0 and no < cap:
            for q in range(3):
                out[no, q] = P[i, q]
            src[no, 0] = 0
            src[no, 1] = i
            src[no, 2] = 0
            no += 1
    return no


@jit
def _clip_vjp(P, m, sgn, lim, no, src, out_bar, P_bar):
    # vjp of _clip's no outputs: out_bar -> P_bar (accumulated). A crossing
    # o = Pj + a (Pi - Pj), a = dp / (dp - dc), dp = sgn Pj_m - lim, dc = sgn Pi_m - lim
    for o in range(no):
        i = src[o, 1]
        if src[o, 2] == 0:
            for q in range(3):
                P_bar[i, q] += out_bar[o, q]
            continue
        j = src[o, 0]
        dc = sgn * P[i, m] - lim
        dp = sgn * P[j, m] - lim
        den = dp - dc
        a = dp / den
        a_bar = 0.0
        for q in range(3):
            a_bar += out_bar[o, q] * (P[i, q] - P[j, q])
            P_bar[j, q] += (1.0 - a) * out_bar[o, q]
            P_bar[i, q] += a * out_bar[o, q]
        P_bar[j, m] += sgn * a_bar * (-dc) / (den * den)
        P_bar[i, m] += sgn * a_bar * dp / (den * den)


@jit
def _face_polygon(pR, RR, hR, k, sR, pI, RI, hI, st, src, nst):
    """The face manifold's polygon, shared by _box_face and its vjp: the incident face of box I
    (its face most anti-parallel to the reference face sR e_k of box R), in R's frame, clipped to
    the reference face's sides. st[0] holds its 4 corners in loop order (+,+), (-,+), (-,-),
    (+,-), st[c] the polygon after clip c (nst[c] points, src[c - 1] their sources). Returns
    (j, tau, vdeep, gdeep): the incident face (tau RI[:, j]) and its deepest corner and height."""
    N = _scale(sR, _col(RR, k))
    j = 0
    for q in range(1, 3):
        if abs(_dot(_col(RI, q), N)) > abs(_dot(_col(RI, j), N)):
            j = q
    tau = -_sgn(_dot(_col(RI, j), N))
    j1 = (j + 1) % 3
    j2 = (j + 2) % 3
    fc = _axpy(tau * hI[j], _col(RI, j), pI)
    vdeep = 0
    gdeep = np.inf
    for v in range(4):
        s1 = 1.0 if (v == 0 or v == 3) else -1.0
        s2 = 1.0 if v < 2 else -1.0
        w = _axpy(s2 * hI[j2], _col(RI, j2), _axpy(s1 * hI[j1], _col(RI, j1), fc))
        wl = _tolocal(RR, _sub(w, pR))
        for q in range(3):
            st[0, v, q] = wl[q]
        if sR * wl[k] < gdeep:
            gdeep = sR * wl[k]
            vdeep = v
    m1 = (k + 1) % 3
    m2 = (k + 2) % 3
    nst[0] = 4
    for c in range(4):
        m = m1 if c < 2 else m2
        sgc = 1.0 if c % 2 == 0 else -1.0
        nst[c + 1] = _clip(st[c], nst[c], m, sgc, hR[m], st[c + 1], src[c])
    return j, tau, vdeep, gdeep


@jit
def _box_face(pR, RR, hR, k, sR, pI, RI, hI, flip, sep, margin, k0, dist_out, normal_out, point_out):
    """Face manifold: reference face sR e_k of box R (facing box I), incident face of I clipped to it;
    gap = height of each clipped point over the face plane, shifted so the minimum is sep;
    normal = flip * face normal."""
    nw = _scale(flip * sR, _col(RR, k))
    st = np.empty((5, 16, 3))
    src = np.empty((4, 16, 3), dtype=np.int64)
    nst = np.empty(5, dtype=np.int64)
    _, _, vdeep, _ = _face_polygon(pR, RR, hR, k, sR, pI, RI, hI, st, src, nst)
    deep = (st[0, vdeep, 0], st[0, vdeep, 1], st[0, vdeep, 2])
    P = st[4]
    npt = nst[4]
    m1 = (k + 1) % 3
    m2 = (k + 2) % 3
    hk = sR * hR[k]
    if npt == 0:
        # no lateral overlap (separated boxes): one contact at the deepest incident corner, clamped
        x = _setk(deep, m1, _clamp(deep[m1], -hR[m1], hR[m1]))
        x = _setk(x, m2, _clamp(x[m2], -hR[m2], hR[m2]))
        _emit(k0, sep, nw, _axpy(1.0, _toworld(RR, _setk(x, k, 0.5 * (x[k] + hk))), pR),
              dist_out, normal_out, point_out)
        return 1
    gmin = np.inf
    for i in range(npt):
        gmin = min(gmin, sR * P[i, k] - hR[k])
    # shift all gaps so the minimum is the SAT separation: exact when penetrating (the face bias or a
    # clipped-away corner would bias the raw depths), a lower bound on the distance when separated
    off = gmin - sep
    cnt = 0
    for i in range(npt):
        gap = sR * P[i, k] - hR[k] - off
        if gap < margin and cnt < 8:
            x = (P[i, 0], P[i, 1], P[i, 2])
            x = _setk(x, k, 0.5 * (x[k] + hk))  # midpoint with the projection onto the face
            _emit(k0 + cnt, gap, nw, _axpy(1.0, _toworld(RR, x), pR), dist_out, normal_out, point_out)
            cnt += 1
    return cnt


@jit
def _box_face_vjp(pR, RR, hR, k, sR, pI, RI, hI, flip, sep, sep_on_face, margin, k0, dist_bar,
                  normal_bar, point_bar, kink, pR_bar, RR_bar, pI_bar, RI_bar, scratch):
    """vjp of _box_face: its contacts' cotangents -> the poses' (accumulated) and sep's (returned
    with the count). Incident face, clip cases, the deepest corner and the minimum's point are
    held fixed; each clipped point is a corner or a crossing of an edge with a clip plane.
    sep_on_face: sep is the SAT separation along this reference face's normal. scratch:
    box_scratch()'s (overwritten)."""
    st, bar, src, nst = scratch[0], scratch[1], scratch[2], scratch[3]
    # (st: the polygon after each clip stage, stage 0: the 4 corners)
    src[:, :, :] = 0
    nst[:] = 0
    bar[:, :, :] = 0.0
    j, tau, vdeep, gdeep = _face_polygon(pR, RR, hR, k, sR, pI, RI, hI, st, src, nst)
    j1 = (j + 1) % 3
    j2 = (j + 2) % 3
    fc = _axpy(tau * hI[j], _col(RI, j), pI)
    m1 = (k + 1) % 3
    m2 = (k + 2) % 3
    npt = nst[4]
    hk = sR * hR[k]
    sep_bar = 0.0
    if npt == 0:
        deep = (st[0, vdeep, 0], st[0, vdeep, 1], st[0, vdeep, 2])
        x = _setk(deep, m1, _clamp(deep[m1], -hR[m1], hR[m1]))
        x = _setk(x, m2, _clamp(x[m2], -hR[m2], hR[m2]))
        x = _setk(x, k, 0.5 * (x[k] + hk))
        sep_bar, nk, ptb = _bars(k0, dist_bar, normal_bar, point_bar)
        _add_col(RR_bar, k, _scale(flip * sR, nk))
        _add(pR_bar, ptb)
        _add_outer(RR_bar, ptb, x)
        xb = _tolocal(RR, ptb)
        bar[0, vdeep, m1] += xb[m1] * clamp_slope(deep[m1], -hR[m1], hR[m1], kink)
        bar[0, vdeep, m2] += xb[m2] * clamp_slope(deep[m2], -hR[m2], hR[m2], kink)
        bar[0, vdeep, k] += 0.5 * xb[k]
        cnt = 1
    else:
        gmin = np.inf
        imin = 0
        for i in range(npt):
            gi = sR * st[4, i, k] - hR[k]
            if gi < gmin:
                imin = i
            gmin = min(gmin, gi)
        off = gmin - sep
        # sep along the face normal is the deepest incident corner's height: when that corner is
        # also the lowest clipped point, off = gmin - sep is identically 0 (its slope 0, also at
        # ties such as a face lying flat, where the two minima's one-sided slopes would not pair)
        o = imin
        for c in range(3, -1, -1):  # trace the lowest point back through the clip stages
            if o < 0 or src[c, o, 2] == 1:
                o = -1
            else:
                o = src[c, o, 1]
        shift = not (sep_on_face and o >= 0 and sR * st[0, o, k] == gdeep)
        ntie = 0  # otherwise gmin's slope: the mean over exactly tied minima (a face lying flat)
        for i in range(npt):
            if sR * st[4, i, k] - hR[k] == gmin:
                ntie += 1
        cnt = 0
        for i in range(npt):
            gap = sR * st[4, i, k] - hR[k] - off
            if gap < margin and cnt < 8:
                db, nk, ptb = _bars(k0 + cnt, dist_bar, normal_bar, point_bar)
                _add_col(RR_bar, k, _scale(flip * sR, nk))
                x = (st[4, i, 0], st[4, i, 1], st[4, i, 2])
                x = _setk(x, k, 0.5 * (x[k] + hk))
                _add(pR_bar, ptb)
                _add_outer(RR_bar, ptb, x)
                xb = _tolocal(RR, ptb)
                for q in range(3):
                    bar[4, i, q] += 0.5 * xb[q] if q == k else xb[q]
                # gap = sR P_ik - hR_k - (sR P_(imin)k - hR_k) + sep
                bar[4, i, k] += sR * db
                if shift:
                    for i2 in range(npt):
                        if sR * st[4, i2, k] - hR[k] == gmin:
                            bar[4, i2, k] -= sR * db / ntie
                    sep_bar += db
                cnt += 1
        for c in range(3, -1, -1):
            m = m1 if c < 2 else m2
            sgc = 1.0 if c % 2 == 0 else -1.0
            _clip_vjp(st[c], m, sgc, hR[m], nst[c + 1], src[c], bar[c + 1], bar[c])
    # corners: P_v = RR^T (w_v - pR), w_v = pI + tau hI_j RI_j + s1 hI_j1 RI_j1 + s2 hI_j2 RI_j2
    for v in range(4):
        s1 = 1.0 if (v == 0 or v == 3) else -1.0
        s2 = 1.0 if v < 2 else -1.0
        Pb = (bar[0, v, 0], bar[0, v, 1], bar[0, v, 2])
        w = _axpy(s2 * hI[j2], _col(RI, j2), _axpy(s1 * hI[j1], _col(RI, j1), fc))
        _add_outer(RR_bar, _sub(w, pR), Pb)
        wb = _toworld(RR, Pb)
        _add(pR_bar, _scale(-1.0, wb))
        _add(pI_bar, wb)
        _add_col(RI_bar, j, _scale(tau * hI[j], wb))
        _add_col(RI_bar, j1, _scale(s1 * hI[j1], wb))
        _add_col(RI_bar, j2, _scale(s2 * hI[j2], wb))
    return cnt, sep_bar


@jit
def _box_sat(pa, Ra, sa, pb, Rb, sb, margin, Q, Ls):
    """The separating-axis test of boxes a and b, shared by collide_box_box and its vjp: in a's
    frame, b's axes into Q (Q[:, j] = b's axis j) and the 15 unit axes into Ls (15, 3). Returns
    (kind, iax, smax, C): the manifold axis (-1: an axis separates them beyond the margin), the
    first axis attaining the largest separation, that separation, reported as the pair's minimum
    gap (unbiased SAT: exact for penetration), and b's centre C."""
    for i in range(3):
        for j in range(3):
            Q[i, j] = Ra[0, i] * Rb[0, j] + Ra[1, i] * Rb[1, j] + Ra[2, i] * Rb[2, j]
    C = _tolocal(Ra, _sub(pb, pa))
    S = np.empty(15)  # separation per axis (-inf: degenerate edge cross)
    for ax in range(15):
        L, ln = _box_axis(ax, Q)
        if ax >= 6 and ln < 1e-6:  # (nearly) parallel edges: covered by the face axes
            S[ax] = -np.inf
            continue
        for q in range(3):
            Ls[ax, q] = L[q]
        rA = sa[0] * abs(L[0]) + sa[1] * abs(L[1]) + sa[2] * abs(L[2])
        rB = (sb[0] * abs(L[0] * Q[0, 0] + L[1] * Q[1, 0] + L[2] * Q[2, 0])
              + sb[1] * abs(L[0] * Q[0, 1] + L[1] * Q[1, 1] + L[2] * Q[2, 1])
              + sb[2] * abs(L[0] * Q[0, 2] + L[1] * Q[1, 2] + L[2] * Q[2, 2]))
        S[ax] = abs(_dot(L, C)) - rA - rB
        if S[ax] >= margin:
            return -1, 0, 0.0, C
    smax = -np.inf
    iax = 0
    for ax in range(15):
        if S[ax] > smax:
            iax = ax
        smax = max(smax, S[ax])
    kind = 0  # manifold axis: the best face (a's on ties) ...
    for ax in range(1, 6):
        if S[ax] > S[kind] + (1e-6 * abs(S[kind]) + 1e-12 if ax >= 3 else 0.0):
            kind = ax
    Nf = (Ls[kind, 0], Ls[kind, 1], Ls[kind, 2])
    # ... which also stands in for edge axes within ~3 deg of its normal (a tilted face in a resting
    # stack: the clipped face manifold is what keeps stacks stable) ...
    bar = S[kind]
    for ax in range(6, 15):
        if S[ax] > bar and abs(Ls[ax, 0] * Nf[0] + Ls[ax, 1] * Nf[1] + Ls[ax, 2] * Nf[2]) > 0.99875:
            bar = S[ax]
    # ... unless another edge axis is clearly better (slight bias toward faces)
    ke = -1
    for ax in range(6, 15):
        if S[ax] > bar + 1e-3 * abs(bar) + 1e-12 and (ke < 0 or S[ax] > S[ke]):
            ke = ax
    return (ke if ke >= 0 else kind), iax, smax, C


@jit(entry=True)
def collide_box_box(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Box a vs box b: separating-axis test over 15 axes (in a's frame), then a clipped face manifold
    (face axis) or one edge-edge contact. The minimum gap is the unbiased SAT separation: exact for
    penetration. For separated boxes it can underestimate the true distance in vertex-edge and
    vertex-vertex configurations (conservative for speculative contacts); exact face-face and
    edge-edge."""
    Q = np.empty((3, 3))
    Ls = np.empty((15, 3))
    kind, iax, smax, C = _box_sat(pa, Ra, sa, pb, Rb, sb, margin, Q, Ls)
    if kind < 0:
        return 0  # a separating axis beyond the margin
    Lb = (Ls[kind, 0], Ls[kind, 1], Ls[kind, 2])
    La = _scale(_sgn(_dot(Lb, C)), Lb)  # axis from a toward b, a's frame
    nw = _toworld(Ra, _scale(-1.0, La))
    if kind < 3:
        return _box_face(pa, Ra, sa, kind, _sgn(La[kind]), pb, Rb, sb, -1.0, smax, margin, k0,
                         dist_out, normal_out, point_out)
    if kind < 6:
        # b's face toward a has outward normal -La = -sgn(La.Q[:, k]) Q[:, k]
        kb = kind - 3
        sb_ = -_sgn(La[0] * Q[0, kb] + La[1] * Q[1, kb] + La[2] * Q[2, kb])
        return _box_face(pb, Rb, sb, kb, sb_, pa, Ra, sa, 1.0, smax, margin, k0,
                         dist_out, normal_out, point_out)
    # edge-edge: a's edge along axis i supporting +La, b's edge along axis j supporting -La
    i = (kind - 6) // 3
    j = (kind - 6) % 3
    ea = (0.0 if i == 0 else _sgn(La[0]) * sa[0], 0.0 if i == 1 else _sgn(La[1]) * sa[1],
          0.0 if i == 2 else _sgn(La[2]) * sa[2])
    eb = C
    for m in range(3):
        if m != j:
            qm = (Q[0, m], Q[1, m], Q[2, m])
            eb = _axpy(-_sgn(_dot(La, qm)) * sb[m], qm, eb)
    ub = (Q[0, j], Q[1, j], Q[2, j])
    rr = _sub(ea, eb)
    s, t = _seg_closest(Q[i, j], rr[i], _dot(ub, rr), sa[i], sb[j])
    x = _mid(_setk(ea, i, ea[i] + s), _axpy(t, ub, eb))
    _emit(k0, smax, nw, _axpy(1.0, _toworld(Ra, x), pa), dist_out, normal_out, point_out)
    return 1


# a box pair's separating-axis test as box_box_sat keeps it for box_box_vjp_sat: the manifold
# axis (kind), the axis of the largest separation (iax), that separation, b's centre C (3) and
# axes Q (9, row-major) in a's frame, the manifold axis's unit vector (3)
BOX_SAT = 18


@jit
def box_box_sat(pa, Ra, sa, pb, Rb, sb, margin, out):
    """_box_sat's results into out (BOX_SAT floats), for box_box_vjp_sat: a caller taking the
    pair's vjp for many cotangents (transition_kernel's rows) runs the test once."""
    Q = np.empty((3, 3))
    Ls = np.empty((15, 3))
    kind, iax, smax, C = _box_sat(pa, Ra, sa, pb, Rb, sb, margin, Q, Ls)
    out[0], out[1], out[2] = kind, iax, smax
    for i in range(3):
        out[3 + i] = C[i]
        out[15 + i] = Ls[kind, i] if kind >= 0 else 0.0
        for j in range(3):
            out[6 + 3 * i + j] = Q[i, j]


@jit
def box_scratch():
    # box_box_vjp_sat's temporaries, for a caller taking many pairs' vjps: the face polygon's
    # stages and their cotangents (5, 16, 3), its points' sources (4, 16, 3) and counts (5),
    # Q's cotangent (3, 3) and C's (3) (_box_face_vjp)
    return (np.empty((5, 16, 3)), np.empty((5, 16, 3)), np.empty((4, 16, 3), dtype=np.int64),
            np.empty(5, dtype=np.int64), np.empty((3, 3)), np.empty(3))


@jit(entry=True)
def collide_box_box_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar, point_bar,
                        kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    sat = np.empty(BOX_SAT)
    box_box_sat(pa, Ra, sa, pb, Rb, sb, margin, sat)
    return box_box_vjp_sat(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar, point_bar,
                           kink, pa_bar, Ra_bar, pb_bar, Rb_bar, sat, box_scratch())


@jit
def box_box_vjp_sat(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar, point_bar, kink,
                    pa_bar, Ra_bar, pb_bar, Rb_bar, sat, scratch):
    """collide_box_box_vjp from the pair's separating-axis test (box_box_sat's sat), with its
    temporaries in scratch (box_scratch's). Branches held fixed: the manifold axis (kind), the
    axis of the SAT maximum (the reported minimum gap), and within a face manifold its features
    (see _box_face_vjp)."""
    kind = np.int64(sat[0])
    if kind < 0:
        return 0  # a separating axis beyond the margin
    iax, smax, C = np.int64(sat[1]), sat[2], (sat[3], sat[4], sat[5])
    Q = sat[6:15].reshape((3, 3))
    Lb = (sat[15], sat[16], sat[17])
    sgl = _sgn(_dot(Lb, C))
    La = _scale(sgl, Lb)
    Q_bar, C_bar = scratch[4], scratch[5]
    Q_bar[:, :] = 0.0
    C_bar[:] = 0.0
    if kind < 3:
        cnt, sep_bar = _box_face_vjp(pa, Ra, sa, kind, _sgn(La[kind]), pb, Rb, sb, -1.0, smax,
                                     iax == kind, margin, k0, dist_bar, normal_bar, point_bar,
                                     kink, pa_bar, Ra_bar, pb_bar, Rb_bar, scratch)
    elif kind < 6:
        kb = kind - 3
        sb_ = -_sgn(La[0] * Q[0, kb] + La[1] * Q[1, kb] + La[2] * Q[2, kb])
        cnt, sep_bar = _box_face_vjp(pb, Rb, sb, kb, sb_, pa, Ra, sa, 1.0, smax, iax == kind,
                                     margin, k0, dist_bar, normal_bar, point_bar, kink, pb_bar,
                                     Rb_bar, pa_bar, Ra_bar, scratch)
    else:
        i = (kind - 6) // 3
        j = (kind - 6) % 3
        ea = (0.0 if i == 0 else _sgn(La[0]) * sa[0], 0.0 if i == 1 else _sgn(La[1]) * sa[1],
              0.0 if i == 2 else _sgn(La[2]) * sa[2])
        eb = C
        esg = np.zeros(3)  # eb = C - sum_(m != j) esg_m sb_m Q_m
        for m in range(3):
            if m != j:
                qm = (Q[0, m], Q[1, m], Q[2, m])
                esg[m] = _sgn(_dot(La, qm))
                eb = _axpy(-esg[m] * sb[m], qm, eb)
        ub = (Q[0, j], Q[1, j], Q[2, j])
        rr = _sub(ea, eb)
        s, t = _seg_closest(Q[i, j], rr[i], _dot(ub, rr), sa[i], sb[j])
        x = _mid(_setk(ea, i, ea[i] + s), _axpy(t, ub, eb))
        sep_bar, nk, ptb = _bars(k0, dist_bar, normal_bar, point_bar)
        # normal = Ra (-sgl Lb)
        _add_outer(Ra_bar, nk, _scale(-1.0, La))
        Lb_bar = _scale(-sgl, _tolocal(Ra, nk))
        _box_axis_vjp(kind, sa, sb, Q, C, 0.0, Lb_bar, kink, Q_bar, C_bar)
        # point = pa + Ra x
        _add(pa_bar, ptb)
        _add_outer(Ra_bar, ptb, x)
        xl = _scale(0.5, _tolocal(Ra, ptb))
        eb_bar = xl
        ub_bar = _scale(t, xl)
        bbb, ccb, ffb = _seg_closest_vjp(Q[i, j], rr[i], _dot(ub, rr), sa[i], sb[j], xl[i],
                                         _dot(ub, xl), kink)
        Q_bar[i, j] += bbb
        ub_bar = _axpy(ffb, rr, ub_bar)
        rr_bar = _axpy(ccb, _axis(i, 1.0), _scale(ffb, ub))
        eb_bar = _sub(eb_bar, rr_bar)  # rr = ea - eb, ea constant
        _add_col(Q_bar, j, ub_bar)
        _add(C_bar, eb_bar)
        for m in range(3):
            if m != j:
                _add_col(Q_bar, m, _scale(-esg[m] * sb[m], eb_bar))
        cnt = 1
    # the reported minimum gap is S of axis iax
    _box_axis_vjp(iax, sa, sb, Q, C, sep_bar, (0.0, 0.0, 0.0), kink, Q_bar, C_bar)
    # Q = Ra^T Rb, C = Ra^T (pb - pa)
    for i in range(3):
        for j in range(3):
            for q in range(3):
                Ra_bar[q, i] += Rb[q, j] * Q_bar[i, j]
                Rb_bar[q, j] += Ra[q, i] * Q_bar[i, j]
    _add_outer(Ra_bar, _sub(pb, pa), C_bar)
    cw = _toworld(Ra, C_bar)
    _add(pb_bar, cw)
    _add(pa_bar, _scale(-1.0, cw))
    return cnt
