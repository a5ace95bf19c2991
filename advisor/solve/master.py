r"""The cutting-plane (Dantzig–Wolfe) master of the hourly Lagrangian bound (``lagrange``):

    min Σ R·H·P + Σ_{b,t} Σ_j c_btj·μ_btj
    s.t. Σ_j μ_btj = 1                                      per block b and cluster t
         Σ_{b,j} u_btj·μ_btj − n_t·Σ_τ R[g,τ] ≤ E[g,t]      per pool GPU type g and cluster t

over the subproblem solutions seen so far (``μ``: their weights; ``u``: their pool GPU-hours),
with a box on the prices (a column buying pool GPU-hours at the box's top, one selling them
at its bottom). Its optimum is at least ``max L``; the duals of the pool rows are the next
prices to try. Only ever evaluated ``L`` values are reported as the bound, so the master's
own accuracy cannot make the bound invalid.

Two back-ends, so that each solver's results stay its own: ``HighsMaster`` (``highspy``,
columns added in place) and ``CbcMaster`` (PuLP with CBC as the LP solver, the LP written
anew for each solve).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pulp

from advisor.solve.backends import silence_highs_banner


def highs_available() -> bool:
    """Whether ``highspy`` can be imported."""
    try:
        import highspy  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class MasterSpec:
    """The master's shape: blocks (models), hours per cluster ``(T,)``, committed GPU-hours
    per pool type and cluster ``E`` (G, T), reserved tiers per type (cost over the horizon,
    cap), and the price [USD per GPU-hour] of the box's buying column at most."""

    n_blocks: int
    n_hours: np.ndarray
    E: np.ndarray
    tiers: list[list[tuple[float, float]]]
    elastic_usd: float

    def box(self, center: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
        """The box's top and bottom prices per pool row: within ``delta`` of ``center``."""
        top = np.minimum(center.reshape(-1) + delta, self.elastic_usd)
        return top, np.maximum(center.reshape(-1) - delta, 0.0)


def make_master(solver: str, spec: MasterSpec) -> Master | None:
    """The master on ``solver``'s back-end ("highs", "cbc"), or None where it is missing."""
    if solver == "highs" and highs_available():
        return HighsMaster(spec)
    if solver == "cbc" and pulp.PULP_CBC_CMD().available():
        return CbcMaster(spec)
    return None


def column_entries(
    lam: np.ndarray, parts: tuple[np.ndarray, np.ndarray], T: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The columns of one round of subproblem solutions found at ``lam`` (G, T), ``parts``
    as written by ``lagrange._evaluate`` (cost at ``lam`` (B, T), pool GPU-hours (B, G, T)),
    column (b, t) after column: their own costs (priced back), starts, counts, row indices
    (pool rows ``g·T + t`` in g order, then the convexity row ``G·T + b·T + t``) and
    values."""
    cost, use = parts
    real = (cost - np.einsum("gt,bgt->bt", lam, use)).reshape(-1)
    B, G, _ = use.shape
    b_idx, g_idx, t_idx = np.nonzero(use > 1e-12)
    counts = np.zeros((B, T), dtype=int)
    np.add.at(counts, (b_idx, t_idx), 1)
    counts += 1  # the convexity row
    starts = np.concatenate([[0], np.cumsum(counts.reshape(-1))[:-1]]).astype(np.int32)
    idx = np.empty(int(counts.sum()), dtype=np.int32)
    val = np.empty(idx.size)
    order = np.lexsort((g_idx, t_idx, b_idx))
    b_idx, g_idx, t_idx = b_idx[order], g_idx[order], t_idx[order]
    col = b_idx * T + t_idx
    pos = starts[col] + _rank_within(col)
    idx[pos] = g_idx * T + t_idx
    val[pos] = use[b_idx, g_idx, t_idx]
    last = starts + counts.reshape(-1) - 1
    idx[last] = G * T + np.arange(B * T)
    val[last] = 1.0
    return real, starts, counts.reshape(-1), idx, val


class HighsMaster:
    """Kelley's cutting-plane model of ``L`` over the subproblem solutions seen so far: the
    LP ``min Σ R·H·P + Σ_{b,t} Σ_j c_btj·μ_btj`` with ``Σ_j μ_btj = 1`` per block and
    cluster and ``Σ_{b,j} u_btj·μ_btj − n_t·Σ_τ R[g,τ] ≤ E[g,t]`` per pool GPU type and
    cluster (the Dantzig–Wolfe master). Its optimum is at least ``max L``; the duals of the
    pool rows are the next prices to try. Needs ``highspy``; only ever evaluated ``L``
    values are reported as the bound, so the master's own accuracy cannot make it invalid."""

    def __init__(self, spec: MasterSpec) -> None:
        import highspy

        n_blocks, n_hours, E, tiers = spec.n_blocks, spec.n_hours, spec.E, spec.tiers
        self.spec, self.B, (G, T) = spec, n_blocks, E.shape
        self.G, self.T = G, T
        silence_highs_banner()
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        inf = highspy.kHighsInf
        none_i, none_f = np.array([], dtype=np.int32), np.array([], dtype=float)
        h.addRows(G * T, np.full(G * T, -inf), E.reshape(-1), 0, none_i, none_i, none_f)
        conv = n_blocks * T
        h.addRows(conv, np.ones(conv), np.ones(conv), 0, none_i, none_i, none_f)
        rows = np.arange(T, dtype=np.int32)
        for gi, tg in enumerate(tiers):
            for cost, cap in tg:
                h.addCol(cost, 0.0, cap if math.isfinite(cap) else inf, T, rows + gi * T, -n_hours)
        # a box on the prices: a column that buys pool GPU-hours at the box's top (also
        # keeping the master feasible before any column fits the caps) and one that sells
        # them at its bottom
        self.first_box = h.getNumCol()
        r = np.arange(G * T, dtype=np.int32)
        n = G * T
        ones = np.ones(n)
        starts = np.arange(n, dtype=np.int32)
        top = np.full(n, spec.elastic_usd)
        h.addCols(n, top, np.zeros(n), np.full(n, inf), n, starts, r, -ones)
        sell_cap = np.tile(n_hours, G) * 1e6  # row g·T + t: cluster t's hours
        h.addCols(n, np.zeros(n), np.zeros(n), sell_cap, n, starts, r, ones)
        self.h, self.inf, self.optimal = h, inf, highspy.HighsModelStatus.kOptimal

    def box(self, center: np.ndarray, delta: float) -> None:
        """Keep the master's prices within ``delta`` of ``center`` (G, T)."""
        n = self.G * self.T
        top, bottom = self.spec.box(center, delta)
        cols = np.arange(self.first_box, self.first_box + 2 * n, dtype=np.int32)
        self.h.changeColsCost(2 * n, cols, np.concatenate([top, -bottom]))

    def add(self, lam: np.ndarray, parts: tuple[np.ndarray, np.ndarray]) -> None:
        """Columns of the subproblem solutions found at ``lam`` (G, T): ``parts`` as written
        by ``_evaluate`` (cost at ``lam``, pool GPU-hours), priced back to their own cost."""
        real, starts, _, idx, val = column_entries(lam, parts, self.T)
        n = real.size
        self.h.addCols(n, real, np.zeros(n), np.full(n, self.inf), idx.size, starts, idx, val)

    def solve(self) -> tuple[float, np.ndarray] | None:
        """The master's optimum and its pool prices (G, T), or None if it did not solve."""
        self.h.run()
        if self.h.getModelStatus() != self.optimal:
            return None
        dual = np.asarray(self.h.getSolution().row_dual[: self.G * self.T], dtype=float)
        ub = float(self.h.getInfo().objective_function_value)
        return ub, np.maximum(0.0, -dual).reshape(self.G, self.T)


def _rank_within(keys: np.ndarray) -> np.ndarray:
    """Position of each element among the equal keys before it (keys sorted)."""
    if keys.size == 0:
        return keys
    first = np.concatenate([[True], keys[1:] != keys[:-1]])
    start = np.maximum.accumulate(np.where(first, np.arange(keys.size), 0))
    return np.arange(keys.size) - start


class CbcMaster:
    """The same master as ``HighsMaster``, solved by CBC through PuLP."""

    def __init__(self, spec: MasterSpec) -> None:
        n_hours, E = spec.n_hours, spec.E
        self.spec, self.B, (G, T) = spec, spec.n_blocks, E.shape
        self.G, self.T = G, T
        self.rhs = np.concatenate([E.reshape(-1), np.ones(self.B * T)])
        self.cost: list[float] = []
        self.upper: list[float | None] = []
        self.entries: list[tuple[np.ndarray, np.ndarray]] = []  # per column: rows, values
        rows = np.arange(T)
        for gi, tg in enumerate(spec.tiers):
            for cost, cap in tg:
                self._column(cost, cap if math.isfinite(cap) else None, rows + gi * T, -n_hours)
        self.first_box = len(self.cost)
        for r in range(G * T):
            self._column(spec.elastic_usd, None, np.array([r]), np.array([-1.0]))
        for r in range(G * T):
            sell = float(n_hours[r % T]) * 1e6  # row g·T + t: cluster t's hours
            self._column(0.0, sell, np.array([r]), np.array([1.0]))

    def _column(self, cost: float, upper: float | None, rows: np.ndarray, vals: np.ndarray) -> None:
        self.cost.append(float(cost))
        self.upper.append(upper)
        self.entries.append((np.asarray(rows, dtype=np.int64), np.asarray(vals, dtype=float)))

    def box(self, center: np.ndarray, delta: float) -> None:
        """Keep the master's prices within ``delta`` of ``center`` (G, T)."""
        n = self.G * self.T
        top, bottom = self.spec.box(center, delta)
        for r in range(n):
            self.cost[self.first_box + r] = float(top[r])
            self.cost[self.first_box + n + r] = -float(bottom[r])

    def add(self, lam: np.ndarray, parts: tuple[np.ndarray, np.ndarray]) -> None:
        """Columns of the subproblem solutions found at ``lam`` (G, T), as ``HighsMaster``."""
        real, starts, counts, idx, val = column_entries(lam, parts, self.T)
        for c in range(real.size):
            s, n = int(starts[c]), int(counts[c])
            self._column(float(real[c]), None, idx[s : s + n], val[s : s + n])

    def solve(self) -> tuple[float, np.ndarray] | None:
        """The master's optimum and its pool prices (G, T), or None if it did not solve."""
        n_pool = self.G * self.T
        prob = pulp.LpProblem("master", pulp.LpMinimize)
        xs = [pulp.LpVariable(f"c{j}", 0, u) for j, u in enumerate(self.upper)]
        terms: list[list[tuple[pulp.LpVariable, float]]] = [[] for _ in range(self.rhs.size)]
        for x, (rows, vals) in zip(xs, self.entries, strict=True):
            for r, v in zip(rows.tolist(), vals.tolist(), strict=True):
                terms[r].append((x, v))
        prob += pulp.LpAffineExpression(list(zip(xs, self.cost, strict=True)))
        for r, t in enumerate(terms):
            sense = pulp.LpConstraintLE if r < n_pool else pulp.LpConstraintEQ
            prob += pulp.LpConstraint(pulp.LpAffineExpression(t), sense, f"r{r}", self.rhs[r])
        prob.solve(pulp.PULP_CBC_CMD(msg=False, threads=1))
        if prob.status != pulp.LpStatusOptimal:
            return None
        dual = np.array([prob.constraints[f"r{r}"].pi or 0.0 for r in range(n_pool)])
        ub = float(pulp.value(prob.objective) or 0.0)
        return ub, np.maximum(0.0, -dual).reshape(self.G, self.T)


#: Either master: what the bound's cutting-plane phase talks to.
Master = HighsMaster | CbcMaster
