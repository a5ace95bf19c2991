"""The figures a reader takes from plan.json beyond the schedule: the reserved rows as the
catalog prices them, the buy lists, the fleet summary and the warnings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from advisor.buylist import (
    buy_row_differences,
    buy_rows,
    check_buy_rows,
    commitment_fields,
    short_horizon_warnings,
    term_hours,
)
from advisor.catalog import Catalog
from advisor.options import catalog_pools, effective_prices
from advisor.scenario_report import summary_md
from advisor.verify.report import Case, Same, VerifyReport, spot_aware_price, summarize


def expected_reserved(
    plan_data: Mapping[str, Any], catalog: Catalog, hours: pd.DatetimeIndex
) -> list[dict[str, Any]]:
    """The plan's reserved rows as the catalog prices them: where, the price and cost over the
    horizon, and the commitment over the offer's whole term from the horizon's first hour."""
    H = float(len(hours))
    start = pd.Timestamp(pd.DatetimeIndex(hours)[0]).tz_convert("UTC")
    pools = catalog_pools(catalog)
    out = []
    for r in plan_data.get("reserved", []):
        g, tier, n = r.get("pool", r["gpu"]), str(r["tier"]), int(r["count"])
        offer = catalog.offers[(g, tier)]
        price = spot_aware_price(catalog, g, tier)
        term = term_hours(tier, offer.amortization_years, offer.term_months) or H
        where = pools[g].as_dict()
        out.append(
            {
                "gpu": offer.gpu,
                "tier": tier,
                "count": n,
                "usd_per_hour": price,
                "cost_usd": n * price * H,
                **{k: where[k] for k in ("pool", "provider", "instance", "region")},
                "gpus_per_instance": where["gpus_per_instance"],
                **commitment_fields(n, price, term, start),
            }
        )
    return out


def check_buy_lists(
    rep: VerifyReport,
    case: Case,
    reserved: Sequence[Mapping[str, Any]],
    buy_file: Sequence[Mapping[str, Any]] | None,
) -> None:
    """The buy list a reviewer reads (``buy.csv`` where the folder has one, else plan.json's)
    is ``buy_list``; plan.json's copy beside a buy.csv (which compare and report read) is
    ``plan_buy_list``. Each adds up to the schedule and the reserved rows (``reserved``: as
    the catalog prices them: counts, GPU-hours, deployments) and has the GPU, peak, dates,
    monthly spend and commitment of the buy list recomputed from them."""
    plan_data, sched, H = case.plan_data, case.sched, case.n_hours
    want = buy_rows(reserved, sched, float(H), effective_prices(case.catalog))
    lists = [("buy_list", "buy.csv", buy_file)] if buy_file is not None else []
    if "buy" in plan_data:
        name = "buy_list" if buy_file is None else "plan_buy_list"
        lists.append((name, "plan.json's buy list", plan_data.get("buy") or []))
    for name, label, rows in lists:
        rows = list(rows)
        bad = check_buy_rows(rows, sched, reserved, float(H))
        bad += buy_row_differences(rows, want) if not bad else []
        rep.add(
            name,
            not bad,
            "; ".join(bad[:3])
            or f"buy list = schedule totals ({label}: counts, GPU-hours, peaks, dates, "
            "monthly spend and commitments recomputed)",
        )


def _fleet_where(pools: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A fleet row's pool, provider, instance type, region and GPUs per instance."""
    p = pools.get(key)
    if p is None:  # a generic pool known only from commitments
        return {"pool": key, "provider": "generic", "instance": key, "region": ""} | {
            "gpus_per_instance": 1
        }
    d = p.as_dict()
    return {k: d[k] for k in ("pool", "provider", "instance", "region", "gpus_per_instance")}


def _expected_fleet(
    sched: pd.DataFrame, catalog: Catalog, reserved: Sequence[Mapping[str, Any]], H: int
) -> list[dict[str, Any]]:
    """plan.json's ``fleet``: each commitment, then each pool × source of the schedule with
    its peak and mean GPUs, GPU-hours and peak instances."""
    pools = catalog_pools(catalog)
    rows: list[dict[str, Any]] = []
    for r in sorted(reserved, key=lambda r: (r["pool"], r["tier"])):
        gpus = r["count"] * int(r["gpus_per_instance"])
        rows.append(
            {"gpu": r["gpu"], "tier": r["tier"], "peak_gpus": gpus, "mean_gpus": float(gpus)}
            | {"gpu_hours": gpus * float(H), **_fleet_where(pools, r["pool"])}
            | {"instances": r["count"]}
        )
    per = sched[sched["source"] != "api"] if len(sched) else sched
    per = per.drop_duplicates(["hour", "deployment", "source"]) if len(per) else per
    for (g, s), grp in per.groupby(["pool", "source"]) if len(per) else []:
        by_hour = grp.groupby("hour")["gpus"].sum()
        rows.append(
            {
                "gpu": str(grp["gpu"].iloc[0]),
                "tier": "pool (in use)" if s == "pool" else str(s),
                "peak_gpus": int(by_hour.max()),
                "mean_gpus": float(by_hour.sum() / H),
                "gpu_hours": float(by_hour.sum()),
                **_fleet_where(pools, str(g)),
                "instances": float(grp.groupby("hour")["instances"].sum().max()),
            }
        )
    return rows


def check_fleet(rep: VerifyReport, case: Case, reserved: Sequence[Mapping[str, Any]]) -> None:
    """The fleet summary (peak and mean GPUs, GPU-hours, instances per pool and tier)
    recomputed from the reserved rows (as the catalog prices them) and the schedule."""
    plan_data = case.plan_data
    if "fleet" not in plan_data:
        return
    got = plan_data.get("fleet") or []
    want = _expected_fleet(case.sched, case.catalog, reserved, case.n_hours)
    same = Same()
    if len(got) != len(want):
        same.bad.append(f"{len(got)} fleet rows, recomputed {len(want)}")
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        for k, v in w.items():
            r = g.get(k) if isinstance(g, Mapping) else None
            if isinstance(v, int | float) and k != "gpus_per_instance":
                same(f"fleet[{i}].{k}", r, float(v))
            elif r != v:
                same.bad.append(f"fleet[{i}].{k}: reported {r!r}, recomputed {v!r}")
    rep.add(
        "fleet",
        not same.bad,
        summarize(same.bad) if same.bad else f"{len(want)} fleet rows recomputed",
    )


def _unpathed(text: str) -> str:
    """A warning without its file paths (a catalog warning names the file it read, which
    differs between machines and working folders)."""
    return re.sub(r"\S*/\S*", "/", text)


def check_warnings(
    rep: VerifyReport,
    case: Case,
    implied: Sequence[str] | None,
    reserved: Sequence[Mapping[str, Any]],
    baselines: Mapping[str, float | None] | None,
    total: float,
) -> None:
    """The plan states every warning its inputs imply: ``implied`` (the catalog's, idle
    commitments, workloads without slo_stat), short horizons against a commitment's term, a
    plan dearer than a simple policy. Warnings of the solve itself (time limits, the bound,
    aggregation) and of price ages (they depend on the day and --max-price-age) cannot be
    recomputed and are not checked."""
    stated = case.plan_data.get("warnings")
    if not isinstance(stated, list) or not all(isinstance(w, str) for w in stated):
        rep.add("warnings", False, f"warnings is {stated!r}, not a list of texts")
        return
    have = {_unpathed(w) for w in stated}
    want = [*(implied or []), *short_horizon_warnings(reserved, float(case.n_hours))]
    missing = [w for w in want if _unpathed(w) not in have]
    costs = {k: v for k, v in (baselines or {}).items() if v is not None}
    best = min(costs, key=lambda k: costs[k]) if costs else None
    if best is not None and costs[best] < total * (1 - 1e-6):
        head = f"The plan costs more than the simple policy '{best}'"
        if not any(w.startswith(head) for w in stated):
            missing.append(head)
    rep.add(
        "warnings",
        not missing,
        f"{len(missing)} warning(s) the inputs imply are missing; first: {missing[0]}"
        if missing
        else f"the {len(want)} warning(s) the inputs imply are stated (the solve's own and "
        "price-age warnings are not recomputed)",
    )


def check_summary(rep: VerifyReport, plan_data: Mapping[str, Any], text: str | None) -> None:
    """The folder's ``summary.md`` (``text``; None where it has none) says what plan.json
    says: it is written from it (``advisor.scenario_report.summary_md``), so each line is
    rewritten here and compared."""
    if text is None:
        return  # the plan_files check names a summary.md the manifest lists and is not there
    want = summary_md(plan_data)
    if text == want:
        rep.add("summary", True, "summary.md says what plan.json says")
        return
    got_lines, want_lines = text.splitlines(), want.splitlines()
    i = next(
        (i for i, (g, w) in enumerate(zip(got_lines, want_lines, strict=False)) if g != w),
        min(len(got_lines), len(want_lines)),
    )
    said = got_lines[i] if i < len(got_lines) else "(nothing: it ends there)"
    wanted = want_lines[i] if i < len(want_lines) else "(nothing: it ends there)"
    rep.add(
        "summary",
        False,
        f"summary.md line {i + 1} says {_clip(said)!r}; plan.json gives {_clip(wanted)!r} "
        "(the file was edited after advisor wrote it)",
    )


def _clip(line: str, width: int = 160) -> str:
    """A line cut to ``width`` characters (with an ellipsis where it was longer)."""
    return line if len(line) <= width else line[: width - 1] + "…"
