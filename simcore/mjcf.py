"""MuJoCo XML (MJCF) out and in: ``Scene.to_mjcf`` and ``Scene.from_mjcf``.

Export mapping (MuJoCo and simcore share quaternion order w, x, y, z, body-to-world):
- a plane (static) -> a ``<geom type="plane">`` in the worldbody at the plane body's pos / quat:
  both put the plane through pos with its normal along the local z axis;
- a dynamic body -> ``<body name="body{i}">`` with a ``<freejoint/>``, our exact mass and
  principal inertia in an ``<inertial>`` at the body origin, and one geom ``geom{i}``;
- any other static body -> a geom in the worldbody; a kinematic body -> a ``mocap="true"`` body;
- the initial state -> ``<keyframe><key name="init">``. A free joint's qvel is (linear velocity,
  world frame; angular velocity, BODY frame), so our world-frame ang_vel is rotated by R^T;
- what MJCF has no attribute for -> ``<custom><numeric name="simcore:...">`` (MuJoCo loads them
  as user data and does not use them): ``simcore:margin``, ``simcore:max_speed`` (when finite),
  ``simcore:restitution:geom{i}`` (when non-zero), ``simcore:velocity:body{i}`` (a kinematic
  body's world-frame vel and ang_vel, when non-zero) and ``simcore:ang_vel:body{i}`` (a dynamic
  body's world-frame ang_vel, when non-zero: the keyframe's body-frame value turned back to
  the world is only right to rounding, which contact amplifies over a rollout).

Only the scene is mapped: MuJoCo keeps its own contact model (soft constraints, friction pair
value max(mu_a, mu_b) instead of sqrt(mu_a mu_b), no restitution, no speculative margin), which
the XML says in comments. The import (``scene_from_mjcf``) reads what the export writes, and the
subset of hand-written MJCF listed in its docstring.
"""
import math
import os
import xml.etree.ElementTree as ET
from xml.parsers import expat

import numpy as np

from simcore.kernels import consts
from simcore.kernels.rotation import quat_mul, quat_to_mat
from simcore.scene import QUAT_NORM_TOL, Scene, quat_z_to

_GEOM_NAMES = {consts.GEOM_PLANE: "plane", consts.GEOM_SPHERE: "sphere",
               consts.GEOM_CAPSULE: "capsule", consts.GEOM_BOX: "box"}
# MuJoCo's default torsional and rolling friction (unused at its default condim 3)
TORSIONAL_FRICTION = 0.005
ROLLING_FRICTION = 0.0001
KEYFRAME_NAME = "init"
# prefix of the <custom><numeric> names that carry simcore's values MJCF has no attribute for
SIMCORE = "simcore:"


def _num(x):
    # shortest repr that round-trips exactly; -0.0 written as 0.0
    return repr(float(x) + 0.0)


def _vec(values):
    return " ".join(_num(x) for x in values)


def _geom_size(body):
    # MuJoCo sizes: sphere (r), capsule (r, half length along local z), box (half extents)
    size = body["size"]
    if body["type"] == consts.GEOM_SPHERE:
        return size[:1]
    if body["type"] == consts.GEOM_CAPSULE:
        return size[:2]
    return size[:3]


def _reach(body):
    # bounding radius of a non-plane shape about its centre
    size = body["size"]
    if body["type"] == consts.GEOM_BOX:
        return float(np.linalg.norm(size))
    if body["type"] == consts.GEOM_CAPSULE:
        return float(size[0] + size[1])
    return float(size[0])


def _plane_half_size(scene, plane):
    # planes are infinite for MuJoCo's collision; the size only draws them: cover every body
    # (twice its distance from the plane's point), at least 1 m
    extent = 0.0
    for b in scene.bodies:
        if b["type"] != consts.GEOM_PLANE:
            extent = max(extent, float(np.linalg.norm(b["pos"] - plane["pos"])) + _reach(b))
    return float(max(1.0, math.ceil(2.0 * extent)))


def _geom(parent, i, body, with_pose):
    attrs = {"name": f"geom{i}", "type": _GEOM_NAMES[body["type"]]}
    if with_pose:
        attrs["pos"] = _vec(body["pos"])
        attrs["quat"] = _vec(body["quat"])
    attrs["size"] = _vec(_geom_size(body))
    # MuJoCo takes a pair's friction as the max per component and its condim as the max;
    # simcore takes the max of the torsional and rolling frictions too, so each geom carries
    # its own values (0: none)
    attrs["friction"] = _vec((body["friction"], body["torsional_friction"],
                              body["rolling_friction"]))
    if body["rolling_friction"] > 0.0:
        attrs["condim"] = "6"
    elif body["torsional_friction"] > 0.0:
        attrs["condim"] = "4"
    return ET.SubElement(parent, "geom", attrs)


def _restitution_note(parent, i, body):
    if body["restitution"] > 0.0:
        parent.append(ET.Comment(f" body{i}: simcore restitution {_num(body['restitution'])} "
                                 f"(no MJCF attribute: kept in the custom numeric "
                                 f"{SIMCORE}restitution:geom{i}) "))


def _custom(root, scene):
    # simcore's values without an MJCF attribute, for Scene.from_mjcf
    custom = ET.SubElement(root, "custom")

    def numeric(name, values):
        ET.SubElement(custom, "numeric", {"name": SIMCORE + name, "data": _vec(values)})

    numeric("margin", [scene.margin])
    if math.isfinite(scene.max_speed):
        numeric("max_speed", [scene.max_speed])
    for i, body in enumerate(scene.bodies):
        if body["restitution"] > 0.0:
            numeric(f"restitution:geom{i}", [body["restitution"]])
        if body["kind"] == consts.BODY_KINEMATIC and (np.any(body["vel"])
                                                      or np.any(body["ang_vel"])):
            numeric(f"velocity:body{i}", np.concatenate([body["vel"], body["ang_vel"]]))
        if body["kind"] == consts.BODY_DYNAMIC and np.any(body["ang_vel"]):
            numeric(f"ang_vel:body{i}", body["ang_vel"])


