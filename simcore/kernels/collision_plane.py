"""Narrow phase, pairs with a plane (b = plane, outward normal R[:, 2] through p): sphere, capsule
and box against it, each forward with its vjp (collision.py holds the contract)."""
from simcore._jit import jit
from simcore.kernels.collision_common import (_add, _add_col, _add_outer, _axpy, _bars, _col, _dot,
                                              _emit, _point_plane_vjp, _scale, _sub, _toworld)


@jit(entry=True, inline="always")  # per pair or contact
def collide_sphere_plane(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Sphere a on half-space b: one contact below the centre."""
    n = _col(Rb, 2)
    c = _dot(n, _sub(pa, pb))  # centre height above the plane
    d = c - sa[0]
    if d >= margin:
        return 0
    _emit(k0, d, n, _axpy(-0.5 * (sa[0] + c), n, pa), dist_out, normal_out, point_out)
    return 1


@jit(entry=True, inline="always")  # per pair or contact
def collide_sphere_plane_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar, point_bar,
                             kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    n = _col(Rb, 2)
    if _dot(n, _sub(pa, pb)) - sa[0] >= margin:
        return 0
    db, nb, ptb = _bars(k0, dist_bar, normal_bar, point_bar)
    Xb, nb, pbb = _point_plane_vjp(pa, sa[0], n, pb, db, nb, ptb)
    _add(pa_bar, Xb)
    _add(pb_bar, pbb)
    _add_col(Rb_bar, 2, nb)
    return 1


@jit(inline="always")  # per end
def _capsule_end_height(pa, Ra, sa, pb, n, e):
    # end e of capsule a's segment (sign sg): its height above the plane (normal n through pb);
    # shared by collide_capsule_plane and its vjp, so the same ends pass
    sg = 1.0 - 2.0 * e
    return _dot(n, _sub(pa, pb)) + sg * (sa[1] * _dot(n, _col(Ra, 2))), sg


@jit(entry=True)
def collide_capsule_plane(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Capsule a on half-space b: one contact per segment end within the margin."""
    n = _col(Rb, 2)
    u = _col(Ra, 2)
    r = sa[0]
    hl = sa[1]
    cnt = 0
    for e in range(2 if hl > 0.0 else 1):  # a zero-length capsule is a sphere: one contact
        c, sg = _capsule_end_height(pa, Ra, sa, pb, n, e)
        if c - r < margin:
            x = _axpy(sg * hl, u, pa)
            _emit(k0 + cnt, c - r, n, _axpy(-0.5 * (r + c), n, x), dist_out, normal_out, point_out)
            cnt += 1
    return cnt


@jit(entry=True)
def collide_capsule_plane_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar,
                              point_bar, kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    n = _col(Rb, 2)
    u = _col(Ra, 2)
    r = sa[0]
    hl = sa[1]
    cnt = 0
    for e in range(2 if hl > 0.0 else 1):
        c, sg = _capsule_end_height(pa, Ra, sa, pb, n, e)
        x = _axpy(sg * hl, u, pa)
        if c - r < margin:
            db, nb, ptb = _bars(k0 + cnt, dist_bar, normal_bar, point_bar)
            Xb, nb, pbb = _point_plane_vjp(x, r, n, pb, db, nb, ptb)
            _add(pa_bar, Xb)
            _add_col(Ra_bar, 2, _scale(sg * hl, Xb))
            _add(pb_bar, pbb)
            _add_col(Rb_bar, 2, nb)
            cnt += 1
    return cnt


@jit(inline="always")  # per vertex
def _box_vertex_height(pa, Ra, sa, pb, n, v):
    # vertex v of box a (signs s0, s1, s2 of its half extents): its height above the plane
    # (normal n through pb); shared by collide_box_plane and its vjp, so the same vertices pass
    s0 = 1.0 if v & 1 else -1.0
    s1 = 1.0 if v & 2 else -1.0
    s2 = 1.0 if v & 4 else -1.0
    c = (_dot(n, _sub(pa, pb)) + s0 * sa[0] * _dot(n, _col(Ra, 0))
         + s1 * sa[1] * _dot(n, _col(Ra, 1)) + s2 * sa[2] * _dot(n, _col(Ra, 2)))
    return c, s0, s1, s2


@jit(entry=True)
def collide_box_plane(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Box a on half-space b: one contact per vertex within the margin (up to 8)."""
    n = _col(Rb, 2)
    cnt = 0
    for v in range(8):
        c, s0, s1, s2 = _box_vertex_height(pa, Ra, sa, pb, n, v)
        if c < margin:
            x = _toworld(Ra, (s0 * sa[0], s1 * sa[1], s2 * sa[2]))
            x = (pa[0] + x[0] - 0.5 * c * n[0], pa[1] + x[1] - 0.5 * c * n[1],
                 pa[2] + x[2] - 0.5 * c * n[2])
            _emit(k0 + cnt, c, n, x, dist_out, normal_out, point_out)
            cnt += 1
    return cnt


@jit(entry=True)
def collide_box_plane_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar, point_bar,
                          kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    n = _col(Rb, 2)
    cnt = 0
    for v in range(8):
        c, s0, s1, s2 = _box_vertex_height(pa, Ra, sa, pb, n, v)
        if c < margin:
            loc = (s0 * sa[0], s1 * sa[1], s2 * sa[2])
            X = _axpy(1.0, _toworld(Ra, loc), pa)
            db, nb, ptb = _bars(k0 + cnt, dist_bar, normal_bar, point_bar)
            Xb, nb, pbb = _point_plane_vjp(X, 0.0, n, pb, db, nb, ptb)
            _add(pa_bar, Xb)
            _add_outer(Ra_bar, Xb, loc)
            _add(pb_bar, pbb)
            _add_col(Rb_bar, 2, nb)
            cnt += 1
    return cnt
