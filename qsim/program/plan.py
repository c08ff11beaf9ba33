"""Cache-blocked execution plans: many passes per sweep over the state, global qubits swapped local.

A :class:`~qsim.program.lower.Program` applies one pass per sweep over the ``2**n`` amplitudes.
A **plan** splits the index bits of the state in two:

* **local** bits ``0 … k-1``: a *block* of ``2**k`` consecutive amplitudes (sized to fit a
  core's cache) holds every value of them, so any pass whose targets are local can be applied
  block by block;
* **global** bits ``k … n-1``: they number the blocks.  A control on a global bit is constant
  over a block: the block runs the pass or skips it.

The plan is a list of **steps**, each one sweep over the state:

* ``STEP_BLOCK`` - a *block run*: the kernel walks the state block by block (threads over
  blocks) and applies every pass of the run to the block while it is in cache;
* ``STEP_SWAP`` - a qubit exchange: bits ``l_j`` and ``g_j`` (``l_j`` local, ``g_j`` global)
  of every index trade places, ``ψ'[σ(i)] = ψ[i]`` with ``σ`` the bit transposition
  ``Π_j (l_j g_j)``.  It brings global qubits local (and local ones global) so that the next
  block run can act on them;
* ``STEP_SWEEP`` - one pass swept over the whole state as without a plan (a pass whose targets
  cannot all be made local, e.g. more targets than local bits).

The **layout** (which qubit's data sits at which bit) changes with each swap.  It is tracked
while planning: every pass is recorded with the bit positions its targets and controls have at
that point, so kernels never see a layout.  Layouts are restricted to products of disjoint
transpositions ``(l g)`` of a local and a global *home* position (home = the position in the
identity layout, ``n-1-q`` for qubit ``q``), so the plan ends with one swap that toggles every
open pair and the state is returned in the identity layout.

Passes are scheduled out of program order where that is exact: a pass may run as soon as every
earlier pass sharing a wire with it (target or control) has run, and passes on disjoint wires
commute.  The scheduler runs every ready local pass; when none is left it plans one swap that
brings in the global targets of the ready passes first, then those of the next passes (Belady:
only in exchange for a local qubit needed later), evicting the local qubits needed last.

**Distributed state vectors.**  The same plan runs a state sharded over ``2**(n-k)`` ranks:
global bits are the rank bits, a block run is rank-local work (a global control is a check on
the rank number), and a swap step is the pairwise exchange of the qHiPSTER / mpiQulacs
schemes.
:func:`distributed_plan` plans for that case (``plan(..., free_layout=True, diagonal_global=True,
min_swap_gain=1)``): an exchange costs the same whatever the layout, so layouts are any
permutation (a swap pairs any local with any global position, and no final swap undoes the
layout: :attr:`Plan.final_layout` says where each qubit ended, and the reader maps bits through
it), diagonal passes run with global targets (a global target of a diagonal pass is a phase that
depends on the rank number, no exchange), and a swap is planned even for a single stuck pass (a
lone sweep on a global target would be an exchange too).  :func:`exchange_count` and
:func:`exchange_slices` count what such a plan sends (the MPI backend
:mod:`qsim.backends.mpi_backend` runs it; the energy model prices it).

Arrays for kernels (``T`` scheduled passes or *slots*, ``P`` swapped pairs): per step
``step_kind``, ``step_lo:step_hi`` (a slot range, or a pair range for a swap); per slot the
program pass ``slot_pass``, targets ``bits`` (padded to ``MAX_PASS_TARGETS``), the sorted bits
to insert ``ins`` / ``n_ins``, the control mask ``ctrl_mask`` (inside a block: its local
controls) and ``global_mask`` (controls above the block, 0 for a sweep); per pair
``swap_local``, ``swap_global``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import InputError
from .lower import KIND_CTRL_DIAG, KIND_DIAG1, KIND_DIAG2, MAX_INSERTED_BITS, MAX_PASS_TARGETS, Program

__all__ = ["Plan", "plan", "STEP_BLOCK", "STEP_SWEEP", "STEP_SWAP", "MAX_SWAP_PAIRS", "MIN_SWAP_GAIN",
           "distributed_plan", "exchange_count", "exchange_slices", "DISTRIBUTED_MIN_SWAP_GAIN"]

STEP_BLOCK, STEP_SWEEP, STEP_SWAP = 0, 1, 2

#: Most bit pairs one swap step exchanges.  A swap of ``m`` pairs permutes tiles of ``2**(2m)``
#: amplitudes (times ``2**l`` for the lowest swapped bit ``l``), which should stay in a core's L2:
#: 2**16 complex128 = 1 MiB against the 2 MiB L2 of the Sapphire Rapids dev machine (sized by
#: that reasoning; W1 n = 24 with 8 global qubits needs 8 per swap).
MAX_SWAP_PAIRS = 8

#: Fewest remaining passes on the qubits a swap brings local for the swap to be planned; below
#: it the stuck pass is swept alone.  A swap is one sweep (plus its share of the final undo) and
#: saves one sweep per pass it makes local, so a swap for a single pass (the last CNOT of W1's
#: ring) cost three sweeps - swap, one-pass block run, undo - where one lone sweep does.
MIN_SWAP_GAIN = 2

#: :data:`MIN_SWAP_GAIN` of distributed plans: a pass stuck on a global target is brought local even
#: alone.  Over ranks a lone sweep on a global target is an exchange as well (of the half of the
#: slice its control selects), and with a free layout there is no undo to share, so the swap costs
#: no more and keeps every kernel rank-local.
DISTRIBUTED_MIN_SWAP_GAIN = 1

_NEVER = 1 << 62          # next use of a qubit no remaining pass targets
_DIAGONAL_KINDS = (KIND_DIAG1, KIND_DIAG2, KIND_CTRL_DIAG)


@dataclass(frozen=True, eq=False)
class Plan:
    """Steps of a cache-blocked run of a :class:`Program` (module docstring: the arrays).

    ``local_qubits`` is ``k``: blocks of ``2**k`` amplitudes.  ``k >= n_qubits`` plans one
    block run per state (no global bits).
    """

    n_qubits: int
    local_qubits: int
    step_kind: np.ndarray
    step_lo: np.ndarray
    step_hi: np.ndarray
    slot_pass: np.ndarray
    bits: np.ndarray
    ins: np.ndarray
    n_ins: np.ndarray
    ctrl_mask: np.ndarray
    global_mask: np.ndarray
    swap_local: np.ndarray
    swap_global: np.ndarray
    #: ``final_layout[h]``: the bit where the qubit of home bit ``h`` sits after the last step
    #: (the identity unless the plan was made with ``free_layout=True``).
    final_layout: tuple[int, ...] = ()

    @property
    def n_steps(self) -> int:
        """Sweeps over the state memory: block runs, swaps and lone passes."""
        return len(self.step_kind)

    def count(self, kind: int) -> int:
        """Steps of ``kind`` (``STEP_BLOCK``, ``STEP_SWEEP`` or ``STEP_SWAP``)."""
        return int(np.sum(self.step_kind == kind))


def plan(program: Program, local_qubits: int, *, free_layout: bool = False, diagonal_global: bool = False,
         min_swap_gain: int = MIN_SWAP_GAIN) -> Plan:
    """The :class:`Plan` of ``program`` with blocks of ``2**local_qubits`` amplitudes (cached).

    The keywords select the distributed policy (module docstring; the defaults are the
    cache-blocked plan of one process):

    * ``free_layout``: swaps pair any local with any global bit, the layout may become any
      permutation and is not undone (:attr:`Plan.final_layout`);
    * ``diagonal_global``: diagonal passes (``KIND_DIAG1``, ``KIND_DIAG2``, ``KIND_CTRL_DIAG``) join
      block runs whatever their targets (their slots may then name bits ``>= local_qubits``:
      only a runner that turns such targets into phases, as the MPI backend does, takes them);
    * ``min_swap_gain``: fewest remaining passes a swap must make local (:data:`MIN_SWAP_GAIN`).

    Raises:
        InputError: when ``local_qubits`` or ``min_swap_gain`` is not a positive integer.
    """
    if isinstance(local_qubits, bool) or not isinstance(local_qubits, (int, np.integer)) or local_qubits < 1:
        raise InputError(f"plan: local_qubits must be a positive integer, got {local_qubits!r}")
    if isinstance(min_swap_gain, bool) or not isinstance(min_swap_gain, (int, np.integer)) or min_swap_gain < 1:
        raise InputError(f"plan: min_swap_gain must be a positive integer, got {min_swap_gain!r}")
    return _plan_cached(program, min(int(local_qubits), program.n_qubits), bool(free_layout), bool(diagonal_global),
                        int(min_swap_gain))


def distributed_plan(program: Program, global_qubits: int) -> Plan:
    """The plan of ``program`` sharded over ``2**global_qubits`` ranks: the top ``global_qubits``
    index bits number the rank, a swap step is one exchange between ranks (module docstring).

    Raises:
        InputError: unless ``0 <= global_qubits < program.n_qubits``.
    """
    g = _check_global(program, global_qubits)
    return plan(program, program.n_qubits - g, free_layout=True, diagonal_global=True,
                min_swap_gain=DISTRIBUTED_MIN_SWAP_GAIN)


def _check_global(program: Program, global_qubits) -> int:
    if isinstance(global_qubits, bool) or not isinstance(global_qubits, (int, np.integer)) or not (
            0 <= global_qubits < program.n_qubits):
        raise InputError(f"{global_qubits!r} global qubits for a circuit of {program.n_qubits} qubits: "
                         f"must be 0 to {program.n_qubits - 1}")
    return int(global_qubits)


def _global_sweeps(pl: Plan) -> int:
    """Lone sweeps of ``pl`` with a target bit above the block (each swapped in and out: two exchanges)."""
    k = pl.local_qubits
    return sum(1 for s in range(pl.n_steps) if pl.step_kind[s] == STEP_SWEEP
               and int(pl.bits[pl.step_lo[s]].max()) >= k)


def exchange_count(program: Program, global_qubits: int) -> int:
    """Exchanges between ranks of one forward pass of ``program`` on ``2**global_qubits`` ranks:
    the swap steps of :func:`distributed_plan`, plus two for each lone sweep on a global target
    (rare: when every local bit is a target of a ready pass).  0 for ``global_qubits = 0``."""
    g = _check_global(program, global_qubits)
    if g == 0:
        return 0
    pl = distributed_plan(program, g)
    return pl.count(STEP_SWAP) + 2 * _global_sweeps(pl)


def exchange_slices(program: Program, global_qubits: int) -> float:
    """Local slices each rank sends (and receives) in one forward pass, summed over the exchanges
    of :func:`exchange_count`: a swap of ``m`` pairs sends ``1 - 2**-m`` of the slice (every part
    but the one whose local bits equal the rank's own), a global sweep one half twice.  Times the
    slice's bytes (``itemsize · 2**(n - global_qubits)`` per state) it is the bytes sent per rank."""
    g = _check_global(program, global_qubits)
    if g == 0:
        return 0.0
    pl = distributed_plan(program, g)
    m = [int(pl.step_hi[s] - pl.step_lo[s]) for s in range(pl.n_steps) if pl.step_kind[s] == STEP_SWAP]
    return float(sum(1.0 - 0.5**x for x in m)) + 1.0 * _global_sweeps(pl)


def _set_bits(mask: int) -> list[int]:
    return [b for b in range(mask.bit_length()) if (mask >> b) & 1]


class _Planner:
    """State of the scheduler: readiness, the layout and the steps emitted so far."""

    def __init__(self, program: Program, k: int, free: bool = False, diagonal_global: bool = False,
                 min_gain: int = MIN_SWAP_GAIN) -> None:
        self.n, self.k = program.n_qubits, k
        self.free, self.min_gain = free, min_gain
        P = program.n_passes
        self.targets = [tuple(int(b) for b in program.bits[p, :program.width[p]]) for p in range(P)]
        self.controls = [tuple(_set_bits(int(program.ctrl_mask[p]))) for p in range(P)]
        # passes whose targets may stay global (diagonal ones, with diagonal_global)
        self.anywhere = [bool(diagonal_global) and int(program.kind[p]) in _DIAGONAL_KINDS for p in range(P)]
        self.queue: list[list[int]] = [[] for _ in range(self.n)]       # home bit -> passes touching it
        self.target_uses: list[list[int]] = [[] for _ in range(self.n)]  # home bit -> passes targeting it
        for p in range(P):
            for h in self.targets[p] + self.controls[p]:
                self.queue[h].append(p)
            if not self.anywhere[p]:
                for h in self.targets[p]:
                    self.target_uses[h].append(p)
        self.head = [0] * self.n
        self.use_head = [0] * self.n
        self.done = [False] * P
        self.where = list(range(self.n))       # home bit -> current bit
        self.at = list(range(self.n))          # current bit -> home bit
        self.open: dict[int, int] = {}         # local bit -> global bit of an open transposition
        self.steps: list[tuple[int, list]] = []
        self.run: list[tuple] = []
        self.ready = {p for p in range(P) if self._is_ready(p)}

    # ---------------------------------------------------------------- readiness
    def _is_ready(self, p: int) -> bool:
        return all(self.queue[h][self.head[h]] == p for h in self.targets[p] + self.controls[p])

    def _local(self, p: int) -> bool:
        return self.anywhere[p] or all(self.where[h] < self.k for h in self.targets[p])

    def next_use(self, h: int) -> int:
        uses = self.target_uses[h]
        return uses[self.use_head[h]] if self.use_head[h] < len(uses) else _NEVER

    def _schedule(self, p: int) -> None:
        self.done[p] = True
        self.ready.discard(p)
        for h in self.targets[p] + self.controls[p]:
            self.head[h] += 1
            if self.head[h] < len(self.queue[h]) and self._is_ready(self.queue[h][self.head[h]]):
                self.ready.add(self.queue[h][self.head[h]])
        if not self.anywhere[p]:
            for h in self.targets[p]:
                self.use_head[h] += 1

    # -------------------------------------------------------------------- slots
    def _slot(self, p: int, in_block: bool) -> tuple:
        tb = [self.where[h] for h in self.targets[p]]
        cb = [self.where[h] for h in self.controls[p]]
        inner = [c for c in cb if c < self.k] if in_block else cb
        outer = [c for c in cb if c >= self.k] if in_block else []
        return (p, tb, sorted(tb + inner), sum(1 << c for c in inner), sum(1 << c for c in outer))

    def _close_run(self) -> None:
        if self.run:
            self.steps.append((STEP_BLOCK, self.run))
            self.run = []

    # -------------------------------------------------------------------- swaps
    def _toggle(self, pairs: list[tuple[int, int]]) -> None:
        for lb, gb in pairs:
            hl, hg = self.at[lb], self.at[gb]
            self.at[lb], self.at[gb] = hg, hl
            self.where[hl], self.where[hg] = gb, lb
            if self.free:
                continue
            if lb in self.open:
                del self.open[lb]
            else:
                self.open[lb] = gb

    def _plan_swap(self) -> list[tuple[int, int]]:
        """Pairs of one swap step: global targets of the ready passes, then of the next passes."""
        k = self.k
        ready = sorted(self.ready)
        protect = {h for p in ready for h in self.targets[p]}
        demand: list[tuple[int, bool]] = []           # (home bit, needed by a ready pass)
        seen: set[int] = set()
        for p in ready:
            for h in self.targets[p]:
                if self.where[h] >= k and h not in seen and not self.anywhere[p]:
                    demand.append((h, True))
                    seen.add(h)
        for p in range(len(self.done)):
            if len(demand) >= MAX_SWAP_PAIRS:
                break
            if not self.done[p] and p not in self.ready and not self.anywhere[p]:
                for h in self.targets[p]:
                    if self.where[h] >= k and h not in seen:
                        demand.append((h, False))
                        seen.add(h)
        pairs: list[tuple[int, int]] = []
        used: set[int] = set()                        # bits already in a pair of this step
        for h, now in demand:
            if len(pairs) >= MAX_SWAP_PAIRS:
                break
            g = self.where[h]
            if h < k and not self.free:               # a local qubit parked at g: close its pair
                out = self.at[h]                      # the global qubit sitting at h goes home
                if h in used or out in protect or (not now and self.next_use(out) <= self.next_use(h)):
                    continue
                pairs.append((h, g))
                used.update((h, g))
                protect.add(h)
                continue
            best = None                               # a global qubit at home: open a pair
            for lb in range(k):
                if (lb in self.open and not self.free) or lb in used or self.at[lb] in protect:
                    continue
                score = (self.next_use(self.at[lb]), lb)
                if best is None or score > best[0]:
                    best = (score, lb)
            if best is None or (not now and best[0][0] <= self.next_use(h)):
                continue
            pairs.append((best[1], g))
            used.update((best[1], g))
            protect.add(h)
        return pairs

    def _gain(self, pairs: list[tuple[int, int]]) -> int:
        """Unscheduled passes that target a qubit the swap brings local."""
        incoming = {self.at[gb] for _, gb in pairs}
        return sum(1 for p in range(len(self.done))
                   if not self.done[p] and not self.anywhere[p] and any(h in incoming for h in self.targets[p]))

    # --------------------------------------------------------------------- main
    def build(self) -> None:
        while self.ready:
            local = [p for p in self.ready if self._local(p)]
            if local:
                p = min(local)
                self.run.append(self._slot(p, True))
                self._schedule(p)
                continue
            self._close_run()
            pairs = self._plan_swap()
            if pairs and self._gain(pairs) >= self.min_gain:
                self.steps.append((STEP_SWAP, pairs))
                self._toggle(pairs)
            if not any(self._local(p) for p in self.ready):
                p = min(self.ready)
                self.steps.append((STEP_SWEEP, [self._slot(p, False)]))
                self._schedule(p)
        self._close_run()
        if self.open and not self.free:
            pairs = sorted(self.open.items())
            self.steps.append((STEP_SWAP, pairs))
            self._toggle(pairs)


@lru_cache(maxsize=256)
def _plan_cached(program: Program, k: int, free: bool = False, diagonal_global: bool = False,
                 min_gain: int = MIN_SWAP_GAIN) -> Plan:
    planner = _Planner(program, k, free, diagonal_global, min_gain)
    planner.build()
    kinds, lo, hi, slots, pairs = [], [], [], [], []
    for kind, items in planner.steps:
        kinds.append(kind)
        if kind == STEP_SWAP:
            lo.append(len(pairs))
            pairs.extend(items)
            hi.append(len(pairs))
        else:
            lo.append(len(slots))
            slots.extend(items)
            hi.append(len(slots))
    i64 = lambda a: np.array(a, dtype=np.int64).reshape(-1)  # noqa: E731
    return Plan(
        n_qubits=program.n_qubits,
        local_qubits=k,
        step_kind=i64(kinds),
        step_lo=i64(lo),
        step_hi=i64(hi),
        slot_pass=i64([s[0] for s in slots]),
        bits=np.array([s[1] + [0] * (MAX_PASS_TARGETS - len(s[1])) for s in slots], dtype=np.int64).reshape(
            -1, MAX_PASS_TARGETS),
        ins=np.array([s[2] + [0] * (MAX_INSERTED_BITS - len(s[2])) for s in slots], dtype=np.int64).reshape(
            -1, MAX_INSERTED_BITS),
        n_ins=i64([len(s[2]) for s in slots]),
        ctrl_mask=i64([s[3] for s in slots]),
        global_mask=i64([s[4] for s in slots]),
        swap_local=i64([lb for lb, _ in pairs]),
        swap_global=i64([gb for _, gb in pairs]),
        final_layout=tuple(planner.where),
    )
