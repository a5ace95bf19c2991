"""Workload classes: what a stream of requests looks like and what service it needs.

A workload names a catalog model, the mean prompt and completion lengths of its requests
[tokens], its latency SLOs (time to first token, time per output token [ms]) and what it may
run on (quantizations, GPUs, spot capacity, a hosted API). Demand CSVs refer to workloads by
name.

Workloads are defined in a ``workloads:`` section of YAML files::

    workloads:
      - name: llama-3.1-70b-interactive
        model: llama-3.1-70b
        prompt_tokens: 1000
        completion_tokens: 300
        ttft_ms: 2000
        tpot_ms: 50
        quantizations: [bf16, fp8, int8]   # null or omitted: every quantization in the catalog
        gpus: null                          # null or omitted: every GPU in the catalog
        providers: null                     # null or omitted: every provider (e.g. [aws, lambda])
        allow_spot: false
        allow_api: true
        headroom: 0.2                 # a fraction: 0.2 = 20% spare capacity, 0 to 1
        description: "chat: tight TPOT, no preemption"
        slo_stat: p99                 # statistic the SLOs bound: mean, p50, p90, p95, p99
        prompt_tokens_cv: 0.5         # optional spread of lengths (lognormal around the means)
        completion_tokens_cv: 0.5
        length_histogram: lengths.csv # optional: prompt,completion,share buckets (replaces cvs)
        arrival_cv: 1.0               # optional: 1 = Poisson, > 1 bursty (gamma gaps)
        prefix_cache_hit: 0.0         # optional: share of prompt tokens a prefix cache serves

A workload without ``slo_stat`` keeps the old meaning (limits on the mean); the plan notes it.
A length histogram file is a CSV with columns ``prompt_tokens,completion_tokens,share``
(Mélange-style buckets, or one row per logged request with share 1); a relative path is read
next to the YAML file. Its buckets are stored in the workload (``length_buckets``) so a plan
carries them to the verifier.

They are read from the shipped catalog folder, then from each user catalog folder
(``--catalog DIR``), then from each explicit workloads file (``--workloads FILE``). A later
definition of the same name replaces the earlier one as a whole (fields are not merged), so a
user file states every field it wants.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from advisor.catalog import Catalog, read_yaml, shipped_catalog_dir, strict_number
from advisor.errors import CatalogError, DemandError, did_you_mean

SECTION = "workloads"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


#: A rate [requests/hour], or an array of them.
Rate = TypeVar("Rate")


#: The largest headroom: 1, capacity twice the demand. Headroom is a fraction, so a value
#: above it is almost always a percentage (20 for 20%), which would size 21 times the GPUs.
MAX_HEADROOM = 1.0


def headroom_problem(value: float) -> str | None:
    """What is wrong with a headroom (a workload's field, ``--headroom``), None if nothing:
    the one place of its rule, a fraction from 0 to :data:`MAX_HEADROOM`."""
    if 0 <= value <= MAX_HEADROOM:  # nan fails both comparisons
        return None
    return (
        f"headroom is a fraction: 0.2 means 20% spare, from 0 to {MAX_HEADROOM:g} (capacity "
        f"twice the demand); got {value:g}"
    )


def capacity_needed(demand: Rate, headroom: float) -> Rate:
    """The capacity that serves ``demand`` (a rate, or an array of rates) with a workload's
    ``headroom``: ``demand × (1 + headroom)``. The one place of that rule; its inverse is
    ``demand_covered``."""
    return demand * (1.0 + headroom)


def demand_covered(capacity: Rate, headroom: float) -> Rate:
    """The demand a capacity (a rate, or an array) covers with a workload's ``headroom``:
    ``capacity / (1 + headroom)``."""
    return capacity / (1.0 + headroom)


class Workload(BaseModel):
    """One class of requests with its SLOs and what it may be served on."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(description="identifier used in demand CSVs")
    model: str = Field(description="catalog model name")
    prompt_tokens: float = Field(gt=0, description="mean prompt length [tokens/request]")
    completion_tokens: float = Field(gt=0, description="mean completion length [tokens/request]")
    ttft_ms: float = Field(gt=0, description="time-to-first-token SLO [ms]")
    tpot_ms: float = Field(gt=0, description="time-per-output-token SLO [ms]")
    quantizations: list[str] | None = Field(
        default=None, description="allowed quantizations; None allows every one in the catalog"
    )
    gpus: list[str] | None = Field(
        default=None, description="allowed GPU types; None allows every one in the catalog"
    )
    providers: list[str] | None = Field(
        default=None,
        description="providers this workload may buy from (GPU and API offers); None: any",
    )
    allow_spot: bool = Field(default=False, description="tolerates preemption (spot capacity)")
    allow_api: bool = Field(default=True, description="may be sent to a hosted API")
    headroom: float = Field(
        default=0.0,
        description=f"fraction of self-hosted capacity kept spare, 0 to {MAX_HEADROOM:g}",
    )
    description: str = ""
    slo_stat: Literal["mean", "p50", "p90", "p95", "p99"] | None = Field(
        default=None,
        description="statistic of per-request TTFT and TPOT the SLOs bound; None = mean (the "
        "meaning before statistics were stated)",
    )
    prompt_tokens_cv: float = Field(
        default=0.0, ge=0, le=10, description="coefficient of variation of prompt lengths"
    )
    completion_tokens_cv: float = Field(
        default=0.0, ge=0, le=10, description="coefficient of variation of completion lengths"
    )
    length_histogram: str | None = Field(
        default=None, description="CSV of prompt_tokens,completion_tokens,share buckets"
    )
    length_buckets: list[tuple[float, float, float]] | None = Field(
        default=None, description="(prompt, completion, share) buckets; filled from the file"
    )
    arrival_cv: float = Field(
        default=1.0, ge=0, le=20, description="coefficient of variation of inter-arrival gaps"
    )
    prefix_cache_hit: float = Field(
        default=0.0, ge=0, lt=1, description="share of prompt tokens served by a prefix cache"
    )

    @property
    def stat(self) -> str:
        """The SLO statistic, ``mean`` when none is stated."""
        return self.slo_stat or "mean"

    @field_validator("*", mode="before")
    @classmethod
    def _strict_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return strict_number(cls, value, info)

    @field_validator("headroom")
    @classmethod
    def _check_headroom(cls, value: float) -> float:
        problem = headroom_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"'{value}' is not a usable name; use letters, digits, '.', '_' and '-' "
                "(starting with a letter or digit)"
            )
        return value

    @field_validator("quantizations", "gpus", "providers")
    @classmethod
    def _check_allow_list(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("an empty list allows nothing; use null to allow every entry")
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"lists {', '.join(dupes)} more than once")
        return value

    @property
    def tokens_per_request(self) -> float:
        """Mean prompt plus completion length [tokens/request]."""
        return self.prompt_tokens + self.completion_tokens


