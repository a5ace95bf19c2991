"""HiGHS in a child process, for models large enough that it may not stop on time.

HiGHS checks its time limit, and calls its interrupt callbacks, at points of its search; in
the root cut loop of a large model it does neither for tens of seconds (measured at 168 h x
10 workloads, 25,385 integer columns: a 9 s limit ran to 35 s; upstream ERGO-Code/HiGHS#885
and #1278). In-process, nothing can stop it there: not the budget, not SIGINT. So the parent
(``advisor.solve.backends``) writes such a model to a file, runs this module on it, and kills
it at the deadline, keeping the last improving solution it wrote.

Run as ``python -m advisor.solve.highs_child MODEL.mps OUT_DIR OPTIONS.json``. It writes
``OUT_DIR/incumbent.npz`` at every improving solution (atomically: a kill leaves the previous
one whole) and ``OUT_DIR/result.npz`` when HiGHS returns. Each holds ``values`` (column
values in the model file's order), ``objective``, ``bound`` and ``status`` (HiGHS's model
status text; ``incumbent`` for an incumbent file).
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

INCUMBENT = "incumbent.npz"
RESULT = "result.npz"
START = "start.npz"


def save(path: Path, values: np.ndarray, objective: float, bound: float, status: str) -> None:
    """Write one solution file atomically."""
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, values=values, objective=objective, bound=bound, status=np.array(status))
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any] | None:
    """A solution file's contents, or None where it is absent or unreadable."""
    try:
        with np.load(path) as data:
            return {
                "values": np.asarray(data["values"], dtype=float),
                "objective": float(data["objective"]),
                "bound": float(data["bound"]),
                "status": str(data["status"]),
            }
    except (OSError, ValueError, KeyError):
        return None


def main(argv: list[str]) -> int:
    import highspy

    model, out, options = Path(argv[0]), Path(argv[1]), json.loads(Path(argv[2]).read_text())
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(model))
    for key, value in options.items():
        h.setOptionValue(key, value)
    start = load(out / START)
    if start is not None:
        index = np.arange(start["values"].size, dtype=np.int32)
        h.setSolution(int(index.size), index, start["values"])

    def improving(event: Any) -> None:
        d = event.data_out
        bound = float(d.mip_dual_bound)
        save(
            out / INCUMBENT,
            np.asarray(d.mip_solution, dtype=float),
            float(d.objective_function_value),
            bound if math.isfinite(bound) else -math.inf,
            "incumbent",
        )

    h.cbMipImprovingSolution += improving
    h.run()
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    sol = h.getSolution()
    values = np.asarray(sol.col_value, dtype=float)
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    bound = float(info.mip_dual_bound)
    save(
        out / RESULT,
        values if has_solution else np.zeros(0),
        float(info.objective_function_value) if has_solution else math.nan,
        bound if math.isfinite(bound) else -math.inf,
        status,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main(sys.argv[1:]))
