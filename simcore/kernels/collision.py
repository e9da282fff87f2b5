"""Narrow phase: the dispatcher over geometry pairs, forward and vjp. The pair routines live by
family: collision_plane.py (pairs with a plane), collision_round.py (spheres and capsules),
collision_box.py (box pairs); collision_common.py holds their shared pieces and the contact
tangent frame.

Every ``collide_X_Y(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)`` has body a
of the higher type code, writes contacts at rows k0, k0+1, ... and returns how many (0..MAXCON_PAIR).
Per contact: dist = signed gap (negative = penetration), normal = unit vector from b to a, point =
midpoint of the two surface points. Only contacts with dist < margin are written.

Shapes (p, R, s): sphere s = (r, 0, 0); capsule s = (r, half_length, 0) along body z; box s = half
extents; plane: outward normal R[:, 2] through p.

Adjoints: collide_X_Y_vjp(..., dist_bar, normal_bar, point_bar, kink, pa_bar, Ra_bar, pb_bar,
Rb_bar) maps the cotangents of X_Y's contacts' (dist, normal, point) at rows k0.. onto the poses,
pa_bar, pb_bar (3,) and Ra_bar, Rb_bar (3, 3), accumulated, and returns the contact count.
Contact features are held fixed (the derivative of the branch the forward pass took); clamps at
their bounds follow the kink convention.
"""
from simcore._jit import jit
from simcore.kernels.collision_box import (collide_box_box, collide_box_box_vjp,
                                           collide_box_capsule, collide_box_capsule_vjp,
                                           collide_box_sphere, collide_box_sphere_vjp)
from simcore.kernels.collision_common import tangent_frame, tangent_frame_row
from simcore.kernels.collision_plane import (collide_box_plane, collide_box_plane_vjp,
                                             collide_capsule_plane, collide_capsule_plane_vjp,
                                             collide_sphere_plane, collide_sphere_plane_vjp)
from simcore.kernels.collision_round import (collide_capsule_capsule, collide_capsule_capsule_vjp,
                                             collide_capsule_sphere, collide_capsule_sphere_vjp,
                                             collide_sphere_sphere, collide_sphere_sphere_vjp)
from simcore.kernels.consts import GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE, GEOM_SPHERE

__all__ = ["collide", "collide_vjp", "tangent_frame", "tangent_frame_row"]  # (collision_common's)


@jit(entry=True, inline="always")  # per pair or contact
def collide(ta, tb, pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Dispatch on the geometry types (requires ta >= tb); plane-plane and unknown pairs give 0."""
    if ta == GEOM_SPHERE:
        if tb == GEOM_PLANE:
            return collide_sphere_plane(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)
        if tb == GEOM_SPHERE:
            return collide_sphere_sphere(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)
    elif ta == GEOM_CAPSULE:
        if tb == GEOM_PLANE:
            return collide_capsule_plane(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)
        if tb == GEOM_SPHERE:
            return collide_capsule_sphere(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)
        if tb == GEOM_CAPSULE:
            return collide_capsule_capsule(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out,
                                           point_out)
    elif ta == GEOM_BOX:
        if tb == GEOM_PLANE:
            return collide_box_plane(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)
        if tb == GEOM_SPHERE:
            return collide_box_sphere(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)
        if tb == GEOM_CAPSULE:
            return collide_box_capsule(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)
        if tb == GEOM_BOX:
            return collide_box_box(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out)
    return 0


@jit(entry=True, inline="always")  # per pair: one compiled call (the pair's own vjp) instead of two
def collide_vjp(ta, tb, pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar, point_bar,
                kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    """Dispatch like ``collide``: accumulates the pair's pose cotangents and returns its contact
    count (0 for plane-plane and unknown pairs)."""
    if ta == GEOM_SPHERE:
        if tb == GEOM_PLANE:
            return collide_sphere_plane_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                            normal_bar, point_bar, kink, pa_bar, Ra_bar, pb_bar,
                                            Rb_bar)
        if tb == GEOM_SPHERE:
            return collide_sphere_sphere_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                             normal_bar, point_bar, kink, pa_bar, Ra_bar, pb_bar,
                                             Rb_bar)
    elif ta == GEOM_CAPSULE:
        if tb == GEOM_PLANE:
            return collide_capsule_plane_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                             normal_bar, point_bar, kink, pa_bar, Ra_bar, pb_bar,
                                             Rb_bar)
        if tb == GEOM_SPHERE:
            return collide_capsule_sphere_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                              normal_bar, point_bar, kink, pa_bar, Ra_bar,
                                              pb_bar, Rb_bar)
        if tb == GEOM_CAPSULE:
            return collide_capsule_capsule_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                               normal_bar, point_bar, kink, pa_bar, Ra_bar,
                                               pb_bar, Rb_bar)
    elif ta == GEOM_BOX:
        if tb == GEOM_PLANE:
            return collide_box_plane_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                         normal_bar, point_bar, kink, pa_bar, Ra_bar, pb_bar,
                                         Rb_bar)
        if tb == GEOM_SPHERE:
            return collide_box_sphere_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                          normal_bar, point_bar, kink, pa_bar, Ra_bar, pb_bar,
                                          Rb_bar)
        if tb == GEOM_CAPSULE:
            return collide_box_capsule_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                           normal_bar, point_bar, kink, pa_bar, Ra_bar, pb_bar,
                                           Rb_bar)
        if tb == GEOM_BOX:
            return collide_box_box_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar,
                                       normal_bar, point_bar, kink, pa_bar, Ra_bar, pb_bar,
                                       Rb_bar)
    return 0