def _end(sentence: str) -> str:
    """Return ``sentence`` with a final full stop unless it already ends one."""
    return sentence if sentence.endswith((".", "?", "!")) else sentence + "."


def format_validation(path: Path, label: str, exc: ValidationError) -> str:
    """Turn a pydantic error into ``FILE: workloads[NAME]: field 'x': message.``."""
    problems = []
    fields = list(Workload.model_fields)
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field.{did_you_mean(str(err['loc'][0]), fields)}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        problems.append(f"field '{loc}': {msg}")
    return _end(f"{path}: {label}: " + "; ".join(problems))


def _read(path: Path, *, explicit: bool) -> dict[str, Any]:
    """Read one YAML file with the catalog's reader, raising ``DemandError``."""
    if explicit:
        if not path.exists():
            raise DemandError(
                f"Workloads file '{path}' does not exist. Check the --workloads path."
            )
        if not path.is_file():
            raise DemandError(
                f"--workloads expects a YAML file; '{path}' is not a file. Pass the file "
                "itself, or pass a catalog folder with --catalog."
            )
    try:
        return read_yaml(path)
    except CatalogError as exc:
        msg = str(exc)
        if "at the top level" in msg:
            msg += " A workloads file holds one section: 'workloads:' followed by a list."
        raise DemandError(msg) from None


def _entries(path: Path, data: Mapping[str, Any], *, explicit: bool) -> list[dict[str, Any]]:
    """Return the raw entries of the ``workloads`` section of one parsed file."""
    if explicit:
        for key in data:
            if key != SECTION:
                raise DemandError(
                    f"{path}: unknown section '{key}'.{did_you_mean(str(key), [SECTION])} "
                    f"A workloads file holds one section, '{SECTION}:'."
                )
    entries = data.get(SECTION)
    if explicit and not entries:  # an empty file, section or list: a --workloads file says
        raise DemandError(  # which workloads it defines
            f"{path}: '{SECTION}' must be a non-empty list of entries (each starting with "
            "'- '); the file defines no workload. Add one, or leave out --workloads."
        )
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise DemandError(
            f"{path}: section '{SECTION}' must be a list of entries (each starting with '- ')."
        )
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for j, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DemandError(f"{path}: {SECTION}[#{j + 1}] must be a mapping of fields.")
        if "name" not in entry:
            raise DemandError(
                f"{path}: {SECTION}[#{j + 1}]: field 'name' is missing; every workload is "
                "identified by its name."
            )
        name = str(entry["name"])
        if name in seen:
            raise DemandError(
                f"{path}: {SECTION}[{name}] appears twice in this file. Remove one entry or "
                "give it another name."
            )
        seen.add(name)
        out.append(entry)
    return out


