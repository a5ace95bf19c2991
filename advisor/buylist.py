"""The buy list: what a procurement review signs, one row per offer bought (provider,
instance type, region), tier and deployment.

``buy.csv`` in a plan folder has exactly the columns of :data:`BUY_COLUMNS`:

``provider``, ``instance``, ``region``, ``gpu``, ``tier``
    Where it is bought (the seeds' per-GPU offers: provider ``generic``, instance = the GPU
    type), the GPU type and the procurement tier (``reserved_1y``, ``reserved_3y``,
    ``owned``, ``capacity_block``, ``on_demand``, ``spot``); existing commitments are not in
    it (already signed).
``deployment``
    What runs on it (``model|gpu|quant|tpN``). Hourly tiers: a row per deployment (a rented
    instance runs one). Pool tiers: one row per commitment, naming every deployment that ran
    on the pool in some hour, joined with `` + `` (a committed pool is shared; its count is
    not split between them); empty where nothing ran on it.
``count``
    Instances to commit (pool tiers); for ``on_demand`` and ``spot`` the mean instances
    running over the horizon (instance-hours / horizon). A per-GPU offer's instance is one
    GPU.
``peak_count``
    The most instances in use in any hour (pool tiers: the pool's instances with a replica
    on them, existing commitments included).
``gpu_hours``
    GPU-hours paid over the horizon [GPU-hours].
``start``, ``end``
    Pool tiers: the commitment's start (the horizon's first hour) and end (start + term:
    the offer's ``term_months``, else 1 or 3 years, owned the amortization period);
    hourly tiers: the first hour rented and the end of the last.
``usd_per_month``
    Spend per month at the plan's rate [USD/month] (a month is 720 h; pool: count × price; hourly:
    the horizon's spend scaled to a month).
``commitment_usd``
    The liability signed [USD]: count × price × the whole term (1 or 3 years; owned: the
    amortization period), not only the horizon; 0 for hourly tiers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from advisor.units import HOURS_PER_MONTH, HOURS_PER_TERM_MONTH, HOURS_PER_YEAR

BUY_COLUMNS = (
    "provider",
    "instance",
    "region",
    "gpu",
    "tier",
    "deployment",
    "count",
    "peak_count",
    "gpu_hours",
    "start",
    "end",
    "usd_per_month",
    "commitment_usd",
)
#: Commitment term per pool tier [hours]; ``owned`` uses the offer's amortization period.
TERM_HOURS = {"reserved_1y": HOURS_PER_YEAR, "reserved_3y": 3 * HOURS_PER_YEAR}
#: Amortization assumed for owned GPUs whose offer gives an hourly price only [years].
DEFAULT_OWNED_YEARS = 3.0
#: A horizon shorter than this fraction of a commitment's term earns a warning.
SHORT_HORIZON_FRACTION = 0.25
_HOURLY = ("on_demand", "spot")
#: A buy row's key on an hourly tier: the offer, the tier and the deployment.
_HOURLY_KEY = ("provider", "instance", "region", "source", "deployment")
#: Joins the deployments that share a committed pool in its buy row.
POOL_JOIN = " + "


def term_hours(
    tier: str, amortization_years: float | None = None, term_months: float | None = None
) -> float | None:
    """A pool tier's commitment term [hours]: the offer's ``term_months`` where it states
    one, else 1 or 3 years (owned: the amortization period, 3 years if not stated); None
    for a tier with no known term (a capacity block without ``term_months``)."""
    if term_months:
        return term_months * HOURS_PER_TERM_MONTH
    if tier == "owned":
        return (amortization_years or DEFAULT_OWNED_YEARS) * HOURS_PER_YEAR
    return TERM_HOURS.get(tier)


def commitment_fields(
    count: int, usd_per_hour: float, term_h: float, start: pd.Timestamp
) -> dict[str, Any]:
    """What a reviewer signs for ``count`` GPUs at ``usd_per_hour`` each over ``term_h`` hours."""
    return {
        "start": start.isoformat(),
        "end": (start + pd.Timedelta(hours=term_h)).isoformat(),
        "term_hours": term_h,
        "usd_per_month": count * usd_per_hour * HOURS_PER_MONTH,
        "commitment_usd": count * usd_per_hour * term_h,
    }


def short_horizon_warnings(reserved: Sequence[Mapping[str, Any]], horizon_h: float) -> list[str]:
    """A warning per commitment whose term is over four times the horizon."""
    out = []
    for r in reserved:
        term = float(r["term_hours"])
        if horizon_h < SHORT_HORIZON_FRACTION * term:
            out.append(
                f"{_committed(r)} {r['tier']} is a commitment of {term / HOURS_PER_YEAR:g} "
                f"year(s) (${r['commitment_usd']:,.0f} from {r['start'][:10]} to "
                f"{r['end'][:10]}) chosen from {horizon_h:,.0f} hours of demand "
                f"({horizon_h / term:.1%} of the term): the plan assumes the horizon's demand "
                f"repeats for the whole term. Check it against a longer forecast."
            )
    return out


def _committed(r: Mapping[str, Any]) -> str:
    """What a reserved row commits to: ``15 H100-SXM`` (the seeds' per-GPU offers), else the
    instances and their GPUs (``1 acme 8xH100 instance (8 H100-SXM GPUs)``): a count of
    8-GPU instances read as GPUs is an eighth of the purchase."""
    n = int(r["count"])
    provider = r.get("provider") or "generic"
    if provider == "generic" and int(r.get("gpus_per_instance", 1) or 1) == 1:
        return f"{n} {r['gpu']}"
    where = " ".join(str(x) for x in (provider, r.get("instance"), r.get("region")) if x)
    gpus = round(_gpus(r))
    return (
        f"{n} {where} instance{'s' if n != 1 else ''} "
        f"({gpus} {r['gpu']} GPU{'s' if gpus != 1 else ''})"
    )


def _gpus(r: Mapping[str, Any]) -> float:
    """GPUs of a reserved row: its count in pool units times the GPUs per unit."""
    return float(r["count"]) * float(r.get("gpus_per_instance", 1) or 1)


def _where(r: Mapping[str, Any]) -> tuple[str, str, str]:
    """(provider, instance, region) of a reserved row or schedule row (plans before instance
    offers: the generic per-GPU offer of its GPU type)."""
    provider = r.get("provider") or "generic"
    instance = r.get("instance") or r["gpu"]
    region = r.get("region") or ""
    return str(provider), str(instance), "" if region != region else str(region)


def _pool_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A schedule with its pool columns (a plan before instance offers: per-GPU pools)."""
    out = frame
    if "pool" not in out.columns:
        out = out.assign(pool=out["gpu"], instances=out["gpus"], provider="generic")
        out = out.assign(instance=out["gpu"], region="")

    def text(col: str, default: pd.Series | str) -> pd.Series:
        values = out[col].astype(object)
        return values.where(values.notna() & (values != ""), default).astype(str)

    return out.assign(
        provider=text("provider", "generic"),
        instance=text("instance", out["gpu"].astype(str)),
        region=text("region", ""),
    )


def buy_rows(
    reserved: Sequence[Mapping[str, Any]],
    schedule: pd.DataFrame,
    horizon_h: float,
    gpu_usd_per_hour: Mapping[tuple[str, str], float],
) -> list[dict[str, Any]]:
    """The buy list from a plan's reserved rows, its hourly schedule and the prices [USD per
    pool unit-hour] per (pool, tier): one row per offer (provider, instance, region), tier
    and (hourly tiers) deployment; counts are instances, ``gpu_hours`` GPU-hours."""
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    self_rows = schedule[schedule["source"] != "api"] if len(schedule) else schedule
    per = (
        _pool_columns(self_rows.drop_duplicates(["hour", "deployment", "source"]))
        if len(self_rows)
        else self_rows
    )
    pool_peak: dict[tuple[str, str, str], int] = {}
    pool_deps: dict[tuple[str, str, str], str] = {}
    if len(per):
        pool = per[(per["source"] == "pool") & (per["gpus"] > 0)]
        for key, grp in pool.groupby(["provider", "instance", "region"]):
            where = tuple(str(k) for k in key)
            peak = float(grp.groupby("hour")["instances"].sum().max())
            pool_peak[where] = math.ceil(peak - 1e-9)  # type: ignore[index]
            pool_deps[where] = POOL_JOIN.join(sorted(set(grp["deployment"].astype(str))))  # type: ignore[index]
    for r in reserved:
        where = _where(r)
        key = (*where, str(r["tier"]))
        row = rows.setdefault(
            key,
            {
                "provider": where[0],
                "instance": where[1],
                "region": where[2],
                "gpu": str(r["gpu"]),
                "tier": str(r["tier"]),
                "deployment": pool_deps.get(where, ""),
                "count": 0,
                "peak_count": pool_peak.get(where, 0),
                "gpu_hours": 0.0,
                "start": r["start"],
                "end": r["end"],
                "usd_per_month": 0.0,
                "commitment_usd": 0.0,
            },
        )
        row["count"] += int(r["count"])
        row["gpu_hours"] += _gpus(r) * horizon_h
        row["start"] = min(row["start"], r["start"])
        row["end"] = max(row["end"], r["end"])
        row["usd_per_month"] += float(r["usd_per_month"])
        row["commitment_usd"] += float(r["commitment_usd"])
    if len(per):
        hourly = per[per["source"].isin(_HOURLY) & (per["gpus"] > 0)]
        for key, grp in hourly.groupby([*_HOURLY_KEY]):
            prov, inst, reg, tier, dep = (str(k) for k in key)
            by_hour = grp.groupby("hour")["instances"].sum()
            hours = pd.to_datetime(pd.Series(by_hour.index), utc=True)
            usd = sum(
                float(lane["instances"].sum()) * gpu_usd_per_hour[(str(pk), tier)]
                for pk, lane in grp.groupby("pool")
            )
            rows[(prov, inst, reg, tier, dep)] = {
                "provider": prov,
                "instance": inst,
                "region": reg,
                "gpu": str(grp["gpu"].iloc[0]),
                "tier": tier,
                "deployment": dep,
                "count": round(float(by_hour.sum()) / horizon_h, 2),
                "peak_count": round(float(by_hour.max())),
                "gpu_hours": float(grp["gpus"].sum()),
                "start": hours.min().isoformat(),
                "end": (hours.max() + pd.Timedelta(hours=1)).isoformat(),
                "usd_per_month": usd / horizon_h * HOURS_PER_MONTH,
                "commitment_usd": 0.0,
            }
    return list(rows.values())


def buy_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """``buy.csv``'s text: a header of :data:`BUY_COLUMNS` and one line per row."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=BUY_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.12g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def deployment_label(deployment: str) -> str:
    """A buy row's deployments as the tables show them: ``model quant TPn`` each (the GPU
    has its own column); ``-`` for none."""
    labels = []
    for d in deployment.split(POOL_JOIN) if deployment else []:
        parts = d.split("|")
        if len(parts) == 4:
            tp = parts[3].replace("tp", "TP").replace("x", " ×")
            labels.append(f"{parts[0]} {parts[2]} {tp}")
        else:
            labels.append(d)
    return ", ".join(labels) or "-"


def buy_table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The buy list as a header and text rows, for Markdown, HTML and the terminal."""
    head = [
        "provider",
        "instance",
        "region",
        "GPU",
        "tier",
        "runs",
        "instances",
        "peak",
        "GPU-hours",
        "start",
        "end",
        "USD/month",
        "commitment (USD)",
    ]
    body = []
    for r in rows:
        c = r["count"]
        body.append(
            [
                str(r.get("provider", "generic")),
                str(r.get("instance", r["gpu"])),
                str(r.get("region") or "-"),
                str(r["gpu"]),
                str(r["tier"]),
                deployment_label(str(r.get("deployment", ""))),
                f"{c:,.2f}" if isinstance(c, float) and not float(c).is_integer() else f"{c:,.0f}",
                f"{r['peak_count']:,}",
                f"{r['gpu_hours']:,.0f}",
                str(r["start"])[:16],
                str(r["end"])[:16],
                f"{r['usd_per_month']:,.2f}",
                f"{r['commitment_usd']:,.2f}" if r["commitment_usd"] else "-",
            ]
        )
    return head, body


