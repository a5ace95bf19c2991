"""Hourly demand: read and validate demand CSVs, synthesize demand for examples.

CSV format (one row per hour and workload, header on line 1)::

    hour,workload,requests,input_tokens,output_tokens
    2026-01-05T00:00:00Z,llama-3.1-70b-interactive,30000,30000000,9000000

- ``hour``: the start of the hour, ISO 8601 (``2026-01-05T00:00:00Z``,
  ``2026-01-05T00:00:00+01:00``). Timestamps without an offset are read as UTC. Every row
  must use the same UTC offset, so a file that crosses a daylight-saving change must be
  written in UTC or one fixed offset. Hours must be whole hours.
- ``workload``: a defined workload name (shipped defaults, a ``--catalog`` folder or a
  ``--workloads`` file).
- ``requests`` [requests/hour], ``input_tokens`` and ``output_tokens`` [tokens/hour]: each
  column is optional, but at least one must be present, and every row must give at least one
  of them. An empty cell means "not given".

Rows of each workload ascend by hour, and every workload has a row for every hour from the
file's first hour to its last (write 0 for no demand).

The effective-requests rule: capacity is sized in requests at the workload's mean prompt and
completion lengths, so a row's effective requests are the largest of ``requests``,
``input_tokens / prompt_tokens`` and ``output_tokens / completion_tokens`` (of those given).
Token counts not given are effective requests × the mean length.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from advisor.errors import DemandError, did_you_mean
from advisor.files import write_atomically
from advisor.workloads import Workload

COLUMNS: tuple[str, ...] = ("hour", "workload", "requests", "input_tokens", "output_tokens")
QUANTITIES: tuple[str, ...] = ("requests", "input_tokens", "output_tokens")
#: Largest accepted value of any quantity [requests/hour or tokens/hour].
MAX_PER_HOUR = 1e15
#: Smallest accepted nonzero quantity: below it a solver's tolerances cannot tell it from 0.
MIN_PER_HOUR = 1e-6
ONE_HOUR = pd.Timedelta(hours=1)
_EXAMPLE_HOUR = "2026-01-05T00:00:00Z"
_ARRAYS = ("requests", "input_tokens", "output_tokens")
#: columns of a file with scenarios (``advisor.scenarios``)
_SCENARIO_COLUMN = re.compile(
    r"^(scenario|scenario_weight|(requests|input_tokens|output_tokens)_p[\d.]+)$"
)


@dataclass(frozen=True, eq=False)
class Demand:
    """Demand per hour and workload, as arrays of shape (hours, workloads).

    Parameters
    ----------
    hours
        Consecutive hour starts, time-zone aware.
    workloads
        Workload names, sorted; column ``j`` of each array belongs to ``workloads[j]``.
    requests
        Effective requests [requests/hour] (see the module docstring).
    input_tokens
        Prompt tokens [tokens/hour].
    output_tokens
        Completion tokens [tokens/hour].
    source
        The file it was read from, or ``"synthetic"``.
    """

    hours: pd.DatetimeIndex
    workloads: tuple[str, ...]
    requests: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    source: str = "synthetic"

    def __post_init__(self) -> None:
        hours = pd.DatetimeIndex(self.hours)
        if hours.tz is None:
            raise DemandError("Demand hours must be time-zone aware (e.g. UTC).")
        if len(hours) == 0 or len(self.workloads) == 0:
            raise DemandError("Demand needs at least one hour and one workload.")
        if len(hours) > 1 and not (hours[1:] - hours[:-1] == ONE_HOUR).all():
            raise DemandError("Demand hours must be consecutive whole hours.")
        names = tuple(self.workloads)
        if list(names) != sorted(set(names)):
            raise DemandError("Demand workloads must be unique and sorted by name.")
        shape = (len(hours), len(names))
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "workloads", names)
        for name in _ARRAYS:
            arr = np.array(getattr(self, name), dtype=float)
            if arr.shape != shape:
                raise DemandError(
                    f"Demand.{name} has shape {arr.shape}; expected (hours, workloads) = {shape}."
                )
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def from_requests(
        cls,
        hours: pd.DatetimeIndex,
        requests: Mapping[str, ArrayLike],
        *,
        prompt_tokens: Mapping[str, float],
        completion_tokens: Mapping[str, float],
        source: str = "synthetic",
    ) -> Demand:
        """Build demand from requests per hour and each workload's mean lengths.

        Parameters
        ----------
        hours
            Consecutive hour starts, time-zone aware.
        requests
            Requests [requests/hour] per workload name, each of length ``len(hours)``.
        prompt_tokens, completion_tokens
            Mean lengths [tokens/request] per workload name.
        source
            Where the numbers come from.
        """
        names = tuple(sorted(requests))
        missing = [w for w in names if w not in prompt_tokens or w not in completion_tokens]
        if missing:
            raise DemandError(
                f"No mean prompt/completion length for workload '{missing[0]}'; pass "
                "prompt_tokens and completion_tokens for every workload."
            )
        req = np.column_stack([np.asarray(requests[w], dtype=float) for w in names])
        p = np.array([prompt_tokens[w] for w in names], dtype=float)
        c = np.array([completion_tokens[w] for w in names], dtype=float)
        return cls(hours, names, req, req * p, req * c, source)

    @property
    def n_hours(self) -> int:
        """Number of hours."""
        return len(self.hours)

    def frame(self) -> pd.DataFrame:
        """Return a tidy frame, one row per hour and workload (hour-major order).

        Columns: ``hour``, ``workload``, ``requests`` [requests/hour], ``input_tokens`` and
        ``output_tokens`` [tokens/hour].
        """
        n_w = len(self.workloads)
        return pd.DataFrame(
            {
                "hour": self.hours.repeat(n_w),
                "workload": np.tile(np.array(self.workloads, dtype=object), self.n_hours),
                **{name: getattr(self, name).ravel() for name in _ARRAYS},
            }
        )

    def peak_per_hour(self) -> np.ndarray:
        """Per workload, the largest quantity of any hour: requests or tokens [per hour]
        (what ``MAX_PER_HOUR`` bounds)."""
        arrays = np.stack([self.requests, self.input_tokens, self.output_tokens])
        return np.max(arrays, axis=(0, 1), initial=0.0)

    def scaled(self, k: float) -> Demand:
        """Return demand with every quantity multiplied by ``k`` (>= 0)."""
        if not (math.isfinite(k) and k >= 0):
            raise DemandError(f"A demand scale factor must be finite and >= 0, got {k}.")
        peak = k * float(np.max(self.peak_per_hour(), initial=0.0))
        if peak > MAX_PER_HOUR:
            raise DemandError(
                f"Demand scaled by {k:g} reaches {peak:.3g} requests or tokens per hour, above "
                f"the {MAX_PER_HOUR:.0e} a demand holds; use a smaller factor."
            )
        return Demand(
            self.hours,
            self.workloads,
            self.requests * k,
            self.input_tokens * k,
            self.output_tokens * k,
            self.source,
        )

    def subset(self, workloads: Sequence[str]) -> Demand:
        """Return demand for the named workloads only."""
        for name in workloads:
            if name not in self.workloads:
                raise DemandError(
                    f"Workload '{name}' is not in the demand from {self.source}."
                    f"{did_you_mean(name, self.workloads)}"
                )
        keep = sorted(set(workloads))
        idx = [self.workloads.index(w) for w in keep]
        return Demand(
            self.hours,
            tuple(keep),
            self.requests[:, idx],
            self.input_tokens[:, idx],
            self.output_tokens[:, idx],
            self.source,
        )


# ---------------------------------------------------------------------------------------------
# Reading


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DemandError(f"Demand file '{path}' does not exist. Check the path.")
    if not path.is_file():
        raise DemandError(f"'{path}' is not a file. Pass a demand CSV file.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DemandError(f"{path}: cannot be read ({exc.strerror}).") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DemandError(
            f"{path}: line {line}: the file is not UTF-8 text (byte {exc.start}). Save it as "
            "UTF-8 (CSV UTF-8 in spreadsheet programs) and try again."
        ) from None
    if not text.strip():
        raise DemandError(
            f"{path}: the file is empty. A demand CSV starts with the header line "
            f"'{','.join(COLUMNS)}' followed by one row per hour and workload."
        )
    return text


def check_header(path: Path, header: list[str], extra: Sequence[str] = ()) -> list[str]:
    """Check a demand CSV's header row; ``extra`` names further accepted columns."""
    names = [c.strip() for c in header]
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        sep = "';'" if ";" in names[0] else "a tab"
        raise DemandError(
            f"{path}: line 1: the header is a single column separated by {sep}. Use commas "
            f"as the delimiter: {','.join(COLUMNS)}."
        )
    for i, name in enumerate(names):
        if not name:
            raise DemandError(
                f"{path}: line 1: column {i + 1} of the header has no name. Remove the empty "
                "column (or a trailing comma)."
            )
        if name not in COLUMNS and name not in extra and _SCENARIO_COLUMN.match(name):
            raise DemandError(
                f"{path}: line 1: column '{name}' describes demand scenarios, which this "
                "command does not read: give it a file of one scenario (without scenario or "
                "quantile columns)."
            )
        if name not in COLUMNS and name not in extra:
            raise DemandError(
                f"{path}: line 1: column '{name}' is unknown.{did_you_mean(name, COLUMNS)} "
                f"Rename or remove it; the columns are {', '.join(COLUMNS)}."
            )
        if names.index(name) != i:
            raise DemandError(
                f"{path}: line 1: column '{name}' appears twice in the header. Keep one."
            )
    for required in ("hour", "workload"):
        if required not in names:
            raise DemandError(
                f"{path}: line 1: the header has no '{required}' column. The header must be "
                f"like {','.join(COLUMNS)}."
            )
    if not any(q in names for q in QUANTITIES):
        raise DemandError(
            f"{path}: line 1: the header has no quantity column. Add at least one of "
            f"{', '.join(QUANTITIES)}."
        )
    return names