def _validate(path: Path, entry: Mapping[str, Any], catalog: Catalog) -> Workload:
    """Validate one entry's fields and its names against the catalog."""
    label = f"{SECTION}[{entry['name']}]"
    try:
        wl = Workload.model_validate(entry)
    except ValidationError as exc:
        raise DemandError(format_validation(path, label, exc)) from None
    where = f"{path}: {label}"
    if wl.model not in catalog.models:
        raise DemandError(
            f"{where}: field 'model': unknown model '{wl.model}'."
            f"{did_you_mean(wl.model, catalog.models)} Use a catalog model, or add the model "
            "to a catalog folder passed with --catalog."
        )
    providers = {o.provider for o in catalog.offers.values()} | {p for _, p in catalog.api_offers}
    for field, table, what in (
        ("quantizations", catalog.quantizations, "quantization"),
        ("gpus", catalog.gpus, "GPU"),
        ("providers", sorted(providers), "provider"),
    ):
        for name in getattr(wl, field) or ():
            if name not in table:
                raise DemandError(
                    f"{where}: field '{field}': unknown {what} '{name}'."
                    f"{did_you_mean(name, table)} Use a catalog name, or null to allow all."
                )
    if wl.length_histogram and not wl.length_buckets:
        hist = Path(wl.length_histogram)
        if not hist.is_absolute():
            hist = path.parent / hist
        buckets = _read_histogram(hist, where)
        wl = wl.model_copy(update={"length_buckets": buckets})
    context = catalog.models[wl.model].max_context_tokens
    if wl.tokens_per_request > context:
        raise DemandError(
            f"{where}: field 'prompt_tokens': prompt_tokens + completion_tokens = "
            f"{wl.tokens_per_request:g} exceeds the context of '{wl.model}' ({context} tokens). "
            "Use shorter mean lengths."
        )
    return wl


def _read_histogram(path: Path, where: str) -> list[tuple[float, float, float]]:
    """Read a length histogram CSV (``prompt_tokens,completion_tokens,share``)."""
    if not path.is_file():
        raise DemandError(
            f"{where}: field 'length_histogram': file '{path}' does not exist. Give a CSV with "
            "columns prompt_tokens,completion_tokens,share (relative paths are read next to "
            "the workloads file)."
        )
    rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    cols = ("prompt_tokens", "completion_tokens", "share")
    if not rows or any(c not in rows[0] for c in cols):
        raise DemandError(f"{path}: expected a header {','.join(cols)} and at least one row.")
    out = []
    for i, row in enumerate(rows, start=2):
        try:
            vals = tuple(float(row[c]) for c in cols)
        except (TypeError, ValueError):
            raise DemandError(f"{path}: line {i}: not three numbers.") from None
        if not all(math.isfinite(v) and v > 0 for v in vals):
            raise DemandError(f"{path}: line {i}: lengths and share must be numbers > 0.")
        out.append(vals)
    return out


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise DemandError(f"Catalog folder '{folder}' does not exist. Check the --catalog path.")
    if not folder.is_dir():
        raise DemandError(f"--catalog expects a folder of YAML files; '{folder}' is a file.")
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_workloads(
    catalog: Catalog,
    paths: Sequence[Path] = (),
    *,
    catalog_dirs: Sequence[Path] = (),
    base: Path | None = None,
) -> dict[str, Workload]:
    """Load the workload definitions, later sources replacing earlier ones by name.

    Parameters
    ----------
    catalog
        The loaded catalog; model, quantization and GPU names are checked against it.
    paths
        Explicit workloads YAML files (``--workloads FILE``), read last, in order.
    catalog_dirs
        User catalog folders (``--catalog DIR``) whose ``workloads:`` sections are read after
        the base folder's.
    base
        The base catalog folder; the shipped catalog when omitted.

    Returns
    -------
    dict[str, Workload]
        Workloads by name, sorted by name.

    Raises
    ------
    DemandError
        A file is missing or unreadable, or an entry is malformed or names something the
        catalog lacks; the message names the file, the workload and the field.
    """
    sources: list[tuple[Path, bool]] = []
    for folder in [base or shipped_catalog_dir(), *[Path(d) for d in catalog_dirs]]:
        sources.extend((p, False) for p in _yaml_files(Path(folder)))
    sources.extend((Path(p), True) for p in paths)
    found: dict[str, Workload] = {}
    for path, explicit in sources:
        data = _read(path, explicit=explicit)
        for entry in _entries(path, data, explicit=explicit):
            wl = _validate(path, entry, catalog)
            found[wl.name] = wl
    return dict(sorted(found.items()))
