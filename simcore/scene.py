"""Scene builder: validates user input and packs it into a Model."""
import math
import warnings

import numpy as np

from simcore.contact import CONTACT_MODELS, HardContact, PenaltyContact, SmoothedContact
from simcore.kernels import consts
from simcore.model import Model, bounding_radius

_KINDS = {"dynamic": consts.BODY_DYNAMIC, "static": consts.BODY_STATIC,
          "kinematic": consts.BODY_KINEMATIC}
# a quaternion whose norm is off by more than this is an error, not rounding
QUAT_NORM_TOL = 1e-6


def as_vector(name, value, n):
    """``value`` as a finite float64 vector of length n, or ValueError naming ``name``."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {n} numbers, got {value!r}") from None
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {value!r} with shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


def as_scalar(name, value, positive=False, nonnegative=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return value


def as_unit_quat(name, value):
    """A unit quaternion (w, x, y, z); rounding-level norm errors are normalised away."""
    q = as_vector(name, value, 4)
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUAT_NORM_TOL:
        raise ValueError(f"{name} must be a unit quaternion (w, x, y, z), got {value!r} "
                         f"with norm {norm:.6g}")
    return q / norm


def quat_z_to(n):
    """Unit quaternion rotating the z axis onto the unit vector n."""
    c = n[2]
    if c < -1.0 + 1e-12:
        return np.array([0.0, 1.0, 0.0, 0.0])
    q = np.array([1.0 + c, -n[1], n[0], 0.0])  # (1 + z.n, z x n)
    return q / np.linalg.norm(q)


def shape_inertia(gtype, size, mass):
    """Principal moments (body frame) of a solid sphere, box (half extents) or capsule."""
    if gtype == consts.GEOM_SPHERE:
        return np.full(3, 0.4 * mass * size[0] ** 2)
    if gtype == consts.GEOM_BOX:
        hx, hy, hz = size
        return mass / 3.0 * np.array([hy * hy + hz * hz, hx * hx + hz * hz, hx * hx + hy * hy])
    # capsule: cylinder of length 2 hl plus two hemispheres, mass shared by volume
    r, hl = size[0], size[1]
    v_cyl, v_sph = math.pi * r * r * 2 * hl, 4.0 / 3.0 * math.pi * r ** 3
    m_cyl, m_sph = mass * v_cyl / (v_cyl + v_sph), mass * v_sph / (v_cyl + v_sph)
    izz = 0.5 * m_cyl * r * r + 0.4 * m_sph * r * r
    # each hemisphere: 83/320 m r^2 about its centroid, which sits 3r/8 beyond the cylinder end
    ixx = (m_cyl * (r * r / 4 + (2 * hl) ** 2 / 12)
           + m_sph * (83.0 / 320.0 * r * r + (hl + 3.0 * r / 8.0) ** 2))
    return np.array([ixx, ixx, izz])


class Scene:
    """Builder for a scene of rigid bodies. Body ids are returned by ``add_*`` in call order.

    Args:
        dt: step length in seconds.
        gravity: (3,) world acceleration.
        margin: base speculative contact distance (m); each pair also gets the distance its
            bodies can travel in one step.
        max_speed: a rollout in which a dynamic body's speed |v| exceeds this (m/s) raises
            SimulationError. None: no such bound (a rollout still stops at a state far faster
            than anything in the scene explains).
    """

    def __init__(self, dt=1e-3, gravity=(0.0, 0.0, -9.81), margin=5e-3, max_speed=None):
        self.dt = as_scalar("dt", dt, positive=True)
        self.gravity = as_vector("gravity", gravity, 3)
        self.margin = as_scalar("margin", margin, nonnegative=True)
        self.max_speed = math.inf if max_speed is None else as_scalar("max_speed", max_speed,
                                                                        positive=True)
        self.bodies = []  # one dict per body, in id order

    def _add(self, gtype, size, mass, pos, quat, vel, ang_vel, friction, restitution, kind,
             inertia, torsional_friction=0.0, rolling_friction=0.0):
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
        body = dict(
            type=gtype, size=size, kind=_KINDS[kind],
            pos=as_vector("pos", pos, 3), quat=as_unit_quat("quat", quat),
            vel=as_vector("vel", vel, 3), ang_vel=as_vector("ang_vel", ang_vel, 3),
            friction=as_scalar("friction", friction, nonnegative=True),
            restitution=as_scalar("restitution", restitution, nonnegative=True),
            torsional_friction=as_scalar("torsional_friction", torsional_friction,
                                         nonnegative=True),
            rolling_friction=as_scalar("rolling_friction", rolling_friction, nonnegative=True))
        if body["restitution"] > 1.0:
            raise ValueError(f"restitution must be in [0, 1], got {restitution!r}")
        if kind == "dynamic":
            body["mass"] = as_scalar("mass", mass, positive=True)
            if inertia is None:
                body["inertia"] = shape_inertia(gtype, size, body["mass"])
            else:
                body["inertia"] = as_vector("inertia", inertia, 3)
                if np.any(body["inertia"] <= 0):
                    raise ValueError(f"inertia must be positive, got {inertia!r}")
        else:
            if mass is not None:
                as_scalar("mass", mass, positive=True)
            body["mass"] = math.inf
            body["inertia"] = np.ones(3)
            if kind == "static" and (np.any(body["vel"]) or np.any(body["ang_vel"])):
                raise ValueError("a static body cannot have vel or ang_vel; use kind='kinematic'")
        self.bodies.append(body)
        return len(self.bodies) - 1

    def add_plane(self, normal=(0.0, 0.0, 1.0), offset=0.0, friction=0.5, restitution=0.0,
                  torsional_friction=0.0, rolling_friction=0.0):
        """A static half-space ``normal . p <= offset``; its free side is ``normal . p > offset``.

        Every ``add_*`` takes ``friction`` (sliding, Coulomb's mu; a pair uses sqrt(mu_a mu_b)),
        ``restitution`` (a pair uses the max), and ``torsional_friction`` and
        ``rolling_friction``: lengths (m), the torque about the normal and in the tangent plane
        that a contact resists with per unit normal force (a pair uses the max, as MuJoCo's
        condim 4 and 6 do; 0: none; docs/contact-models.md, "Rolling and torsional friction").

        A non-unit normal is normalised (with the offset, so the plane is the same).
        Returns the body id.
        """
        n = as_vector("normal", normal, 3)
        norm = float(np.linalg.norm(n))
        if norm < 1e-12:
            raise ValueError(f"normal must be non-zero, got {normal!r}")
        n = n / norm
        d = as_scalar("offset", offset) / norm
        return self._add(consts.GEOM_PLANE, np.zeros(3), None, d * n, quat_z_to(n), np.zeros(3),
                         np.zeros(3), friction, restitution, "static", None,
                         torsional_friction, rolling_friction)

    def add_sphere(self, radius, mass=1.0, pos=(0.0, 0.0, 0.0), quat=(1.0, 0.0, 0.0, 0.0),
                   vel=(0.0, 0.0, 0.0), ang_vel=(0.0, 0.0, 0.0), friction=0.5, restitution=0.0,
                   kind="dynamic", inertia=None, torsional_friction=0.0, rolling_friction=0.0):
        """A solid sphere. ``kind``: 'dynamic', 'static' or 'kinematic' (velocity prescribed by
        the controls). ``inertia``: principal moments, default that of a uniform solid.
        Returns the body id."""
        r = as_scalar("radius", radius, positive=True)
        return self._add(consts.GEOM_SPHERE, np.array([r, 0.0, 0.0]), mass, pos, quat, vel,
                         ang_vel, friction, restitution, kind, inertia, torsional_friction,
                         rolling_friction)

    def add_box(self, half_extents, mass=1.0, pos=(0.0, 0.0, 0.0), quat=(1.0, 0.0, 0.0, 0.0),
                vel=(0.0, 0.0, 0.0), ang_vel=(0.0, 0.0, 0.0), friction=0.5, restitution=0.0,
                kind="dynamic", inertia=None, torsional_friction=0.0, rolling_friction=0.0):
        """A solid box with half extents (hx, hy, hz) along its body axes. Returns the body id."""
        h = as_vector("half_extents", half_extents, 3)
        if np.any(h <= 0):
            raise ValueError(f"half_extents must be positive, got {half_extents!r}")
        return self._add(consts.GEOM_BOX, h, mass, pos, quat, vel, ang_vel, friction,
                         restitution, kind, inertia, torsional_friction, rolling_friction)

    def add_capsule(self, radius, half_length, mass=1.0, pos=(0.0, 0.0, 0.0),
                    quat=(1.0, 0.0, 0.0, 0.0), vel=(0.0, 0.0, 0.0), ang_vel=(0.0, 0.0, 0.0),
                    friction=0.5, restitution=0.0, kind="dynamic", inertia=None,
                    torsional_friction=0.0, rolling_friction=0.0):
        """A solid capsule: a segment of half length ``half_length`` along body z, swept by a
        sphere of ``radius``. Returns the body id."""
        r = as_scalar("radius", radius, positive=True)
        hl = as_scalar("half_length", half_length, positive=True)
        return self._add(consts.GEOM_CAPSULE, np.array([r, hl, 0.0]), mass, pos, quat, vel,
                         ang_vel, friction, restitution, kind, inertia, torsional_friction,
                         rolling_friction)

    @classmethod
    def from_mjcf(cls, xml_or_path):
        """A scene from MuJoCo XML (MJCF): the subset simcore simulates.

        Args:
            xml_or_path: MJCF text (a str starting with ``<`` after blanks) or the path (str or
                os.PathLike) of an MJCF file.

        Returns:
            The scene; body ids follow the document order of the geoms. Reads back what
            ``to_mjcf`` writes (``Scene.from_mjcf(scene.to_mjcf())`` rolls out as ``scene``).

        Raises:
            ValueError: for anything simcore cannot simulate (hinge joints, meshes, several
                geoms in one body, actuators, ...), naming the element and its line. What is
                read, skipped and refused is listed in ``simcore.mjcf.scene_from_mjcf``.
        """
        from simcore.mjcf import scene_from_mjcf
        return scene_from_mjcf(xml_or_path, cls)

    def to_mjcf(self, path=None):
        """The same scene as MuJoCo XML (MJCF); also written to ``path`` when given."""
        from simcore.mjcf import scene_to_mjcf
        return scene_to_mjcf(self, path)

    def build(self, contact=None):
        """Pack the scene into a Model.

        Args:
            contact: ``PenaltyContact(...)`` (the default), ``HardContact(...)`` or
                ``SmoothedContact(kappa=...)``.
        """
        if contact is None:
            contact = PenaltyContact()
        if not isinstance(contact, CONTACT_MODELS):
            raise ValueError(f"contact must be one of PenaltyContact, HardContact, "
                             f"SmoothedContact, got {contact!r}")
        if not self.bodies:
            raise ValueError("the scene has no bodies")
        b = self.bodies
        ignored = {SmoothedContact: "SmoothedContact has no restitution (a bounce needs the "
                                    "switch it exists to avoid)"}
        if isinstance(contact, PenaltyContact) and contact.fixed_spring:
            ignored[PenaltyContact] = ("PenaltyContact(stiffness=...) has no restitution (its "
                                       "time-constant form, the default, has)")
        elif isinstance(contact, PenaltyContact) and contact.damping_ratio is not None:
            ignored[PenaltyContact] = ("PenaltyContact(damping_ratio=...) sets the damping "
                                       "itself (without it, each pair's follows its restitution)")
        with_e = [i for i, x in enumerate(b) if x["restitution"] > 0.0]
        if with_e and type(contact) in ignored:
            warnings.warn(f"Scene.build: bodies {with_e} have restitution, which this model "
                          f"ignores: {ignored[type(contact)]}", stacklevel=2)
        f64 = lambda key: np.ascontiguousarray([x[key] for x in b], dtype=np.float64)
        kind = np.array([x["kind"] for x in b], dtype=np.int64)
        mass = f64("mass")
        inertia = f64("inertia")
        dynamic = kind == consts.BODY_DYNAMIC
        gtype = np.array([x["type"] for x in b], dtype=np.int64)
        size = f64("size")
        rbound = bounding_radius(gtype, size)
        # every model carries every config's fields (one kernel signature); unused ones default
        pen = contact if isinstance(contact, PenaltyContact) else PenaltyContact()
        hard = contact if isinstance(contact, HardContact) else HardContact()
        smooth = contact if isinstance(contact, SmoothedContact) else SmoothedContact()
        solver = smooth if isinstance(contact, SmoothedContact) else hard
        code = {PenaltyContact: consts.CONTACT_PENALTY, HardContact: consts.CONTACT_HARD,
                SmoothedContact: consts.CONTACT_SMOOTHED}[type(contact)]
        return Model(
            nbody=len(b), opt_dt=self.dt, opt_gravity=self.gravity.copy(),
            opt_margin=self.margin, opt_contact=code,
            opt_substeps=int(pen.substeps) if code == consts.CONTACT_PENALTY else 1,
            opt_max_iter=int(solver.max_iter),
            opt_polish_max_contacts=int(solver.polish_max_contacts),
            opt_tol_fail=1e-6, opt_max_speed=self.max_speed,
            pen_time_constant=0.0 if pen.fixed_spring else pen.time_constant,
            pen_damping_ratio=-1.0 if pen.damping_ratio is None else pen.damping_ratio,
            pen_stiffness=pen.stiffness if pen.fixed_spring else 1e5,
            pen_damping=pen.damping if pen.fixed_spring else 1.0,
            pen_exponent=pen.exponent, pen_friction_smoothing=pen.friction_smoothing,
            hard_toi=int(hard.toi), hard_regularization=float(hard.regularization),
            hard_baumgarte=float(hard.baumgarte),
            hard_restitution_threshold=float(hard.restitution_threshold),
            hard_tol=float(hard.tol), hard_depenetration_speed=hard.depenetration_speed,
            smooth_kappa=float(smooth.kappa),
            smooth_depenetration_speed=smooth.depenetration_speed,
            body_kind=kind, body_mass=mass, body_invmass=np.where(dynamic, 1.0 / mass, 0.0),
            body_inertia=inertia,
            body_invinertia=np.where(dynamic[:, None], 1.0 / inertia, 0.0),
            body_friction=f64("friction"), body_restitution=f64("restitution"),
            body_torsional_friction=f64("torsional_friction"),
            body_rolling_friction=f64("rolling_friction"),
            geom_type=gtype, geom_size=size, geom_rbound=rbound,
            init_pos=f64("pos"), init_quat=f64("quat"), init_vel=f64("vel"),
            init_ang_vel=f64("ang_vel"))