#: What an unknown workload name's error says to do (``stress``, which reads the plan's
#: workloads and takes no --workloads, says another thing).
UNKNOWN_WORKLOAD_FIX = "Use a defined name, or define it in a --workloads file."

#: The years an hour may lie in: well inside pandas' nanosecond timestamps (1677-09-21 to
#: 2262-04-11), so a horizon and the terms of what it buys (years past it) can be counted.
HOUR_YEARS = (1970, 2200)


def _parse_hour(path: Path, line: int, text: str) -> dt.datetime:
    if not text:
        raise DemandError(
            f"{path}: line {line}: column 'hour' is empty. Give the hour's start in ISO 8601, "
            f"e.g. {_EXAMPLE_HOUR}."
        )
    try:
        ts = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DemandError(
            f"{path}: line {line}: column 'hour': '{text}' is not an ISO 8601 timestamp. "
            f"Write e.g. {_EXAMPLE_HOUR} (UTC) or 2026-01-05T01:00:00+01:00."
        ) from None
    if ts.minute or ts.second or ts.microsecond:
        raise DemandError(
            f"{path}: line {line}: column 'hour': '{text}' is not a whole hour. Demand is per "
            "hour: give the hour's start (minutes and seconds zero) and sum the quantities "
            "within that hour."
        )
    off = ts.utcoffset()
    if off is not None and off % dt.timedelta(minutes=1):
        raise DemandError(
            f"{path}: line {line}: column 'hour': '{text}' has a UTC offset with seconds. "
            "Give the offset in hours and minutes (e.g. +05:30), or the hour in UTC."
        )
    if not HOUR_YEARS[0] <= ts.year <= HOUR_YEARS[1]:
        raise DemandError(
            f"{path}: line {line}: column 'hour': '{text}' lies outside the years "
            f"{HOUR_YEARS[0]}-{HOUR_YEARS[1]} that advisor plans in. Check the year."
        )
    return ts