def _key(r: Mapping[str, Any]) -> tuple[str, ...]:
    """A buy row's identity: offer, tier and, on an hourly tier, the deployment."""
    tier = str(r["tier"])
    return (*_where(r), tier, str(r.get("deployment", "")) if tier in _HOURLY else "")


def check_buy_rows(
    rows: Sequence[Mapping[str, Any]],
    schedule: pd.DataFrame,
    reserved: Sequence[Mapping[str, Any]],
    horizon_h: float,
) -> list[str]:
    """Problems between a buy list and the plan: a column missing or not its own (first),
    instance-hours, GPU-hours per hourly offer × tier × deployment recomputed from the
    schedule, counts per committed offer × tier from the reserved rows and the deployments
    each committed pool ran."""
    if rows and (cols := [c for c in BUY_COLUMNS if c not in rows[0]]):
        return [f"buy list lacks columns {cols}"]
    # exactly its columns: one a review would read beside them (a 'discount') is not advisor's
    if extra := sorted({str(c) for r in rows for c in r} - set(BUY_COLUMNS)):
        return [f"buy list has columns advisor does not write: {extra}"]
    problems = []
    got: dict[tuple[str, ...], tuple[float, float, str]] = {}
    for r in rows:
        key = _key(r)
        if key in got:
            problems.append(f"{' '.join(k for k in key if k)} listed twice")
        got[key] = (float(r["count"]), float(r["gpu_hours"]), str(r.get("deployment", "")))
        if str(r["tier"]) in _HOURLY and float(r["commitment_usd"]) != 0:
            problems.append(f"{' '.join(key)}: an hourly tier carries no commitment")
    want = _expected_rows(schedule, reserved, horizon_h)
    for key in sorted(set(got) | set(want)):
        name = " ".join(k for k in key if k)
        if key not in got:
            problems.append(f"{name}: in the plan, missing from the buy list")
        elif key not in want:
            problems.append(f"{name}: in the buy list, not in the plan")
        else:
            (c1, h1, d1), (c2, h2, d2) = got[key], want[key]
            if not (math.isclose(c1, c2, abs_tol=0.011) and math.isclose(h1, h2, rel_tol=1e-9)):
                problems.append(
                    f"{name}: buy list {c1:g} instances / {h1:,.1f} GPU-hours, "
                    f"schedule {c2:g} / {h2:,.1f}"
                )
            if d1 != d2:
                problems.append(f"{name}: buy list runs '{d1}', schedule '{d2}'")
    return problems


