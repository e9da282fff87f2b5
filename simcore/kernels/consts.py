"""Integer codes shared by kernels and the Python layer (compile-time constants in numba)."""

# geometry types, ordered: a collision pair (a, b) always has type(a) >= type(b)
GEOM_PLANE = 0
GEOM_SPHERE = 1
GEOM_CAPSULE = 2
GEOM_BOX = 3

# body kinds
BODY_DYNAMIC = 0
BODY_STATIC = 1
BODY_KINEMATIC = 2

# contact models (Model.opt_contact)
CONTACT_PENALTY = 0
CONTACT_HARD = 1
CONTACT_SMOOTHED = 2

# most contacts one shape pair can produce (box-box clipped manifold, box on a plane)
MAXCON_PAIR = 8

# rollout status codes
STATUS_OK = 0
STATUS_CONTACT_OVERFLOW = 1
STATUS_PAIR_OVERFLOW = 2
STATUS_NONFINITE = 3
STATUS_UNSTABLE = 4   # an explicit penalty spring too stiff for the (sub)step
STATUS_RECORD_OVERFLOW = 7  # the per-contact mode record is full (grown and resumed)
STATUS_ROTATION = 8   # a body's rotation step failed (its Newton solve, or its vjp's system)
STATUS_ABSURD = 9     # a finite state beyond the rollout's energy or speed bound

# the rollout's plausibility bounds (step.check_bounds): a state in which a body moves (by its
# kinetic energy, sqrt(2 T / m)) faster than ABSURD_SPEED times what the scene explains (its start, kinematic bodies,
# controls, the farthest fall, and FLOOR_SPEED), or whose kinetic energy is over ABSURD_ENERGY
# times what its energy explains, is reported, not returned
ABSURD_SPEED = 5.0
ABSURD_ENERGY = 4.0
FLOOR_SPEED = 1.0     # m/s

# where the reverse sweep accumulates a contact model's scalar parameters (Adjoint.scalar_bar;
# simcore/params.py)
SLOT_STIFFNESS = 0
SLOT_DAMPING = 1
SLOT_KAPPA = 2
SLOT_TIMECONST = 3
SLOT_DAMPRATIO = 4
NSLOT = 5

# kink conventions for the gradient at an exact non-smooth point (DESIGN.md section 4)
KINK_MEAN = 0
KINK_LEFT = 1
KINK_RIGHT = 2
# 5 and 6 are retired: STATUS_NO_ADJOINT (a collision pair without an adjoint) and
# STATUS_NO_ADJOINT_PHASES (a hard contact in more than one impact phase); both are differentiated

# contact modes recorded per step and contact (Trajectory.contact_mode)
MODE_SEPARATED = 0
MODE_STICKING = 1
MODE_SLIDING = 2
MODE_WEAK = 3        # weakly active: impulse and separation speed both (near) zero
WEAK_MARGIN = 1e-9   # m/s: a normal margin at most this is weakly active