def _offset_text(ts: dt.datetime) -> str:
    off = ts.utcoffset()
    if off is None:
        return "no time zone"
    sign = "-" if off < dt.timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"UTC offset {sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_quantity(path: Path, line: int, column: str, text: str) -> float:
    """Parse one quantity cell; an empty cell gives NaN (not given)."""
    if not text:
        return math.nan
    where = f"{path}: line {line}: column '{column}'"
    try:
        value = float(text)
    except ValueError:
        raise DemandError(
            f"{where}: '{text}' is not a number. Write a plain number such as 1200 or 1.5e6, "
            "or leave the cell empty when the quantity is not given."
        ) from None
    if math.isnan(value):
        raise DemandError(
            f"{where}: '{text}' (not a number) is not allowed. Leave the cell empty when the "
            "quantity is not given, or write 0 for no demand."
        )
    if math.isinf(value):
        raise DemandError(f"{where}: '{text}' is infinite. Give a finite number.")
    if value < 0:
        raise DemandError(
            f"{where}: {text} is negative. Demand cannot be negative; write 0 for no demand."
        )
    if 0 < value < MIN_PER_HOUR:
        raise DemandError(
            f"{where}: {text} is below the smallest nonzero quantity, {MIN_PER_HOUR:.0e} per "
            "hour. Write 0 for no demand, or check the units (quantities are per hour)."
        )
    if value > MAX_PER_HOUR:
        raise DemandError(
            f"{where}: {text} is above the limit of {MAX_PER_HOUR:.0e} per hour. Check the "
            "units: quantities are per hour (not cumulative, not per month)."
        )
    return value


