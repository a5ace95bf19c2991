"""Fuzzing the loaders: whatever the file holds, a loader returns valid data or raises its error.

``load_demand`` returns a ``Demand`` whose invariants hold, or raises ``DemandError``;
``load_catalog`` returns a ``Catalog`` or raises ``CatalogError``; ``load_workloads`` returns
workloads or raises ``DemandError``/``CatalogError``. Any other exception is a bug (the CLI
would print a traceback). Generated files are mostly *nearly* valid (a valid skeleton with a
few cells or fields changed), so the checks past the first one are exercised too.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from advisor.catalog import (
    GPU,
    TIERS,
    ApiOffer,
    Catalog,
    Defaults,
    Efficiency,
    ModelArch,
    Offer,
    Quantization,
    load_catalog,
)
from advisor.demand import Demand, load_demand
from advisor.errors import CatalogError, DemandError
from advisor.workloads import Workload, load_workloads

WORKLOADS = {
    "chat": Workload(
        name="chat",
        model="llama-3.1-8b",
        prompt_tokens=1000,
        completion_tokens=300,
        ttft_ms=2000,
        tpot_ms=50,
    ),
    "batch": Workload(
        name="batch",
        model="llama-3.1-8b",
        prompt_tokens=2000,
        completion_tokens=500,
        ttft_ms=60000,
        tpot_ms=200,
    ),
}

_ROOT = Path(tempfile.mkdtemp(prefix="advisor-fuzz-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def _fresh_dir() -> Path:
    """A new empty folder (function-scoped fixtures do not mix with @given)."""
    d = _ROOT / uuid.uuid4().hex
    d.mkdir()
    return d


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# --- demand CSVs -----------------------------------------------------------------------------

VALID_COLUMNS = ["hour", "workload", "requests", "input_tokens", "output_tokens"]
BAD_COLUMNS = ["Hour", "region", "", "requests ", "tokens", "hours", "requests"]
DELIMITERS = [",", ",", ",", ",", ";", "\t", "|"]
OFFSETS = ["Z", "Z", "", "+00:00", "+01:00", "+02:00", "-05:00", "+05:30", "-00:30"]
NAMES = ["chat", "chat", "batch", "batch", "chatt", "", " chat", "CHAT"]
START = dt.datetime(2026, 1, 5)

junk = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@st.composite
def hour_cells(draw, k: int) -> str:
    """The k-th hour, usually well formed, sometimes with a random offset, minute or year."""
    kind = draw(st.sampled_from(["ok"] * 6 + ["shift", "minute", "year", "junk", "date"]))
    ts = START + dt.timedelta(hours=k)
    if kind == "shift":
        ts += dt.timedelta(hours=draw(st.integers(-3, 3)))
    elif kind == "minute":
        ts += dt.timedelta(minutes=draw(st.integers(0, 59)), seconds=draw(st.integers(0, 1)))
    elif kind == "year":
        ts = ts.replace(year=draw(st.sampled_from([1, 1677, 1900, 2262, 2263, 9999])))
    elif kind == "junk":
        return draw(junk)
    text = ts.strftime("%Y-%m-%d") if kind == "date" else ts.isoformat()
    return text + draw(st.sampled_from(OFFSETS))


numbers = st.one_of(
    st.integers(0, 10**6).map(str),
    st.integers(0, 300).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(0, 1e7).map(lambda v: f"{v:g}"),
    st.sampled_from(["", " ", "0", "-1", "nan", "inf", "-inf", "1e30", "1e15", "1_000", "0x10"]),
    junk,
)


@st.composite
def demand_csvs(draw) -> str | bytes:
    """A demand CSV: a valid skeleton, then random damage."""
    mode = draw(st.sampled_from(["skeleton"] * 8 + ["text", "bytes"]))
    if mode == "text":
        return draw(st.text(max_size=300))
    if mode == "bytes":
        return draw(st.binary(max_size=300))
    quantities = draw(
        st.lists(st.sampled_from(VALID_COLUMNS[2:]), min_size=1, max_size=3, unique=True)
    )
    columns = ["hour", "workload", *quantities]
    if draw(st.integers(0, 4)) == 0:  # damage the header
        columns = draw(
            st.lists(st.sampled_from(VALID_COLUMNS + BAD_COLUMNS), min_size=0, max_size=6)
        )
    if draw(st.booleans()):
        columns = draw(st.permutations(columns))
    n_hours = draw(st.integers(1, 5))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True))
    offset = draw(st.sampled_from(OFFSETS))
    rows = []
    for k in range(n_hours):
        for name in names:
            cells = []
            for col in columns:
                if col == "hour":
                    good = (START + dt.timedelta(hours=k)).isoformat() + offset
                    cells.append(draw(st.one_of(st.just(good), hour_cells(k))))
                elif col == "workload":
                    cells.append(name)
                else:
                    good = str(draw(st.integers(0, 200_000)))
                    cells.append(draw(st.one_of(st.just(good), st.just(good), numbers)))
            rows.append(cells)
    damage = draw(st.sampled_from(["none"] * 3 + ["shuffle", "drop", "duplicate", "ragged"]))
    if damage == "shuffle" and rows:
        rows = draw(st.permutations(rows))
    elif damage == "drop" and rows:
        del rows[draw(st.integers(0, len(rows) - 1))]
    elif damage == "duplicate" and rows:
        rows.append(list(rows[draw(st.integers(0, len(rows) - 1))]))
    elif damage == "ragged" and rows:
        rows[draw(st.integers(0, len(rows) - 1))].append(draw(numbers))
    delim = draw(st.sampled_from(DELIMITERS))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    lines = [delim.join(columns)] + [delim.join(r) for r in rows]
    if draw(st.integers(0, 5)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", " ", '"', "#"])))
    return newline.join(lines) + draw(st.sampled_from(["", newline]))


def check_demand(demand: Demand) -> None:
    """The invariants every loaded demand must satisfy."""
    assert isinstance(demand, Demand)
    hours = demand.hours
    assert hours.tz is not None
    assert len(hours) >= 1
    if len(hours) > 1:
        assert ((hours[1:] - hours[:-1]) == pd.Timedelta(hours=1)).all()
    assert (hours == hours.floor("h")).all()
    assert list(demand.workloads) == sorted(set(demand.workloads))
    assert set(demand.workloads) <= set(WORKLOADS)
    shape = (len(hours), len(demand.workloads))
    for arr in (demand.requests, demand.input_tokens, demand.output_tokens):
        assert arr.shape == shape
        assert np.isfinite(arr).all()
        assert (arr >= 0).all()
        assert not arr.flags.writeable
    # effective requests cover the tokens at the mean lengths (the effective-requests rule)
    p = np.array([WORKLOADS[w].prompt_tokens for w in demand.workloads])
    c = np.array([WORKLOADS[w].completion_tokens for w in demand.workloads])
    assert (demand.input_tokens <= demand.requests * p * (1 + 1e-9) + 1e-6).all()
    assert (demand.output_tokens <= demand.requests * c * (1 + 1e-9) + 1e-6).all()


@given(content=demand_csvs())
def test_load_demand_returns_valid_demand_or_demand_error(content: str | bytes) -> None:
    path = _write(_fresh_dir() / "demand.csv", content)
    try:
        demand = load_demand(path, WORKLOADS)
    except DemandError as exc:
        assert str(exc)  # a message, never empty
        return
    check_demand(demand)


# --- catalog folders -------------------------------------------------------------------------

SECTION_MODELS = {
    "gpus": GPU,
    "efficiency": Efficiency,
    "models": ModelArch,
    "quantizations": Quantization,
    "offers": Offer,
    "apis": ApiOffer,
}
KEY_VALUES = {
    "name": ["H100-SXM", "A100-80G", "llama-3.1-8b", "fp8", "bf16", "NEW-GPU", "x"],
    "gpu": ["H100-SXM", "A100-80G", "L4", "H100", "NEW-GPU"],
    "tier": [*TIERS, "reserved_2y", "ondemand"],
    "model": ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-8", "gpt-4"],
    "family": ["hopper", "ampere", "hoper", "new-family"],
}
scalar_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
    junk,
    st.sampled_from([*KEY_VALUES["gpu"], *KEY_VALUES["tier"], "bf16", "fp8", "hopper"]),
)
field_values = st.one_of(
    scalar_values,
    st.lists(scalar_values, max_size=3),
    st.dictionaries(st.sampled_from(["bf16", "fp8", "int8", "fp4", "fp6"]), scalar_values),
)
#: Unquoted scalars as a user might type them; some are invalid for YAML's resolvers.
RAW_SCALARS = [
    "1.5",
    "-2",
    "0",
    ".inf",
    ".nan",
    "1e400",
    "2026-02-30",
    "2026-13-01",
    "2026-11-01",
    "2026-11-01 25:00:00",
    "[1, 2]",
    "{a: 1}",
    "{bf16: 100}",
    "null",
    "yes",
    "'x'",
    '"unterminated',
    "0x1F",
    "0o17",
    "~",
    "&a 1",
    "*a",
    "!!binary aGk=",
    "!!python/object:os.system x",
    "H100-SXM",
    "reserved_1y",
    "llama-3.1-8b",
]


@st.composite
def entries(draw, model: type) -> dict:
    fields = list(model.model_fields)
    keep = draw(st.lists(st.sampled_from(fields), unique=True, min_size=0, max_size=len(fields)))
    entry: dict = {}
    for f in keep:
        if f in KEY_VALUES and draw(st.integers(0, 3)):
            entry[f] = draw(st.sampled_from(KEY_VALUES[f]))
        elif f in ("source", "notes"):
            entry[f] = draw(st.one_of(st.just("a quote"), field_values))
        elif f == "as_of":
            entry[f] = draw(st.one_of(st.just(dt.date(2026, 1, 1)), field_values))
        else:
            entry[f] = draw(field_values)
    if draw(st.integers(0, 4)) == 0:
        entry[draw(st.sampled_from(["usd_per_hr", "prize", "gpus", 1, "name"]))] = draw(
            field_values
        )
    return entry


@st.composite
def raw_entry_text(draw, model: type, indent: str = "  ") -> str:
    """One entry written as YAML text with unquoted, possibly odd scalars."""
    fields = list(model.model_fields)
    keep = draw(st.lists(st.sampled_from(fields), unique=True, min_size=1, max_size=len(fields)))
    lines = []
    for i, f in enumerate(keep):
        value = draw(st.sampled_from(RAW_SCALARS))
        if f in KEY_VALUES and draw(st.booleans()):
            value = draw(st.sampled_from(KEY_VALUES[f]))
        lines.append(f"{indent}{'- ' if i == 0 else '  '}{f}: {value}")
    return "\n".join(lines)


@st.composite
def catalog_files(draw) -> dict[str, str | bytes]:
    """A user catalog folder: file name -> content."""
    files: dict[str, str | bytes] = {}
    for i in range(draw(st.integers(1, 2))):
        mode = draw(st.sampled_from(["dump"] * 4 + ["raw"] * 3 + ["text", "bytes"]))
        if mode == "text":
            content: str | bytes = draw(st.text(max_size=200))
        elif mode == "bytes":
            content = draw(st.binary(max_size=200))
        elif mode == "dump":
            data: dict = {}
            for section in draw(
                st.lists(
                    st.sampled_from([*SECTION_MODELS, "defaults", "workloads", "gpu", 7]),
                    unique=True,
                    max_size=3,
                )
            ):
                if section == "defaults":
                    data[section] = draw(st.one_of(entries(Defaults), field_values))
                elif section in SECTION_MODELS:
                    data[section] = draw(
                        st.one_of(
                            st.lists(entries(SECTION_MODELS[section]), max_size=3),
                            field_values,
                        )
                    )
                else:
                    data[section] = draw(field_values)
            top = draw(st.sampled_from(["dict"] * 6 + ["list", "scalar"]))
            if top == "list":
                data = list(data.items())  # type: ignore[assignment]
            elif top == "scalar":
                data = draw(scalar_values)  # type: ignore[assignment]
            content = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        else:
            section = draw(st.sampled_from([*SECTION_MODELS, "defaults"]))
            if section == "defaults":
                body = draw(raw_entry_text(Defaults)).replace("  - ", "    ", 1)
                content = f"defaults:\n{body}\n"
            else:
                n = draw(st.integers(1, 2))
                body = "\n".join(draw(raw_entry_text(SECTION_MODELS[section])) for _ in range(n))
                content = f"{section}:\n{body}\n"
        files[f"f{i}.{draw(st.sampled_from(['yaml', 'yml']))}"] = content
    return files


@given(files=catalog_files())
def test_load_catalog_returns_catalog_or_catalog_error(files: dict[str, str | bytes]) -> None:
    folder = _fresh_dir()
    for name, content in files.items():
        _write(folder / name, content)
    try:
        cat = load_catalog([folder])
    except CatalogError as exc:
        assert str(exc)
        return
    assert isinstance(cat, Catalog)
    assert all(o.gpu in cat.gpus for o in cat.offers.values())
    assert all(m in cat.models for m in cat.apis)
    assert all(g.family in cat.efficiency for g in cat.gpus.values())


# --- workloads files -------------------------------------------------------------------------

WL_VALUES = {
    "name": ["chat", "my-chat", "chat", "bad name", "-x", 7, None],
    "model": ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-8", 3, None],
    "quantizations": [["bf16", "fp8"], ["fp6"], [], ["bf16", "bf16"], None, "bf16"],
    "gpus": [["H100-SXM"], ["H100"], None, [], [1]],
    "prompt_tokens": [1000, 0, -1, 1e9, "lots", float("nan"), float("inf"), None],
    "completion_tokens": [300, 0, 200_000, None, True],
    "ttft_ms": [2000, 0, None, "2s"],
    "tpot_ms": [50, 0.5, -1, None],
    "allow_spot": [False, True, "no", 2, None],
    "allow_api": [True, False, "yes", None],
    "headroom": [0.2, 0, -0.1, 10, None],
    "description": ["chat", 5, None, ["x"]],
}
GOOD_WL = {
    "name": "chat",
    "model": "llama-3.1-8b",
    "prompt_tokens": 1000,
    "completion_tokens": 300,
    "ttft_ms": 2000,
    "tpot_ms": 50,
}


@st.composite
def workload_entries(draw) -> dict:
    entry = dict(GOOD_WL)
    for f in draw(st.lists(st.sampled_from(list(WL_VALUES)), unique=True, max_size=3)):
        entry[f] = draw(st.one_of(st.sampled_from(WL_VALUES[f]), field_values))
    for f in draw(st.lists(st.sampled_from(list(GOOD_WL)), unique=True, max_size=1)):
        entry.pop(f, None)
    if draw(st.integers(0, 5)) == 0:
        entry[draw(st.sampled_from(["tpot", "gpu", "extra", 1]))] = draw(field_values)
    return entry


@st.composite
def workloads_files(draw) -> str | bytes:
    mode = draw(st.sampled_from(["dump"] * 5 + ["raw"] * 2 + ["text", "bytes"]))
    if mode == "text":
        return draw(st.text(max_size=200))
    if mode == "bytes":
        return draw(st.binary(max_size=200))
    if mode == "raw":
        n = draw(st.integers(1, 2))
        return "workloads:\n" + "\n".join(draw(raw_entry_text(Workload)) for _ in range(n)) + "\n"
    data = {"workloads": draw(st.one_of(st.lists(workload_entries(), max_size=3), field_values))}
    if draw(st.integers(0, 5)) == 0:
        data[draw(st.sampled_from(["workload", "offers", 3]))] = draw(field_values)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@given(content=workloads_files())
def test_load_workloads_returns_workloads_or_error(catalog: Catalog, content: str | bytes) -> None:
    folder = _fresh_dir()
    path = _write(folder / "workloads.yaml", content)
    base = folder / "base"
    base.mkdir()
    try:
        found = load_workloads(catalog, [path], base=base)
    except (DemandError, CatalogError) as exc:
        assert str(exc)
        return
    assert isinstance(found, dict)
    for name, wl in found.items():
        assert isinstance(wl, Workload) and wl.name == name
        assert wl.model in catalog.models
        assert all(q in catalog.quantizations for q in wl.quantizations or ())
        assert all(g in catalog.gpus for g in wl.gpus or ())
