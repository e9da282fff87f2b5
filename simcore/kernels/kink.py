"""Slopes at exact non-smooth points, by the documented kink convention (DESIGN.md section 4)."""
from simcore._jit import jit
from simcore.kernels.consts import KINK_LEFT, KINK_MEAN


@jit
def ramp_slope(x, kink):
    # d max(0, x) / dx: 0 below, 1 above; at x == 0 the mean 1/2, or the left (0) / right (1) side
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return 0.0
    if kink == KINK_MEAN:
        return 0.5
    return 0.0 if kink == KINK_LEFT else 1.0


@jit
def clamp_slope(x, lo, hi, kink):
    # d clamp(x, lo, hi) / dx, with the kink convention at x == lo or x == hi
    if lo < x < hi:
        return 1.0
    if x == lo:
        return ramp_slope(0.0, kink) if lo < hi else 0.0
    if x == hi:
        return 1.0 - ramp_slope(0.0, kink) if lo < hi else 0.0
    return 0.0