def load_demand(path: Path, workloads: Mapping[str, Workload]) -> Demand:
    """Read and validate a demand CSV (format in the module docstring).

    Parameters
    ----------
    path
        The CSV file.
    workloads
        The defined workloads by name; their mean lengths give effective requests.

    Returns
    -------
    Demand
        Hours in the file's UTC offset (UTC when the file gives none), workloads sorted.

    Raises
    ------
    DemandError
        The file is missing, unreadable or malformed; the message names the file, the line
        (header = line 1) or column, what is wrong and how to fix it.
    """
    path = Path(path)
    header, rows = read_rows(path)
    return demand_from_rows(path, check_header(path, header), rows, workloads)


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read a CSV file's header cells and its non-blank rows with their line numbers."""
    path = Path(path)
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            if header is None:
                header = row
                continue
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DemandError(
            f"{path}: line {reader.line_num}: the CSV cannot be parsed ({exc}). Check quotes "
            "and separators."
        ) from None
    if header is None:  # pragma: no cover - _read_text rejects blank files
        raise DemandError(f"{path}: the file is empty.")
    return header, rows


def demand_from_rows(
    path: Path,
    names: Sequence[str],
    rows: Sequence[tuple[int, list[str]]],
    workloads: Mapping[str, Workload],
) -> Demand:
    """Validate parsed rows (``(line number, cells)`` under header ``names``) into demand.

    ``names`` must already have passed the header check; ``advisor.scenarios`` calls this
    once per scenario with that scenario's rows.
    """
    hour_cache: dict[str, dt.datetime] = {}
    values: dict[tuple[dt.datetime, str], tuple[float, float, float]] = {}
    lines: dict[tuple[dt.datetime, str], int] = {}
    last: dict[str, tuple[dt.datetime, int]] = {}
    first_zone: tuple[dt.datetime, int] | None = None
    for line, row in rows:
        cells = _row_cells(path, line, row, names)
        hour_text = cells["hour"]
        ts = hour_cache.get(hour_text)
        if ts is None:
            ts = hour_cache[hour_text] = _parse_hour(path, line, hour_text)
        if first_zone is None:
            first_zone = (ts, line)
        else:
            _check_same_offset(path, line, hour_text, ts, first_zone)
        name = cells["workload"]
        _check_workload_name(path, line, name, workloads)
        key = (ts, name)
        if key in lines:
            raise DemandError(
                f"{path}: line {line}: a second row for hour '{hour_text}' and workload "
                f"'{name}' (the first is line {lines[key]}). Keep one row per hour and "
                "workload; add the quantities if both are meant."
            )
        prev = last.get(name)
        if prev is not None and ts < prev[0]:
            raise DemandError(
                f"{path}: line {line}: hour '{hour_text}' of workload '{name}' comes "
                f"after a later hour (line {prev[1]}). Rows of each workload must ascend "
                "by hour; sort the file by hour."
            )
        lines[key] = line
        values[key] = _row_quantities(path, line, cells)
        last[name] = (ts, line)
    if not values:
        raise DemandError(
            f"{path}: the file has a header but no data rows. Add one row per hour and "
            "workload below line 1."
        )
    return _assemble(path, values, workloads)