def _expected_rows(
    schedule: pd.DataFrame, reserved: Sequence[Mapping[str, Any]], horizon_h: float
) -> dict[tuple[str, ...], tuple[float, float, str]]:
    """(count, GPU-hours, deployments) per buy row key, from the reserved rows and the
    schedule alone."""
    want: dict[tuple[str, ...], tuple[float, float, str]] = {}
    per = schedule
    if len(per):
        per = per[(per["source"] != "api") & (per["gpus"] > 0)]
        per = _pool_columns(per.drop_duplicates(["hour", "deployment", "source"]))
    deps: dict[tuple[str, ...], str] = {}
    if len(per):
        for where, grp in per[per["source"] == "pool"].groupby(["provider", "instance", "region"]):
            deps[tuple(str(k) for k in where)] = POOL_JOIN.join(
                sorted(set(grp["deployment"].astype(str)))
            )
    for r in reserved:
        key = _key(r)
        c, h, _ = want.get(key, (0.0, 0.0, ""))
        want[key] = (c + float(r["count"]), h + _gpus(r) * horizon_h, deps.get(_where(r), ""))
    if len(per):
        for key, grp in per[per["source"].isin(_HOURLY)].groupby([*_HOURLY_KEY]):
            k = tuple(str(x) for x in key)
            want[k] = (
                round(float(grp["instances"].sum()) / horizon_h, 2),
                float(grp["gpus"].sum()),
                k[-1],
            )
    return want


#: The buy list's columns that ``check_buy_rows`` leaves out, compared by ``buy_row_differences``.
_MORE_TEXT = ("gpu", "start", "end")
_MORE_NUMBERS = ("peak_count", "usd_per_month", "commitment_usd")


def buy_row_differences(
    rows: Sequence[Mapping[str, Any]], want: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Problems where a buy list's GPU, peak, dates, monthly spend or commitment differ from
    ``want`` (the buy list recomputed with :func:`buy_rows`), row by row of the same key (a row
    missing on either side is ``check_buy_rows``'s to report)."""
    expected = {_key(r): r for r in want}
    problems = []
    for r in rows:
        w = expected.get(_key(r))
        if w is None:
            continue
        name = " ".join(k for k in _key(r) if k)
        for c in _MORE_TEXT:
            if str(r.get(c)) != str(w[c]):
                problems.append(f"{name}: {c} {r.get(c)!r}, recomputed {w[c]!r}")
        for c in _MORE_NUMBERS:
            v = r.get(c)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or not math.isclose(float(v), float(w[c]), rel_tol=1e-6, abs_tol=1e-6):
                problems.append(f"{name}: {c} {v!r}, recomputed {float(w[c]):,.6g}")
    return problems