def scene_to_mjcf(scene, path=None):
    """The scene as an MJCF string, written to ``path`` as well when given.

    Args:
        scene: a ``simcore.Scene`` (already validated by its ``add_*`` calls).
        path: optional file path (str or os.PathLike).

    Returns:
        The XML text. ``mujoco.MjModel.from_xml_string(xml)`` loads it; reset with
        ``mujoco.mj_resetDataKeyframe(model, data, 0)`` to start from the scene's initial state.
    """
    root = ET.Element("mujoco", {"model": "simcore_scene"})
    root.append(ET.Comment(
        " Generated by simcore.mjcf from a simcore.Scene. Body i is body{i} / geom{i}. "))
    root.append(ET.Comment(
        " Restitution: MJCF has no coefficient of restitution (MuJoCo's soft contacts are set by "
        "solref / solimp instead); simcore's non-zero values are kept in <custom> numerics "
        f"{SIMCORE}restitution:geom{{i}}, which MuJoCo does not use. "))
    root.append(ET.Comment(
        f" Other simcore values without an MJCF attribute are {SIMCORE}* numerics too: the "
        "speculative contact margin, max_speed, kinematic bodies' velocities (world frame: "
        "vel, ang_vel), and the free bodies' world-frame angular velocities, bit for bit (the "
        "keyframe's are in the body frame). Scene.from_mjcf reads them back. "))
    root.append(ET.Comment(
        " Contact: MuJoCo uses its own soft-constraint contact, not simcore's contact model; a "
        "pair's sliding friction is max(mu_a, mu_b) in MuJoCo, sqrt(mu_a mu_b) in simcore; "
        "torsional and rolling friction (condim 4 and 6) are the max in both. "))
    ET.SubElement(root, "compiler", {"angle": "radian", "inertiafromgeom": "auto"})
    # Euler is MuJoCo's semi-implicit Euler (v+ = v + h a, x+ = x + h v+), as in simcore
    option = {"timestep": _num(scene.dt), "gravity": _vec(scene.gravity), "integrator": "Euler"}
    if any(b["torsional_friction"] > 0.0 or b["rolling_friction"] > 0.0 for b in scene.bodies):
        # MuJoCo's default pyramidal cone lets a ball roll 37% farther than its rolling friction
        # allows, the elliptic one (round, like simcore's) 3% (tests/test_rolling.py)
        option["cone"] = "elliptic"
    ET.SubElement(root, "option", option)
    _custom(root, scene)
    world = ET.SubElement(root, "worldbody")

    qpos, qvel, mpos, mquat = [], [], [], []
    for i, body in enumerate(scene.bodies):
        kind = body["kind"]
        if body["type"] == consts.GEOM_PLANE:
            g = _geom(world, i, body, with_pose=True)
            half = _plane_half_size(scene, body)
            g.set("size", _vec((half, half, half / 10.0)))
            _restitution_note(world, i, body)
        elif kind == consts.BODY_STATIC:
            _geom(world, i, body, with_pose=True)
            _restitution_note(world, i, body)
        elif kind == consts.BODY_KINEMATIC:
            world.append(ET.Comment(
                f" body{i}: simcore kinematic body -> mocap body; its velocity "
                f"(vel {_vec(body['vel'])}, ang_vel {_vec(body['ang_vel'])}) is not part of "
                f"MJCF (the custom numeric {SIMCORE}velocity:body{i} keeps a non-zero one for "
                f"simcore): move it by setting data.mocap_pos / data.mocap_quat each step "))
            b = ET.SubElement(world, "body", {"name": f"body{i}", "pos": _vec(body["pos"]),
                                              "quat": _vec(body["quat"]), "mocap": "true"})
            _geom(b, i, body, with_pose=False)
            _restitution_note(b, i, body)
            mpos.extend(body["pos"])
            mquat.extend(body["quat"])
        else:
            b = ET.SubElement(world, "body", {"name": f"body{i}", "pos": _vec(body["pos"]),
                                              "quat": _vec(body["quat"])})
            ET.SubElement(b, "freejoint", {"name": f"joint{i}"})
            ET.SubElement(b, "inertial", {"pos": "0 0 0", "mass": _num(body["mass"]),
                                          "diaginertia": _vec(body["inertia"])})
            _geom(b, i, body, with_pose=False)
            _restitution_note(b, i, body)
            qpos.extend(body["pos"])
            qpos.extend(body["quat"])
            qvel.extend(body["vel"])
            # free joint: angular velocity in the body frame, w_body = R^T w_world
            R = np.empty((3, 3))
            quat_to_mat(np.asarray(body["quat"], dtype=np.float64), R)
            qvel.extend(R.T @ body["ang_vel"])

    keyframe = ET.SubElement(root, "keyframe")
    key = ET.SubElement(keyframe, "key", {"name": KEYFRAME_NAME, "time": "0"})
    if qpos:
        key.set("qpos", _vec(qpos))
        key.set("qvel", _vec(qvel))
    if mpos:
        key.set("mpos", _vec(mpos))
        key.set("mquat", _vec(mquat))

    ET.indent(root, space="  ")
    xml = ET.tostring(root, encoding="unicode") + "\n"
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(xml)
    return xml


# ---------------------------------------------------------------- import

_GEOM_TYPES = {"plane": consts.GEOM_PLANE, "sphere": consts.GEOM_SPHERE,
               "capsule": consts.GEOM_CAPSULE, "box": consts.GEOM_BOX}
MUJOCO_DENSITY = 1000.0  # kg / m^3, a geom's density when MJCF gives no mass
# a quaternion this close to unit norm is kept as written (normalising it again moves it an ulp)
_UNIT_ROUNDING = 1e-15
_ORIENTATIONS = ("quat", "euler", "axisangle", "xyaxes", "zaxis")
_FRAME = {"pos", *_ORIENTATIONS}

# Attributes per element: those read or checked, and those skipped because they only set
# MuJoCo's own contact solver, integrator or rendering (listed in scene_from_mjcf's docstring).
# Any other attribute is refused.
_COMPILER_READ = {"angle", "eulerseq", "inertiafromgeom", "coordinate", "boundmass",
                  "boundinertia", "settotalmass", "balanceinertia", "alignfree"}
_COMPILER_SKIP = {"autolimits", "strippath", "meshdir", "texturedir", "assetdir",
                  "discardvisual", "usethread", "fusestatic", "fitaabb", "saveinertial"}
_OPTION_READ = {"timestep", "gravity", "wind", "density", "viscosity"}
_OPTION_SKIP = {"integrator", "solver", "iterations", "tolerance", "ls_iterations",
                "ls_tolerance", "noslip_iterations", "noslip_tolerance", "ccd_iterations",
                "ccd_tolerance", "sdf_iterations", "sdf_initpoints", "cone", "jacobian",
                "impratio", "magnetic", "o_margin", "o_solref", "o_solimp", "o_friction",
                "apirate", "actuatorgroupdisable"}
_GEOM_READ = {"name", "class", "type", "size", "fromto", "mass", "density", "friction",
              "condim", "contype", "conaffinity", "margin", "gap", "shellinertia", "fluidshape",
              *_FRAME}