def _row_cells(path: Path, line: int, row: list[str], names: Sequence[str]) -> dict[str, str]:
    """A row's stripped cells by column name, checking it has the header's width."""
    if len(row) != len(names):
        raise DemandError(
            f"{path}: line {line}: {len(row)} fields, but the header has "
            f"{len(names)} ({','.join(names)}). Give every row the header's columns, "
            "leaving a cell empty when a quantity is not given."
        )
    return dict(zip(names, (c.strip() for c in row), strict=True))


def _check_same_offset(
    path: Path, line: int, hour_text: str, ts: dt.datetime, first_zone: tuple[dt.datetime, int]
) -> None:
    """Raise unless ``ts`` has the UTC offset of the file's first hour."""
    if ts.utcoffset() == first_zone[0].utcoffset():
        return
    ref, ref_line = first_zone
    if ts.tzinfo is None or ref.tzinfo is None:
        raise DemandError(
            f"{path}: line {line}: hour '{hour_text}' has {_offset_text(ts)} but "
            f"line {ref_line} has {_offset_text(ref)}. Naive and zoned hours "
            "cannot be mixed; give every hour the same offset (e.g. append 'Z' "
            "for UTC)."
        )
    raise DemandError(
        f"{path}: line {line}: hour '{hour_text}' has {_offset_text(ts)} but line "
        f"{ref_line} has {_offset_text(ref)}. Mixed UTC offsets usually mean the "
        "file crosses a daylight-saving change; convert every hour to UTC (e.g. "
        f"{_EXAMPLE_HOUR}) or to one fixed offset."
    )


def _check_workload_name(
    path: Path, line: int, name: str, workloads: Mapping[str, Workload]
) -> None:
    """Raise unless ``name`` is given and names a defined workload."""
    if not name:
        raise DemandError(f"{path}: line {line}: column 'workload' is empty. Give a workload name.")
    if name not in workloads:
        raise DemandError(
            f"{path}: line {line}: column 'workload': unknown workload '{name}'."
            f"{did_you_mean(name, workloads)} {UNKNOWN_WORKLOAD_FIX}"
        )


def _row_quantities(path: Path, line: int, cells: Mapping[str, str]) -> tuple[float, float, float]:
    """A row's (requests, input_tokens, output_tokens), NaN where not given; at least one is."""
    req, inp, out = (
        _parse_quantity(path, line, q, cells[q]) if q in cells else math.nan for q in QUANTITIES
    )
    if math.isnan(req) and math.isnan(inp) and math.isnan(out):
        given = [q for q in QUANTITIES if q in cells]
        raise DemandError(
            f"{path}: line {line}: no quantity for workload '{cells['workload']}' at hour "
            f"'{cells['hour']}'. Fill at least one of {', '.join(given)} (0 for no demand)."
        )
    return req, inp, out


def _assemble(
    path: Path,
    values: Mapping[tuple[dt.datetime, str], tuple[float, float, float]],
    workloads: Mapping[str, Workload],
) -> Demand:
    """Check the (hour, workload) grid is complete and apply the effective-requests rule."""
    stamps = sorted({ts for ts, _ in values})
    names = tuple(sorted({w for _, w in values}))
    start, end = stamps[0], stamps[-1]
    n_hours = int((end - start) / dt.timedelta(hours=1)) + 1
    if len(values) != n_hours * len(names):
        for k in range(n_hours):
            ts = start + k * dt.timedelta(hours=1)
            for name in names:
                if (ts, name) not in values:
                    raise DemandError(
                        f"{path}: no row for workload '{name}' at hour {ts.isoformat()}. "
                        f"Hours must be consecutive: every workload needs a row for every "
                        f"hour from {start.isoformat()} to {end.isoformat()}. Add the "
                        "missing row (0 for no demand)."
                    )
    tz = start.tzinfo or dt.UTC
    hours = pd.date_range(pd.Timestamp(start.replace(tzinfo=tz)), periods=n_hours, freq="h")
    grid = np.full((3, n_hours, len(names)), np.nan)
    col = {name: j for j, name in enumerate(names)}
    for (ts, name), quantities in values.items():
        grid[:, int((ts - start) / dt.timedelta(hours=1)), col[name]] = quantities
    req, inp, out = grid
    p = np.array([workloads[w].prompt_tokens for w in names])
    c = np.array([workloads[w].completion_tokens for w in names])
    effective = np.fmax(np.fmax(req, inp / p), out / c)
    return Demand(
        hours=hours,
        workloads=names,
        requests=effective,
        input_tokens=np.where(np.isnan(inp), effective * p, inp),
        output_tokens=np.where(np.isnan(out), effective * c, out),
        source=str(path),
    )


