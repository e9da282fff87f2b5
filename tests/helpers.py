"""Physics helpers shared by tests."""
import numpy as np

from simcore.kernels import consts


def body_momentum(model, traj, t):
    """Total linear momentum and angular momentum about the origin of the dynamic bodies."""
    dyn = model.body_kind == consts.BODY_DYNAMIC
    p = (model.body_mass[dyn, None] * traj.vel[t, dyn]).sum(axis=0)
    L = np.zeros(3)
    for i in np.flatnonzero(dyn):
        R = quat_to_matrix(traj.quat[t, i])
        Iw = R @ (model.body_inertia[i] * (R.T @ traj.ang_vel[t, i]))
        L += np.cross(traj.pos[t, i], model.body_mass[i] * traj.vel[t, i]) + Iw
    return p, L


def quat_to_matrix(q):
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
