"""Procurement policies: which tiers, vendors and GPU types a plan may use, and how many types.

A policy comes from flags (``--tiers``, ``--vendors``, ``--gpus``, ``--max-gpu-types``) and/or
a ``policy:`` section in a YAML file (``--policy FILE``); a flag replaces the file's field::

    policy:
      tiers: [on_demand, spot, reserved_1y, api]   # allowed tiers; omit for all
      vendors: [nvidia]                            # allowed GPU vendors; omit for all
      gpus: [H100-SXM, A100-80G]                   # allowed GPU types; omit for all
      max_gpu_types: 2                             # at most K GPU types in the fleet
      min_rental_hours: 4                          # an on-demand/spot start runs >= 4 h

How each is enforced, exactly:

* ``tiers``, ``vendors``, ``gpus`` filter the catalog's offers before options are built (an
  excluded tier's or GPU's offer does not exist for the solver); without ``api`` no workload
  may use the API. Existing commitments stay: they are already signed.
* ``max_gpu_types`` is a constraint of the MILP: a binary per GPU type that every GPU of the
  type (reserved, or any replica in any hour) requires, at most K of them set.

* ``min_rental_hours`` is a constraint of the MILP over real hours in time order (``start``
  and ``hold`` rows: every unit started runs ``m`` hours). The models over merged or
  representative hours cannot carry it, so once the fleet is solved without it the hours are
  solved again with it (``advisor.solve.rental``): up to two weeks with the reserved fleet
  re-optimized in the same MILP, longer horizons in week-long windows with the fleet fixed.

The plan records the policy (``plan.json`` ``policy``) and the verifier checks the plan
against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from advisor.catalog import TIERS, Catalog, read_yaml
from advisor.errors import CatalogError, DemandError, closest, did_you_mean
from advisor.workloads import Workload

#: Tier names a policy may allow: the catalog's tiers and the API.
POLICY_TIERS: tuple[str, ...] = (*TIERS, "api")


class Policy(BaseModel):
    """What a plan may buy; ``None`` allows everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: list[str] | None = Field(default=None, description="allowed tiers (and 'api')")
    vendors: list[str] | None = Field(default=None, description="allowed GPU vendors")
    gpus: list[str] | None = Field(default=None, description="allowed GPU types")
    max_gpu_types: int | None = Field(
        default=None, ge=1, description="at most this many GPU types in the fleet"
    )
    min_rental_hours: int | None = Field(
        default=None, ge=1, description="an on-demand/spot start runs at least this long [h]"
    )

    @property
    def is_empty(self) -> bool:
        return self == Policy()

    def allows_gpu(self, catalog: Catalog, gpu: str) -> bool:
        if self.gpus is not None and gpu not in self.gpus:
            return False
        if self.vendors is not None:
            vendor = catalog.gpus[gpu].vendor if gpu in catalog.gpus else None
            return vendor in {v.lower() for v in self.vendors}
        return True

    def allows_tier(self, tier: str) -> bool:
        return self.tiers is None or tier in self.tiers


def check_policy(policy: Policy, catalog: Catalog, where: str) -> Policy:
    """Check names against the catalog; errors say which field and the close matches."""
    for name in ("tiers", "vendors", "gpus"):
        if getattr(policy, name) == []:
            raise DemandError(
                f"{where}: {name} is an empty list, which allows nothing; list what is "
                f"allowed, or leave {name} out to allow every one."
            )
    for t in policy.tiers or []:
        if t not in POLICY_TIERS:
            raise DemandError(
                f"{where}: unknown tier '{t}'.{closest(t, POLICY_TIERS)} Tiers: "
                f"{', '.join(POLICY_TIERS)}."
            )
    for g in policy.gpus or []:
        if g not in catalog.gpus:
            raise DemandError(f"{where}: unknown GPU '{g}'.{did_you_mean(g, catalog.gpus)}")
    vendors = sorted({gpu.vendor for gpu in catalog.gpus.values()})
    for v in policy.vendors or []:
        if v.lower() not in vendors:
            raise DemandError(
                f"{where}: unknown vendor '{v}'.{closest(v, vendors)} Vendors: "
                f"{', '.join(vendors)}."
            )
    wanted = {v.lower() for v in policy.vendors or []}
    if policy.gpus and wanted and not any(catalog.gpus[g].vendor in wanted for g in policy.gpus):
        raise DemandError(
            f"{where}: gpus ({', '.join(policy.gpus)}) and vendors ({', '.join(sorted(wanted))}) "
            "share no GPU, so the policy allows none; list GPU types of the allowed vendors."
        )
    return policy