# ---------------------------------------------------------------------------------------------
# Writing and synthesizing


def _format_hour(ts: pd.Timestamp) -> str:
    if ts.utcoffset() == dt.timedelta(0):
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    return ts.isoformat(timespec="seconds")


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < MAX_PER_HOUR:
        return str(int(value))
    return repr(value)


def _demand_rows(demand: Demand, prefix: Sequence[str] = ()) -> list[list[str]]:
    hour_texts = [_format_hour(ts) for ts in demand.hours]
    return [
        [
            *prefix,
            hour_text,
            name,
            *(_format_number(float(getattr(demand, a)[i, j])) for a in _ARRAYS),
        ]
        for i, hour_text in enumerate(hour_texts)
        for j, name in enumerate(demand.workloads)
    ]


def _write_rows(header: Sequence[str], rows: list[list[str]], path: Path) -> Path:
    """Write CSV rows to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_atomically(path, buf.getvalue())
    return path


def write_demand_csv(demand: Demand, path: Path) -> Path:
    """Write ``demand`` as a demand CSV with all three quantity columns, atomically.

    The file is written to a temporary file in the same folder and then renamed over
    ``path``, so a failed write never leaves a half-written file.

    Returns
    -------
    Path
        ``path``.
    """
    return _write_rows(COLUMNS, _demand_rows(demand), path)


def write_scenarios_csv(
    demands: Sequence[Demand], names: Sequence[str], weights: Sequence[float], path: Path
) -> Path:
    """Write scenario demands as one CSV with ``scenario`` and ``scenario_weight`` columns.

    Rows are grouped by scenario, in the order given; written atomically like
    ``write_demand_csv``.
    """
    rows: list[list[str]] = []
    for demand, name, weight in zip(demands, names, weights, strict=True):
        rows.extend(_demand_rows(demand, (name, repr(float(weight)))))
    return _write_rows(("scenario", "scenario_weight", *COLUMNS), rows, path)


def _per_workload(value: float | Sequence[float], n: int, what: str) -> list[float]:
    if isinstance(value, int | float):
        return [float(value)] * n
    values = [float(v) for v in value]
    if len(values) != n:
        raise DemandError(f"{what} has {len(values)} values for {n} workloads; give one each.")
    return values


def synthetic_demand(
    workloads: Sequence[str] | Mapping[str, Workload],
    hours: int,
    *,
    mean_requests_per_hour: Sequence[float],
    start: str | dt.datetime | pd.Timestamp = _EXAMPLE_HOUR,
    peak_to_trough: float | Sequence[float] = 3.0,
    weekly_dip: float | Sequence[float] = 0.3,
    noise: float = 0.05,
    seed: int = 0,
    peak_hour: float = 15.0,
    prompt_tokens: Mapping[str, float] | None = None,
    completion_tokens: Mapping[str, float] | None = None,
    integer: bool = False,
) -> Demand:
    """Make deterministic demand with a daily cycle, a weekend dip and noise.

    Requests per hour are ``mean × shape(t) × noise(t)`` where ``shape`` is a daily cosine
    peaking at ``peak_hour`` (local to ``start``'s offset) with the given peak-to-trough
    ratio, times ``1 - weekly_dip`` on Saturdays and Sundays, normalized to mean 1 over the
    horizon; ``noise`` is lognormal with mean 1 and log-standard-deviation ``noise``.

    Parameters
    ----------
    workloads
        Workload names, or workloads by name (their mean lengths are then used).
    hours
        Horizon length [hours].
    mean_requests_per_hour
        Mean requests [requests/hour] per workload, in the order of ``workloads``.
    start
        First hour; read as UTC when it has no offset.
    peak_to_trough
        Daily peak over daily trough (>= 1; 1 is flat), one value or one per workload.
    weekly_dip
        Fraction removed on weekends (0 <= dip < 1), one value or one per workload.
    noise
        Log-standard-deviation of the multiplicative noise (0 for none).
    seed
        Random seed; the same arguments give the same demand.
    peak_hour
        Hour of day of the daily peak.
    prompt_tokens, completion_tokens
        Mean lengths [tokens/request] per workload name; required when ``workloads`` is a
        list of names, override the workloads' lengths otherwise.
    integer
        Round requests to whole numbers.
    """
    names = list(workloads)
    means, ratios, dips = _synthetic_parameters(
        names, hours, mean_requests_per_hour, peak_to_trough, weekly_dip, noise
    )
    lengths = _mean_lengths(workloads, names, prompt_tokens, completion_tokens)
    index = _whole_hours(start, hours)
    hour_of_day = np.asarray(index.hour, dtype=float)
    weekend = np.asarray(index.day_of_week >= 5)
    rng = np.random.default_rng(seed)
    draws = rng.standard_normal((hours, len(names)))
    requests: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        amplitude = (ratios[j] - 1.0) / (ratios[j] + 1.0)
        shape = 1.0 + amplitude * np.cos(2.0 * np.pi * (hour_of_day - peak_hour) / 24.0)
        shape = shape * np.where(weekend, 1.0 - dips[j], 1.0)
        shape = shape / shape.mean()
        series = means[j] * shape * np.exp(noise * draws[:, j] - 0.5 * noise**2)
        requests[name] = np.rint(series) if integer else series
    return Demand.from_requests(
        index,
        requests,
        prompt_tokens=lengths["prompt"],
        completion_tokens=lengths["completion"],
    )


def _synthetic_parameters(
    names: list[str],
    hours: int,
    mean_requests_per_hour: Sequence[float],
    peak_to_trough: float | Sequence[float],
    weekly_dip: float | Sequence[float],
    noise: float,
) -> tuple[list[float], list[float], list[float]]:
    """``synthetic_demand``'s arguments checked: per-workload (means, ratios, dips)."""
    n = len(names)
    if not names or len(set(names)) != n:
        raise DemandError("synthetic_demand needs at least one workload, each named once.")
    if not (isinstance(hours, int) and hours >= 1):
        raise DemandError(f"hours must be a positive integer, got {hours!r}.")
    means = _per_workload(mean_requests_per_hour, n, "mean_requests_per_hour")
    ratios = _per_workload(peak_to_trough, n, "peak_to_trough")
    dips = _per_workload(weekly_dip, n, "weekly_dip")
    if any(not (math.isfinite(m) and m >= 0) for m in means):
        raise DemandError("mean_requests_per_hour must be finite and >= 0.")
    if any(not (math.isfinite(r) and r >= 1) for r in ratios):
        raise DemandError("peak_to_trough must be >= 1 (1 is a flat day).")
    if any(not 0 <= d < 1 for d in dips):
        raise DemandError("weekly_dip must be in [0, 1).")
    if not (math.isfinite(noise) and noise >= 0):
        raise DemandError("noise must be finite and >= 0.")
    return means, ratios, dips


def _mean_lengths(
    workloads: Sequence[str] | Mapping[str, Workload],
    names: list[str],
    prompt_tokens: Mapping[str, float] | None,
    completion_tokens: Mapping[str, float] | None,
) -> dict[str, dict[str, float]]:
    """Mean ``prompt`` and ``completion`` lengths [tokens/request] by workload name."""
    lengths: dict[str, dict[str, float]] = {"prompt": {}, "completion": {}}
    if isinstance(workloads, Mapping):
        lengths["prompt"] = {w: workloads[w].prompt_tokens for w in names}
        lengths["completion"] = {w: workloads[w].completion_tokens for w in names}
    lengths["prompt"].update(prompt_tokens or {})
    lengths["completion"].update(completion_tokens or {})
    return lengths


def _whole_hours(start: str | dt.datetime | pd.Timestamp, hours: int) -> pd.DatetimeIndex:
    """``hours`` hourly stamps from ``start`` (UTC when it has no offset; a whole hour)."""
    first = pd.Timestamp(start)
    if first.tz is None:
        first = first.tz_localize("UTC")
    if first != first.floor("h"):
        raise DemandError(f"start must be a whole hour, got {start}.")
    return pd.date_range(first, periods=hours, freq="h")
