"""Check a plan without trusting the solver.

From the plan's files, the demand and the catalog alone, recompute:

* **coverage** — every hour, every workload: requests served by replicas plus the API
  cover the demand;
* **capacity within SLO** — each replica's requests/hour re-derived from the roofline at the
  workload's TPOT/TTFT limits (or from the measured-capacity table the plan names), and no
  row serves more than its share of replicas can;
* **integrality and sharing** — whole replicas; workload shares of one deployment add up
  to at most its replicas; GPUs = replicas × TP;
* **the reserved pool** — pool replicas never use more GPUs than are reserved or committed,
  in every hour; availability caps hold;
* **rules** — spot only for workloads that allow it, the API only where allowed, only allowed
  GPUs and quantizations;
* **cost** — reserved, hourly, API, overhead and committed spend recomputed from catalog
  prices add up to the plan's total and per-tier figures.

* **inputs** — the plan records the SHA-256 of the demand, catalog, workloads, measured
  capacity and fleet it was solved for; a plan checked against other inputs fails, naming them;
* **the schedule's numbers** — every number finite and of its sign, whole where it counts
  things, rows that name a real deployment, and API rows that carry exactly their share of
  the demand's tokens (not whatever balances a total);
* **totals** — tokens, per-workload figures, $/M, reserved rows, commitments, utilization,
  the lower bound and gap and every baseline recomputed and compared with what the plan says.

Nothing is read from the plan's own copies of inputs (SLOs, headroom, definitions, paths):
the caller passes the inputs. This package reads the roofline and the catalog directly; it does
not use the option enumeration, the MILP or the solver.
"""

from __future__ import annotations

from advisor.verify.core import check_policy_rules, verify_plan
from advisor.verify.report import REL_TOL, Given, VerifyReport

__all__ = [
    "REL_TOL",
    "Given",
    "VerifyReport",
    "check_policy_rules",
    "verify_plan",
]