_GEOM_SKIP = {"rgba", "material", "group", "solref", "solimp", "solmix", "priority", "user",
              "fluidcoef"}
_BODY_READ = {"name", "mocap", "childclass", "gravcomp", *_FRAME}
_JOINT_READ = {"name", "class", "type", "damping", "armature", "stiffness", "frictionloss",
               "springdamper"}
# on a free joint MuJoCo itself has no use for these
_JOINT_SKIP = {"group", "pos", "axis", "ref", "springref", "limited", "range", "margin",
               "solreflimit", "solimplimit", "solreffriction", "solimpfriction",
               "actuatorfrclimited", "actuatorfrcrange", "actuatorgravcomp", "user"}
_INERTIAL_READ = {"mass", "diaginertia", "fullinertia", *_FRAME}
_KEY_READ = {"qpos", "qvel", "mpos", "mquat", "act", "ctrl"}

# elements skipped with everything inside them
_SKIPPED_SECTIONS = {"visual", "statistic", "size"}
_SKIPPED_IN_BODY = {"site", "camera", "light"}
_SKIPPED_ASSETS = {"texture", "material"}
# sections simcore has no counterpart for: refused when they hold anything
_REFUSED_SECTIONS = {"contact": "contact pairs and exclusions", "equality": "equality constraints",
                     "tendon": "tendons", "actuator": "actuators", "sensor": "sensors",
                     "deformable": "deformable objects"}


class _Node:
    """An XML element and the line it starts on (ElementTree keeps no line numbers).

    ``attrib`` includes the element's default-class values once resolved; ``inherited`` maps
    those attribute names to their class."""
    __slots__ = ("attrib", "children", "inherited", "line", "tag")

    def __init__(self, tag, attrib, line):
        self.tag, self.attrib, self.line = tag, attrib, line
        self.children = []
        self.inherited = {}


def _parse(text, source):
    parser = expat.ParserCreate()
    document = _Node("", {}, 0)
    stack = [document]

    def start(tag, attrib):
        node = _Node(tag, attrib, parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise ValueError(f"{source} is not well-formed XML: {exc}") from None
    return document.children[0]


def _read(xml_or_path):
    # (text, name used in error messages)
    if isinstance(xml_or_path, str) and xml_or_path.lstrip().startswith("<"):
        return xml_or_path, "MJCF"
    if isinstance(xml_or_path, (str, os.PathLike)):
        with open(xml_or_path, "rb") as f:
            return f.read(), str(os.fspath(xml_or_path))
    raise TypeError(f"xml_or_path must be MJCF text or a path (str or os.PathLike), got "
                    f"{type(xml_or_path).__name__}")


def _qmul(a, b):
    out = np.empty(4)
    quat_mul(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), out)
    return out


def _qmat(q):
    R = np.empty((3, 3))
    quat_to_mat(np.asarray(q, dtype=np.float64) / np.linalg.norm(q), R)
    return R


def _mat_quat(R):
    # rotation matrix -> unit quaternion (Shepperd: divide by the largest of the four terms)
    t = np.trace(R)
    if t > max(R[0, 0], R[1, 1], R[2, 2]):
        w = 0.5 * math.sqrt(1.0 + t)
        q = [w, (R[2, 1] - R[1, 2]) / (4 * w), (R[0, 2] - R[2, 0]) / (4 * w),
             (R[1, 0] - R[0, 1]) / (4 * w)]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 0.5 * math.sqrt(1.0 + R[i, i] - R[j, j] - R[k, k])
        q = np.empty(4)
        q[0] = (R[k, j] - R[j, k]) / (4 * s)
        q[1 + i] = s
        q[1 + j] = (R[j, i] + R[i, j]) / (4 * s)
        q[1 + k] = (R[k, i] + R[i, k]) / (4 * s)
    return np.asarray(q, dtype=np.float64)


def _geom_volume(gtype, size):
    r = size[0]
    if gtype == consts.GEOM_SPHERE:
        return 4.0 / 3.0 * math.pi * r ** 3
    if gtype == consts.GEOM_CAPSULE:
        return math.pi * r * r * 2.0 * size[1] + 4.0 / 3.0 * math.pi * r ** 3
    return 8.0 * size[0] * size[1] * size[2]