def load_policy(path: Path | str, catalog: Catalog) -> Policy:
    """Read the ``policy:`` section of a YAML file."""
    path = Path(path)
    if not path.is_file():
        raise DemandError(f"Policy file '{path}' does not exist. Check the --policy path.")
    try:
        data = read_yaml(path)
    except CatalogError as exc:
        raise DemandError(str(exc)) from None
    section = data.get("policy")
    if not isinstance(section, dict):
        raise DemandError(f"{path}: expected a 'policy:' section (a mapping of fields).")
    try:
        policy = Policy.model_validate(section)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(policy)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown field.{did_you_mean(str(err['loc'][0]), Policy.model_fields)}"
            parts.append(f"field '{loc}': {msg}")
        raise DemandError(f"{path}: policy: " + "; ".join(parts) + ".") from None
    return check_policy(policy, catalog, f"{path}: policy")


def merge_policy(base: Policy, **flags: Any) -> Policy:
    """``base`` with each flag that is not ``None`` replacing its field."""
    update = {k: v for k, v in flags.items() if v is not None}
    return Policy.model_validate({**base.model_dump(), **update}) if update else base


def apply_policy(
    policy: Policy, catalog: Catalog, workloads: Mapping[str, Workload]
) -> tuple[Catalog, dict[str, Workload]]:
    """The catalog without the offers the policy excludes, and workloads without the API
    where the policy excludes it (exact: an excluded offer is one the solver never sees)."""
    if policy.is_empty:
        return catalog, dict(workloads)
    offers = {
        key: o
        for key, o in catalog.offers.items()
        if policy.allows_tier(o.tier) and policy.allows_gpu(catalog, o.gpu)
    }
    cat = dataclasses.replace(catalog, offers=offers)
    if policy.allows_tier("api"):
        return cat, dict(workloads)
    return cat, {n: w.model_copy(update={"allow_api": False}) for n, w in workloads.items()}


def rental_shortfalls(schedule: pd.DataFrame, hours: pd.DatetimeIndex, min_hours: int) -> list[str]:
    """On-demand/spot lanes where a start does not run ``min_hours`` (within the horizon):
    at every hour a lane must run at least the replicas it started in the last ``min_hours``."""
    if min_hours <= 1 or not len(schedule):
        return []
    rented = schedule[schedule["source"].isin(["on_demand", "spot"])]
    per = rented.drop_duplicates(["hour", "deployment", "source"])
    idx = pd.DatetimeIndex(hours).tz_convert("UTC")
    bad = []
    for (k, s), grp in per.groupby(["deployment", "source"]):
        n = (
            grp.set_index(pd.to_datetime(grp["hour"], utc=True))["replicas"]
            .reindex(idx, fill_value=0)
            .to_numpy(dtype=float)
        )
        starts = np.maximum(np.diff(n, prepend=0.0), 0.0)
        window = np.convolve(starts, np.ones(min_hours))[: len(n)]
        short = np.flatnonzero(n < window - 1e-9)
        if len(short):
            bad.append(
                f"{k} {s}: at {idx[short[0]].isoformat()} runs {n[short[0]]:g} of the "
                f"{window[short[0]]:g} started in the last {min_hours} h"
            )
    return bad


def policy_violations(
    policy: Policy,
    catalog: Catalog,
    reserved: Sequence[Mapping[str, Any]],
    schedule: pd.DataFrame,
    hours: pd.DatetimeIndex | None = None,
    committed: frozenset[str] = frozenset(),
) -> list[str]:
    """Where a plan (its new commitments and hourly schedule over ``hours``) breaks the
    policy. The policy says what to buy: the pool of a GPU type with existing commitments
    (``committed``) may run even where the policy leaves that GPU type out (those GPUs are
    paid for)."""
    bad = []
    for r in reserved:
        if not policy.allows_tier(r["tier"]):
            bad.append(f"{r['count']} {r['gpu']} on tier {r['tier']}, not allowed")
        if not policy.allows_gpu(catalog, r["gpu"]):
            bad.append(f"{r['count']} {r['gpu']} {r['tier']}: GPU not allowed")
    used_types = {r["gpu"] for r in reserved if int(r["count"]) > 0}
    if len(schedule):
        for s in sorted(set(schedule["source"]) - {"pool"}):
            if not policy.allows_tier(str(s)):
                bad.append(f"the schedule uses {s}, not allowed")
        self_rows = schedule[(schedule["source"] != "api") & (schedule["replicas"] > 0)]
        paid = (self_rows["source"] == "pool") & self_rows["gpu"].isin(committed)
        for g in sorted(set(self_rows.loc[~paid, "gpu"])):
            if not policy.allows_gpu(catalog, str(g)):
                bad.append(f"the schedule runs {g}, not allowed")
        used_types |= {str(g) for g in self_rows["gpu"]}
    if policy.min_rental_hours and hours is not None:
        bad += rental_shortfalls(schedule, hours, policy.min_rental_hours)
    if policy.max_gpu_types is not None and len(used_types) > policy.max_gpu_types:
        bad.append(
            f"{len(used_types)} GPU types ({', '.join(sorted(used_types))}) > "
            f"max_gpu_types {policy.max_gpu_types}"
        )
    return bad
