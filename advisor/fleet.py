"""Existing commitments: GPUs already reserved or owned, read from ``fleet.yaml``.

::

    commitments:
      - gpu: H100-SXM
        count: 16                  # GPUs, at most 1,000,000 (MAX_COMMITMENT_COUNT)
        tier: reserved_1y          # reserved_1y | reserved_3y | owned
        usd_per_hour: 2.90         # per GPU, as contracted
        start: 2025-06-01T00:00:00Z   # optional; active from the start of the horizon if omitted
                                      # (times without an offset are UTC, as in demand files;
                                      # start and end are whole hours in UTC)
        end: 2026-01-08T00:00:00Z     # optional; active to the end of the horizon if omitted
        note: "contract #123"

A commitment is capacity the plan must use while it lasts (it joins the reserved pool hour by
hour) and cost it cannot avoid (paid for every hour of the horizon it is active). The plan
recommends only what to add.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from advisor.catalog import Catalog, read_yaml, strict_number
from advisor.errors import CatalogError, DemandError, did_you_mean

#: The most GPUs one commitment holds: far above any real contract (the largest clusters
#: hold a few hundred thousand GPUs), so a count above it is a typo, not a fleet.
MAX_COMMITMENT_COUNT = 1_000_000


class Commitment(BaseModel):
    """GPUs already paid for: count, tier, contracted price, and when they are active."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    gpu: str
    count: int = Field(ge=1, description=f"GPUs, at most {MAX_COMMITMENT_COUNT:,}")
    tier: Literal["reserved_1y", "reserved_3y", "owned"]
    usd_per_hour: float = Field(ge=0, description="per GPU [USD/GPU-hour]")
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    note: str = ""

    @field_validator("count")
    @classmethod
    def _a_fleet_not_a_typo(cls, v: int) -> int:
        if v > MAX_COMMITMENT_COUNT:
            raise ValueError(
                f"{v:,} GPUs is more than one commitment may hold ({MAX_COMMITMENT_COUNT:,}); "
                "give the number of GPUs under the contract"
            )
        return v

    @field_validator("start", "end", mode="before")
    @classmethod
    def _a_time_not_a_number(cls, v: Any) -> Any:
        # pydantic reads a number as seconds since 1970: end: 12 was 1970-01-01T00:00:12Z
        if isinstance(v, int | float):
            raise ValueError(f"{v!r} is a number; give a time like 2026-01-08T00:00:00Z")
        return v

    @field_validator("start", "end")
    @classmethod
    def _whole_utc_hour(cls, v: dt.datetime | None) -> dt.datetime | None:
        # the demand file's rule: a time without an offset is UTC; the plan's hours are UTC
        # hours, so a whole hour in a half-hour offset (12:00+05:30) is not one of them
        if v is None:
            return v
        v = v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v
        utc = v.astimezone(dt.UTC)
        if utc.minute or utc.second or utc.microsecond:
            raise ValueError(
                f"{v.isoformat()} is {utc.strftime('%Y-%m-%dT%H:%M:%S')} UTC, not a whole "
                "hour in UTC; commitments start and end on a UTC hour (the plan's hours are "
                "UTC hours)"
            )
        return v

    @field_validator("*", mode="before")
    @classmethod
    def _strict_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return strict_number(cls, value, info)

    @model_validator(mode="after")
    def _check(self) -> Commitment:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def active(self, hours: pd.DatetimeIndex) -> np.ndarray:
        """Whether the commitment is active at each hour start."""
        on = np.ones(len(hours), dtype=bool)
        if self.start is not None:
            on &= hours >= pd.Timestamp(self.start)
        if self.end is not None:
            on &= hours < pd.Timestamp(self.end)
        return on


def load_fleet(path: Path | str, catalog: Catalog) -> list[Commitment]:
    """Read and check a fleet file; errors name the file, the entry and the field."""
    path = Path(path)
    if not path.is_file():
        raise DemandError(f"Fleet file '{path}' does not exist. Check the --fleet path.")
    try:
        data = read_yaml(path)
    except CatalogError as exc:
        raise DemandError(str(exc)) from None
    entries = data.get("commitments")
    unknown = [k for k in data if k != "commitments"]
    if unknown:
        raise DemandError(
            f"{path}: unknown section '{unknown[0]}'; a fleet file has one section, 'commitments'."
        )
    if not isinstance(entries, list) or not entries:
        raise DemandError(f"{path}: 'commitments' must be a non-empty list of entries.")
    out = []
    for i, e in enumerate(entries):
        label = f"commitments[#{i + 1}]"
        if not isinstance(e, dict):
            raise DemandError(f"{path}: {label} must be a mapping of fields.")
        try:
            c = Commitment.model_validate(e)
        except ValidationError as exc:
            fields = list(Commitment.model_fields)
            parts = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown field.{did_you_mean(str(err['loc'][0]), fields)}"
                parts.append(f"field '{loc}': {msg}")
            raise DemandError(f"{path}: {label}: " + "; ".join(parts) + ".") from None
        if c.gpu not in catalog.gpus:
            raise DemandError(
                f"{path}: {label}: field 'gpu': unknown GPU '{c.gpu}'."
                f"{did_you_mean(c.gpu, catalog.gpus)}"
            )
        out.append(c)
    return out


def idle_commitments(commitments: Sequence[Commitment], hours: pd.DatetimeIndex) -> list[str]:
    """A warning for each commitment with no hour in the horizon (over before it starts, or
    starting after it ends): it costs nothing and serves nothing here."""
    return [
        f"commitments[#{i + 1}] ({c.count} {c.gpu} {c.tier}, "
        f"{c.start.isoformat() if c.start else 'open'} to "
        f"{c.end.isoformat() if c.end else 'open'}) has no hour in the horizon "
        f"({hours[0].isoformat()} to {hours[-1].isoformat()}): it is not in this plan"
        for i, c in enumerate(commitments)
        if len(hours) and not c.active(hours).any()
    ]


def existing_gpus(
    commitments: Sequence[Commitment], hours: pd.DatetimeIndex
) -> dict[str, np.ndarray]:
    """GPUs committed per type at each hour."""
    out: dict[str, np.ndarray] = {}
    for c in commitments:
        arr = out.setdefault(c.gpu, np.zeros(len(hours)))
        arr += c.count * c.active(hours)
    return dict(sorted(out.items()))


def existing_rows(
    commitments: Sequence[Commitment], hours: pd.DatetimeIndex
) -> list[dict[str, Any]]:
    """One row per commitment active in the horizon: its active hours, GPU-hours and committed
    spend (one with no hour in it is left out: see ``idle_commitments``)."""
    rows = []
    for c in commitments:
        active = int(c.active(hours).sum())
        if not active:
            continue
        rows.append(
            {
                "gpu": c.gpu,
                "tier": c.tier,
                "count": c.count,
                "usd_per_hour": c.usd_per_hour,
                "start": c.start.isoformat() if c.start else None,
                "end": c.end.isoformat() if c.end else None,
                "active_hours": active,
                "gpu_hours": float(c.count * active),
                "cost_usd": c.count * c.usd_per_hour * active,
                "note": c.note,
            }
        )
    return rows