def scene_from_mjcf(xml_or_path, scene_type=Scene):
    """A Scene from the MJCF subset simcore simulates (``Scene.from_mjcf``).

    Args:
        xml_or_path: MJCF text (a str whose first non-blank character is ``<``) or the path
            (str or os.PathLike) of an MJCF file.
        scene_type: the class to build (``Scene`` or a subclass).

    Returns:
        The scene. Body ids follow the document order of the geoms (one body per geom).
        ``Scene.from_mjcf(scene.to_mjcf())`` rebuilds ``scene``: every value the export
        writes is read back bit for bit (floats are written round-trip exact, a frame valid
        as written is kept as written, and the world-frame angular velocities come from
        ``simcore:ang_vel`` numerics), so the two roll out identically.

    Raises:
        ValueError: for anything simcore cannot simulate, naming the element and its line (and
            the file), and the default class an offending value comes from; never a silent
            skip of something that changes the physics. Also for malformed XML.
        TypeError: ``xml_or_path`` is neither text nor a path.

    Read (MuJoCo's meaning and defaults):

    - ``<compiler>``: ``angle`` (``degree``, MuJoCo's default, or ``radian``) for ``euler``
      and ``axisangle``; ``eulerseq``: every sequence MuJoCo accepts, three of ``xyzXYZ``
      (lower case: axes rotating with the frame, upper case: fixed axes; default ``xyz``);
      ``inertiafromgeom`` (``auto``, ``true``, ``false``); ``coordinate="local"``;
      ``boundmass`` and ``boundinertia`` 0, ``settotalmass`` <= 0, ``balanceinertia`` and
      ``alignfree`` false (other values change masses or frames: refused).
    - ``<option>``: ``timestep`` (default 0.002) and ``gravity`` (default 0 0 -9.81);
      ``wind``, ``density``, ``viscosity`` must be 0 (simcore has no fluid forces).
    - ``<default>`` classes (nested, ``class`` and ``childclass``) for ``<geom>`` and
      ``<joint>``: an element's inherited values are checked as if written on it.
    - ``<worldbody>``: a ``<geom>`` in it is a static body. A ``<body>`` directly in it is a
      dynamic body with one ``<freejoint/>`` (or ``<joint type="free"/>``), a kinematic body
      when ``mocap="true"``, else a static body; it holds exactly one geom. Static bodies place
      their geom anywhere in their frame; a dynamic or mocap body's geom must sit at its origin
      (``pos`` 0; a rotation is fine: the simcore body takes the geom's frame).
    - Frames: ``pos`` and one of ``quat`` (w x y z, normalised as MuJoCo does), ``euler``,
      ``axisangle``, ``xyaxes``, ``zaxis``; a capsule also by ``fromto``.
    - ``<geom>``: ``type`` plane (normal: the frame's z axis; offset: normal . pos; ``size``
      only draws it), sphere, box, capsule; ``size``; ``friction`` (sliding, default 1;
      torsional and rolling, read where ``condim`` uses them: 4 the torsional, 6 both; values
      a geom's condim does not use must be MuJoCo's defaults 0.005 and 0.0001 or 0, since
      MuJoCo would still use them with a higher-condim partner); ``condim`` 3, 4 or 6;
      ``name``. Checked to be MuJoCo's defaults: ``contype`` and
      ``conaffinity`` 1 (simcore collides every pair), ``margin`` and ``gap`` 0,
      ``shellinertia`` false, ``fluidshape`` none.
    - Mass of a dynamic body: its ``<inertial>`` (``mass`` and ``diaginertia`` or
      ``fullinertia``, ``pos`` at the geom's centre, any orientation whose tensor is diagonal
      in the geom's frame to 1e-9 relative: simcore bodies have their principal axes along
      their shape's axes), used as given (as ``inertia=``); without one (or with
      ``inertiafromgeom="true"``) the geom's ``mass``, else ``density`` (default 1000) times its
      volume, and simcore's uniform-solid inertia, which is MuJoCo's.
    - A joint must be free, with ``damping``, ``armature``, ``stiffness``, ``frictionloss``,
      ``springdamper`` 0.
    - ``<keyframe>``: the first ``<key>``'s ``qpos``, ``qvel`` (a free joint's angular velocity
      is in the body frame; converted to world) ``mpos``, ``mquat``; ``act`` and ``ctrl`` must
      be empty. Without a key the bodies start at their frames, at rest.
    - ``<custom><numeric name="simcore:...">``: ``simcore:margin``, ``simcore:max_speed``,
      ``simcore:restitution:<geom name>``, ``simcore:velocity:<mocap body name>`` (vel,
      ang_vel, world frame), ``simcore:ang_vel:<free body name>`` (world frame: the exact
      value of the keyframe's, which it must match to 1e-12 relative), as ``Scene.to_mjcf``
      writes them; an unknown ``simcore:`` name, or one naming no such geom or body, is an
      error. Restitution defaults to 0.

    Skipped (no effect on the bodies, shapes, masses or forces simcore simulates): comments;
    ``<mujoco model>``; ``<visual>``, ``<statistic>``, ``<size>`` and all inside them;
    ``<asset>`` textures and materials; ``<site>``, ``<camera>``, ``<light>``; ``<custom>``
    numerics not named ``simcore:...``, ``<text>``, ``<tuple>``; keys after the first and a
    key's ``name`` and ``time``; a static or mocap body's ``<inertial>`` and geom ``mass`` and
    ``density`` (they do not move under forces); defaults for elements other than geom and joint; empty
    ``<contact>``, ``<equality>``, ``<tendon>``, ``<actuator>``, ``<sensor>``,
    ``<deformable>``; ``<compiler>`` ``autolimits``, ``strippath``, ``meshdir``,
    ``texturedir``, ``assetdir``, ``discardvisual``, ``usethread``, ``fusestatic``,
    ``fitaabb``, ``saveinertial`` and its ``<lengthrange>``; MuJoCo's solver and
    integrator settings in ``<option>`` (``integrator``, ``solver``, ``iterations``,
    ``tolerance``, ``ls_*``, ``noslip_*``, ``ccd_*``, ``sdf_*``, ``cone``, ``jacobian``,
    ``impratio``, ``magnetic``, ``o_*``, ``apirate``, ``actuatorgroupdisable``: simcore steps
    with its own contact model and semi-implicit Euler); geom ``rgba``, ``material``,
    ``group``, ``solref``, ``solimp``, ``solmix``, ``priority``, ``user``, ``fluidcoef``; body
    ``user``; ``<freejoint>`` ``group`` and ``align``; a free joint's ``group``, ``pos``,
    ``axis``, ``ref``, ``springref``, ``limited``, ``range``, ``margin``, ``sol*``,
    ``actuator*``, ``user``.

    Refused (ValueError): everything else, among it hinge, slide and ball joints; mesh, hfield,
    ellipsoid, cylinder and sdf geoms; meshes, height fields, skins and models in ``<asset>``;
    nested bodies; a body with no geom or several geoms or joints; a geom offset from its
    dynamic or mocap body's origin; a plane in a moving body; ``<frame>``, ``<replicate>``,
    ``<composite>``, ``<flexcomp>``, ``<attach>``, ``<include>``, ``<extension>``,
    ``<plugin>``; ``<option><flag>``; anything inside ``<contact>``, ``<equality>``,
    ``<tendon>``, ``<actuator>``, ``<sensor>``, ``<deformable>``; ``gravcomp``; unknown
    attributes. Note that MuJoCo would still simulate a different contact model (see the
    module docstring).
    """
    text, source = _read(xml_or_path)
    return _Importer(source).scene(_parse(text, source), scene_type)


class _Importer:
    def __init__(self, source):
        self.source = source
        self.angle = math.pi / 180.0  # radians per unit of euler / axisangle angles
        self.eulerseq = "xyz"
        self.inertiafromgeom = "auto"
        self.defaults = {}  # class -> {"geom": attrib, "joint": attrib}
        self.numeric = {}  # simcore numeric name -> (node, values)

    def error(self, node, message):
        return ValueError(f"{self.source} line {node.line}, <{node.tag}>: {message}")

    # ---- attributes

    def desc(self, node, name):
        # 'name="value"', and where an inherited value comes from
        text = f'{name}="{node.attrib[name]}"'
        if name in node.inherited:
            text += f" (from default class {node.inherited[name]!r})"
        return text

    def check_names(self, node, read=(), skip=()):
        for name in node.attrib:
            if name not in read and name not in skip:
                raise self.error(node, f"attribute {self.desc(node, name)} is not supported by "
                                       f"simcore")

    def floats(self, node, name, lo, hi=None):
        text = node.attrib[name]
        try:
            values = np.array([float(x) for x in text.split()], dtype=np.float64)
        except ValueError:
            raise self.error(node, f"{self.desc(node, name)} must be numbers") from None
        hi = lo if hi is None else hi
        if not lo <= len(values) <= hi or not np.all(np.isfinite(values)):
            count = lo if lo == hi else f"{lo} to {hi}"
            raise self.error(node, f"{self.desc(node, name)} must be {count} finite numbers")
        return values

    def scalar(self, node, name, default):
        return self.floats(node, name, 1)[0] if name in node.attrib else default

    def flag(self, node, name, default):
        value = node.attrib.get(name)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise self.error(node, f'{self.desc(node, name)} must be "true" or "false"')
        return value == "true"

    def require(self, ok, node, name, why):
        if not ok:
            raise self.error(node, f"{self.desc(node, name)} is not supported: {why}")

    def resolve(self, node, tag, cls):
        # merge the element's default class into its attributes (its own values win)
        cls = node.attrib.get("class", cls)
        if cls not in self.defaults:
            raise self.error(node, f"default class {cls!r} is not defined")
        base = self.defaults[cls][tag]
        node.inherited = {name: cls for name in base if name not in node.attrib}
        node.attrib = {**base, **node.attrib}

    def unit(self, node, name, q):
        # MuJoCo normalises quaternions; rounding-level ones are left to the Scene
        norm = float(np.linalg.norm(q))
        if norm < 1e-12:
            raise self.error(node, f"{self.desc(node, name)} is a zero quaternion")
        return q if abs(norm - 1.0) <= QUAT_NORM_TOL else q / norm

    def position(self, node):
        return self.floats(node, "pos", 3) if "pos" in node.attrib else np.zeros(3)

    def orientation(self, node):
        """The frame's unit quaternion, or None when the element gives no orientation."""
        given = [name for name in _ORIENTATIONS if name in node.attrib]
        if not given:
            return None
        if len(given) > 1:
            raise self.error(node, f"more than one orientation is given: {', '.join(given)}")
        name = given[0]
        if name == "quat":
            return self.unit(node, name, self.floats(node, name, 4))
        if name == "euler":
            q = np.array([1.0, 0.0, 0.0, 0.0])
            for angle, axis in zip(self.floats(node, name, 3) * self.angle, self.eulerseq):
                r = np.zeros(4)
                r[0], r[1 + "xyz".index(axis.lower())] = math.cos(angle / 2), math.sin(angle / 2)
                # lower case: about the rotated axis (post-multiply); upper case: fixed axis
                q = _qmul(q, r) if axis.islower() else _qmul(r, q)
            return q
        if name == "axisangle":
            v = self.floats(node, name, 4)
            norm = float(np.linalg.norm(v[:3]))
            if norm < 1e-12:
                raise self.error(node, f"{self.desc(node, name)} has a zero axis")
            half = 0.5 * v[3] * self.angle
            return np.concatenate([[math.cos(half)], math.sin(half) * v[:3] / norm])
        v = self.floats(node, name, 6 if name == "xyaxes" else 3)
        if name == "zaxis":
            norm = float(np.linalg.norm(v))
            if norm < 1e-12:
                raise self.error(node, f"{self.desc(node, name)} is a zero vector")
            return quat_z_to(v / norm)
        x, y = v[:3], v[3:]
        nx = float(np.linalg.norm(x))
        y = y - (y @ x) / nx ** 2 * x if nx > 1e-12 else y
        ny = float(np.linalg.norm(y))
        if nx < 1e-12 or ny < 1e-12:
            raise self.error(node, f"{self.desc(node, name)} does not span a plane")
        x, y = x / nx, y / ny
        return _mat_quat(np.column_stack([x, y, np.cross(x, y)]))

    # ---- sections

    def scene(self, root, scene_type):
        if root.tag != "mujoco":
            raise self.error(root, "the root element of MJCF must be <mujoco>")
        self.check_names(root, skip={"model"})
        sections = {}
        for node in root.children:
            if node.tag in _SKIPPED_SECTIONS:
                continue
            if node.tag in _REFUSED_SECTIONS:
                if node.children:
                    raise self.error(node.children[0], f"{_REFUSED_SECTIONS[node.tag]} "
                                                       f"(<{node.tag}>) are not supported by "
                                                       f"simcore")
                continue
            if node.tag not in ("compiler", "option", "default", "custom", "asset",
                                "worldbody", "keyframe"):
                raise self.error(node, "this element is not supported by simcore")
            sections.setdefault(node.tag, []).append(node)
        # MuJoCo reads the compiler settings before everything else
        for node in sections.get("compiler", []):
            self.compiler(node)
        dt, gravity = 0.002, np.array([0.0, 0.0, -9.81])
        for node in sections.get("option", []):
            dt, gravity = self.option(node, dt, gravity)
        for node in sections.get("default", []):
            self.default(node, {"geom": {}, "joint": {}}, top=True)
        self.defaults.setdefault("main", {"geom": {}, "joint": {}})
        for node in sections.get("custom", []):
            self.custom(node)
        for node in sections.get("asset", []):
            self.check_names(node)
            for child in node.children:
                if child.tag not in _SKIPPED_ASSETS:
                    raise self.error(child, "assets other than textures and materials are not "
                                            "supported by simcore")
        specs = []
        for node in sections.get("worldbody", []):
            self.check_names(node)
            for child in node.children:
                if child.tag == "geom":
                    specs.append(self.static_geom(child, "main", np.zeros(3), None))
                elif child.tag == "body":
                    specs.append(self.body(child))
                elif child.tag not in _SKIPPED_IN_BODY:
                    raise self.error(child, "this element is not supported by simcore in the "
                                            "<worldbody> (geoms and bodies are)")
        keys = []
        for node in sections.get("keyframe", []):
            self.check_names(node)
            for child in node.children:
                if child.tag != "key":
                    raise self.error(child, "only <key> elements belong in <keyframe>")
                keys.append(child)
        if keys:
            self.key(keys[0], specs)
        return self.build(scene_type, specs, dt, gravity)

    def compiler(self, node):
        self.check_names(node, _COMPILER_READ, _COMPILER_SKIP)
        a = node.attrib
        if "angle" in a:
            self.require(a["angle"] in ("degree", "radian"), node, "angle",
                         'angle must be "degree" or "radian"')
            self.angle = math.pi / 180.0 if a["angle"] == "degree" else 1.0
        if "eulerseq" in a:
            seq = a["eulerseq"]
            self.require(len(seq) == 3 and all(c in "xyzXYZ" for c in seq), node, "eulerseq",
                         "it must be three of the letters x, y, z, X, Y, Z")
            self.eulerseq = seq
        if "inertiafromgeom" in a:
            self.require(a["inertiafromgeom"] in ("auto", "true", "false"), node,
                         "inertiafromgeom", 'it must be "auto", "true" or "false"')
            self.inertiafromgeom = a["inertiafromgeom"]
        if "coordinate" in a:
            self.require(a["coordinate"] == "local", node, "coordinate",
                         "frames are relative to their parent (local)")
        for name in ("boundmass", "boundinertia"):
            self.require(self.scalar(node, name, 0.0) == 0.0, node, name,
                         "it would change the bodies' masses")
        self.require(self.scalar(node, "settotalmass", -1.0) <= 0.0, node, "settotalmass",
                     "it would change the bodies' masses")
        self.require(not self.flag(node, "balanceinertia", False), node, "balanceinertia",
                     "it would change the bodies' inertias")
        self.require(not self.flag(node, "alignfree", False), node, "alignfree",
                     "it moves a free body's frame (and its keyframe pose) onto its inertia")
        for child in node.children:
            if child.tag != "lengthrange":
                raise self.error(child, "this element is not supported by simcore")

    def option(self, node, dt, gravity):
        self.check_names(node, _OPTION_READ, _OPTION_SKIP)
        if "timestep" in node.attrib:
            dt = self.scalar(node, "timestep", dt)
            self.require(dt > 0, node, "timestep", "the time step must be positive")
        if "gravity" in node.attrib:
            gravity = self.floats(node, "gravity", 3)
        for name in ("wind", "density", "viscosity"):
            if name in node.attrib:
                self.require(not np.any(self.floats(node, name, 1, 3)), node, name,
                             "simcore has no fluid forces")
        for child in node.children:
            raise self.error(child, "option flags and other <option> children are not "
                                    "supported by simcore")
        return dt, gravity

    def default(self, node, parent, top=False):
        self.check_names(node, read={"class"})
        name = node.attrib.get("class", "main" if top else None)
        if name is None:
            raise self.error(node, "a nested default needs a class name")
        if name in self.defaults:
            raise self.error(node, f"default class {name!r} is defined twice")
        own = {tag: dict(values) for tag, values in parent.items()}
        for child in node.children:
            if child.tag in own:
                own[child.tag].update(child.attrib)
        self.defaults[name] = own
        # nested classes start from this one's values, wherever they stand in it
        for child in node.children:
            if child.tag == "default":
                self.default(child, own)

    def custom(self, node):
        self.check_names(node)
        for child in node.children:
            if child.tag in ("text", "tuple"):
                continue
            if child.tag != "numeric":
                raise self.error(child, "only <numeric>, <text> and <tuple> belong in <custom>")
            # (size only pads data with zeros in MuJoCo; simcore's numerics are read by data)
            self.check_names(child, read={"name", "data"}, skip={"size"})
            name = child.attrib.get("name", "")
            if not name.startswith(SIMCORE):
                continue
            kind, _, target = name[len(SIMCORE):].partition(":")
            count = {"margin": 1, "max_speed": 1, "restitution": 1, "velocity": 6,
                     "ang_vel": 3}.get(kind)
            if count is None or bool(target) != (count > 1 or kind == "restitution"):
                raise self.error(child, f"unknown simcore numeric {name!r} (simcore reads "
                                        f"{SIMCORE}margin, {SIMCORE}max_speed, "
                                        f"{SIMCORE}restitution:<geom name>, "
                                        f"{SIMCORE}velocity:<mocap body name>, "
                                        f"{SIMCORE}ang_vel:<free body name>)")
            if "data" not in child.attrib:
                raise self.error(child, f"{name!r} needs data")
            if name in self.numeric:
                raise self.error(child, f"{name!r} is given twice")
            self.numeric[name] = (child, self.floats(child, "data", count))

    # ---- bodies

    def geom(self, node, cls):
        """The geom's shape, friction, mass attributes and frame in its parent (a dict)."""
        self.resolve(node, "geom", cls)
        a = node.attrib
        tname = a.get("type", "sphere")
        if tname not in _GEOM_TYPES:
            # (MuJoCo's default type, sphere, is supported: the type is given)
            raise self.error(node, f"{self.desc(node, 'type')} is not supported: simcore "
                                   f"simulates plane, sphere, box and capsule geoms")
        self.check_names(node, _GEOM_READ, _GEOM_SKIP)
        condim = self.scalar(node, "condim", 3)
        self.require(condim in (3, 4, 6), node, "condim",
                     "simcore's contacts have sliding friction, and torsional (condim 4) and "
                     "rolling friction (6) when given: condim 3, 4 or 6")
        for name in ("contype", "conaffinity"):
            self.require(self.scalar(node, name, 1) == 1, node, name,
                         "simcore collides every pair of geoms (contype = conaffinity = 1)")
        for name in ("margin", "gap"):
            self.require(self.scalar(node, name, 0.0) == 0.0, node, name,
                         f"simcore's contact margin is the scene's ({SIMCORE}margin)")
        self.require(not self.flag(node, "shellinertia", False), node, "shellinertia",
                     "simcore bodies are solid")
        self.require(a.get("fluidshape", "none") == "none", node, "fluidshape",
                     "simcore has no fluid forces")
        friction = np.array([1.0, TORSIONAL_FRICTION, ROLLING_FRICTION])
        if "friction" in a:
            given = self.floats(node, "friction", 1, 3)
            friction[:len(given)] = given
        for q, default, what, used in ((1, TORSIONAL_FRICTION, "torsional", condim >= 4),
                                       (2, ROLLING_FRICTION, "rolling", condim == 6)):
            if used:
                self.require(friction[q] >= 0.0, node, "friction",
                             f"{what} friction {friction[q]!r} must be non-negative")
            else:
                self.require(friction[q] in (0.0, default), node, "friction",
                             f"{what} friction {friction[q]!r} with condim {condim:g}, which "
                             f"does not use it (MuJoCo would, paired with a higher condim): "
                             f"give condim {4 if q == 1 else 6}, or MuJoCo's default "
                             f"{default} or 0")
                friction[q] = 0.0
        size = np.zeros(3)
        if "size" in a:
            given = self.floats(node, "size", 1, 3)
            size[:len(given)] = given
        gtype = _GEOM_TYPES[tname]
        if "fromto" in a:
            self.require(gtype == consts.GEOM_CAPSULE, node, "fromto",
                         "simcore reads fromto for capsules only")
            ends = self.floats(node, "fromto", 6)
            axis = ends[:3] - ends[3:]  # MuJoCo's geom z axis points from "to" to "from"
            length = float(np.linalg.norm(axis))
            if length == 0.0:
                raise self.error(node, f"{self.desc(node, 'fromto')} has two equal ends")
            pos, quat = 0.5 * (ends[:3] + ends[3:]), quat_z_to(axis / length)
            size[1] = 0.5 * length
        else:
            pos, quat = self.position(node), self.orientation(node)
        needed = {consts.GEOM_PLANE: 0, consts.GEOM_SPHERE: 1, consts.GEOM_CAPSULE: 2,
                  consts.GEOM_BOX: 3}[gtype]
        if np.any(size[:needed] <= 0):
            what = {1: "a radius", 2: "a radius and a half length", 3: "three half extents"}
            raise self.error(node, f"a {tname} needs {what[needed]}, positive, in size"
                                   f"{' (' + self.desc(node, 'size') + ')' if 'size' in a else ''}")
        return {"node": node, "type": gtype, "size": size, "pos": pos, "quat": quat,
                "friction": friction[0], "torsional_friction": friction[1],
                "rolling_friction": friction[2], "name": a.get("name"),
                "mass": self.scalar(node, "mass", None),
                "density": self.scalar(node, "density", MUJOCO_DENSITY)}

    def static_geom(self, node, cls, body_pos, body_quat):
        # a static body: the geom's frame composed with its body's, anywhere
        g = self.geom(node, cls)
        if body_quat is not None:
            g["pos"] = body_pos + _qmat(body_quat) @ g["pos"]
            g["quat"] = body_quat if g["quat"] is None else _qmul(body_quat, g["quat"])
        quat = np.array([1.0, 0.0, 0.0, 0.0]) if g["quat"] is None else g["quat"]
        return dict(g, kind="static", quat=quat, body=None, vel=np.zeros(3),
                    ang_vel=np.zeros(3), inertia=None, mass=None)

    def body(self, node):
        self.check_names(node, _BODY_READ, skip={"user"})
        cls = node.attrib.get("childclass", "main")
        if cls not in self.defaults:
            raise self.error(node, f"default class {cls!r} is not defined")
        self.require(self.scalar(node, "gravcomp", 0.0) == 0.0, node, "gravcomp",
                     "simcore applies gravity to every dynamic body")
        mocap = self.flag(node, "mocap", False)
        pos = self.position(node)
        quat = self.orientation(node)
        quat = np.array([1.0, 0.0, 0.0, 0.0]) if quat is None else quat
        found = {"geom": [], "joint": [], "inertial": []}
        for child in node.children:
            tag = "joint" if child.tag == "freejoint" else child.tag
            if tag in found:
                found[tag].append(child)
            elif tag == "body":
                raise self.error(child, "nested bodies are not supported: simcore bodies are "
                                        "free, mocap or static bodies directly in the "
                                        "<worldbody>")
            elif tag not in _SKIPPED_IN_BODY:
                raise self.error(child, "this element is not supported by simcore in a <body>")
        geoms, joints, inertials = found["geom"], found["joint"], found["inertial"]
        if not geoms:
            raise self.error(node, "a body needs exactly one geom; this one has none")
        if len(geoms) > 1:
            raise self.error(geoms[1], "a second geom in one body is not supported: a simcore "
                                       "body is one shape (give each geom its own body)")
        if len(joints) > 1:
            raise self.error(joints[1], "a second joint in one body is not supported")
        if len(inertials) > 1:
            raise self.error(inertials[1], "a body has at most one <inertial>")
        for joint in joints:
            self.joint(joint, cls)
            if mocap:
                raise self.error(joint, "a mocap body cannot have joints")
        if not joints and not mocap:
            return self.static_geom(geoms[0], cls, pos, quat)
        g = self.geom(geoms[0], cls)
        gnode = g["node"]
        if g["type"] == consts.GEOM_PLANE:
            raise self.error(gnode, "a plane must be static: in the <worldbody> or in a body "
                                    "without joints and not mocap")
        if np.any(g["pos"] != 0.0):
            raise self.error(gnode, f"the geom's centre is at {_vec(g['pos'])} in its body, "
                                    f"not at the body's origin: simcore puts a body's origin "
                                    f"(its centre of mass) at its shape's centre; move the "
                                    f"offset into the body's pos")
        spec = dict(g, kind="dynamic" if joints else "kinematic", body=node,
                    geom_quat=g["quat"], body_quat=quat, pos=pos, vel=np.zeros(3),
                    ang_vel=np.zeros(3), inertia=None)
        spec["quat"] = self.geom_frame(quat, g["quat"])
        if joints:
            inertial = inertials[0] if inertials and self.inertiafromgeom != "true" else None
            if inertial is not None:
                spec["mass"], spec["inertia"] = self.inertial(inertial, g["quat"])
            elif self.inertiafromgeom == "false":
                raise self.error(node, 'a dynamic body needs an <inertial> under <compiler '
                                       'inertiafromgeom="false">')
            elif g["mass"] is None:
                spec["mass"] = g["density"] * _geom_volume(g["type"], g["size"])
        else:
            spec["mass"] = None
        return spec

    @staticmethod
    def geom_frame(body_quat, geom_quat):
        # the simcore body's orientation: its geom's frame in the world
        return body_quat if geom_quat is None else _qmul(body_quat, geom_quat)

    def joint(self, node, cls):
        if node.tag == "freejoint":
            self.check_names(node, read={"name"}, skip={"group", "align"})
            return
        self.resolve(node, "joint", cls)
        self.check_names(node, _JOINT_READ, _JOINT_SKIP)
        if node.attrib.get("type", "hinge") != "free":
            what = (self.desc(node, "type") if "type" in node.attrib
                    else "a joint without a type (MuJoCo's default: hinge)")
            raise self.error(node, f"{what} is not supported: simcore bodies are free "
                                   f'(<freejoint/> or <joint type="free"/>), mocap or static')
        for name in ("damping", "armature", "stiffness", "frictionloss", "springdamper"):
            if name in node.attrib:
                self.require(not np.any(self.floats(node, name, 1, 2)), node, name,
                             "simcore's free bodies have no joint damping, armature, stiffness "
                             "or friction loss")

    def inertial(self, node, geom_quat):
        """(mass, principal inertia in the geom's frame) of an <inertial>."""
        self.check_names(node, _INERTIAL_READ)
        for name in ("pos", "mass"):
            if name not in node.attrib:
                raise self.error(node, f"{name} is required")
        pos = self.position(node)
        if np.any(pos != 0.0):
            raise self.error(node, f"{self.desc(node, 'pos')}: the centre of mass must be at the "
                                   f"geom's centre (the body's origin) in simcore")
        if ("diaginertia" in node.attrib) == ("fullinertia" in node.attrib):
            raise self.error(node, "give one of diaginertia and fullinertia")
        if "diaginertia" in node.attrib:
            tensor = np.diag(self.floats(node, "diaginertia", 3))
        else:
            f = self.floats(node, "fullinertia", 6)
            tensor = np.array([[f[0], f[3], f[4]], [f[3], f[1], f[5]], [f[4], f[5], f[2]]])
        quat = self.orientation(node)
        if quat is not None:
            R = _qmat(quat)
            tensor = R @ tensor @ R.T
        if geom_quat is not None:
            R = _qmat(geom_quat)
            tensor = R.T @ tensor @ R
        off = np.abs(tensor - np.diag(np.diag(tensor))).max()
        if off > 1e-9 * np.abs(tensor).max():
            raise self.error(node, f"the inertia is not diagonal in the geom's frame (largest "
                                   f"off-diagonal {off:.3g}): simcore takes a body's principal "
                                   f"axes along its shape's axes")
        mass, inertia = self.scalar(node, "mass", None), np.diag(tensor).copy()
        self.require(mass > 0, node, "mass", "a dynamic body's mass must be positive")
        if np.any(inertia <= 0):
            raise self.error(node, f"the principal moments {_vec(inertia)} must be positive")
        return mass, inertia

    def key(self, node, specs):
        self.check_names(node, _KEY_READ, skip={"name", "time"})
        for name in ("act", "ctrl"):
            if name in node.attrib and node.attrib[name].split():
                raise self.error(node, f"{name}: simcore scenes have no actuators")
        free = [s for s in specs if s["kind"] == "dynamic"]
        mocap = [s for s in specs if s["kind"] == "kinematic"]
        values = {}
        for name, per_body, bodies in (("qpos", 7, free), ("qvel", 6, free),
                                       ("mpos", 3, mocap), ("mquat", 4, mocap)):
            if name in node.attrib:
                n = per_body * len(bodies)
                if n == 0:
                    raise self.error(node, f"{name} is given but the scene has no "
                                           f"{'free' if bodies is free else 'mocap'} bodies")
                values[name] = self.floats(node, name, n).reshape(len(bodies), per_body)
        for j, s in enumerate(free):
            if "qpos" in values:
                s["pos"] = values["qpos"][j, :3]
                s["body_quat"] = self.unit(node, "qpos", values["qpos"][j, 3:])
                s["quat"] = self.geom_frame(s["body_quat"], s["geom_quat"])
            if "qvel" in values:
                # a free joint's angular velocity is in the body frame
                s["vel"] = values["qvel"][j, :3]
                s["ang_vel"] = _qmat(s["body_quat"]) @ values["qvel"][j, 3:]
        for j, s in enumerate(mocap):
            if "mpos" in values:
                s["pos"] = values["mpos"][j]
            if "mquat" in values:
                s["body_quat"] = self.unit(node, "mquat", values["mquat"][j])
                s["quat"] = self.geom_frame(s["body_quat"], s["geom_quat"])

    def build(self, scene_type, specs, dt, gravity):
        margin, max_speed = 5e-3, None
        for name, (node, values) in self.numeric.items():
            kind, _, target = name[len(SIMCORE):].partition(":")
            value = values[0]
            if kind == "margin":
                self.require(value >= 0, node, "data", "the margin must be non-negative")
                margin = value
            elif kind == "max_speed":
                self.require(value > 0, node, "data", "max_speed must be positive")
                max_speed = value
            elif kind == "restitution":
                found = [s for s in specs if s["name"] == target]
                if len(found) != 1:
                    raise self.error(node, f"{name!r}: there is {len(found) or 'no'} geom "
                                           f"named {target!r}")
                found[0]["restitution"] = value
            else:
                kind_of = "kinematic" if kind == "velocity" else "dynamic"
                found = [s for s in specs if s["body"] is not None
                         and s["body"].attrib.get("name") == target]
                if len(found) != 1 or found[0]["kind"] != kind_of:
                    raise self.error(node, f"{name!r}: there is no single "
                                           f"{'mocap' if kind == 'velocity' else 'free'} body "
                                           f"named {target!r}")
                if kind == "velocity":
                    found[0]["vel"], found[0]["ang_vel"] = values[:3], values[3:]
                else:
                    keyed = found[0]["ang_vel"]
                    if np.max(np.abs(values - keyed)) > 1e-12 * (1.0 + np.linalg.norm(keyed)):
                        raise self.error(node, f"{name!r} ({_vec(values)}) is not the "
                                               f"keyframe's angular velocity ({_vec(keyed)} "
                                               f"in the world frame), of which it is an exact "
                                               f"copy: delete it after editing the keyframe")
                    found[0]["ang_vel"] = values
        scene = scene_type(dt=dt, gravity=gravity, margin=margin, max_speed=max_speed)
        for s in specs:
            common = {"friction": s["friction"], "restitution": s.get("restitution", 0.0),
                      "torsional_friction": s["torsional_friction"],
                      "rolling_friction": s["rolling_friction"]}
            body = dict(common, mass=s["mass"], pos=s["pos"], quat=s["quat"], vel=s["vel"],
                        ang_vel=s["ang_vel"], kind=s["kind"], inertia=s["inertia"])
            size = s["size"]
            try:
                if s["type"] == consts.GEOM_PLANE:
                    normal = _qmat(s["quat"])[:, 2]
                    i = scene.add_plane(normal=normal, offset=normal @ s["pos"], **common)
                elif s["type"] == consts.GEOM_SPHERE:
                    i = scene.add_sphere(size[0], **body)
                elif s["type"] == consts.GEOM_BOX:
                    i = scene.add_box(size, **body)
                else:
                    i = scene.add_capsule(size[0], size[1], **body)
            except ValueError as exc:
                raise self.error(s["node"], str(exc)) from None
            # keep a frame that is valid as written bit for bit (a plane: any point on it, any
            # turn about its normal): the Scene would normalise a unit quaternion again and
            # rebuild a plane from its normal, an ulp off, which contact amplifies
            if abs(float(np.linalg.norm(s["quat"])) - 1.0) <= _UNIT_ROUNDING:
                scene.bodies[i]["quat"] = np.array(s["quat"], dtype=np.float64)
                if s["type"] == consts.GEOM_PLANE:
                    scene.bodies[i]["pos"] = np.array(s["pos"], dtype=np.float64)
        return scene
