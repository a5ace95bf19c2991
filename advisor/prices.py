"""Price sheets (CSV) at the boundary: the shipped snapshot, a planner's own sheet, price age.

A price sheet is one CSV row per offer. Its columns are renamed to the catalog's fields here
(``usd_per_instance_hour`` or ``price`` → ``usd_per_hour``, ``min_count`` → ``min_instances``),
and every row is validated as a catalog offer, so a sheet gets the same errors as the YAML,
with the line number added. ``write_catalog_folder`` turns a sheet into a catalog folder
(``advisor offers import``); ``stale_prices`` lists the prices a plan uses that are older
than a given age.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from advisor.errors import CatalogError, did_you_mean

#: Sheet column → catalog offer field (columns not listed keep their name).
_OFFER_RENAMES = {
    "usd_per_instance_hour": "usd_per_hour",
    "price": "usd_per_hour",
    "min_count": "min_instances",
}
#: Columns read and dropped: derived figures the catalog recomputes.
_OFFER_DERIVED = ("usd_per_gpu_hour",)
_OFFER_NUMBERS = {
    "gpus_per_instance": int,
    "usd_per_hour": float,
    "upfront_usd": float,
    "term_months": float,
    "min_instances": int,
    "max_instances": int,
    "max_gpus": int,
    "interruption_rate_per_hour": float,
}
_INTERCONNECT_NAMES = {
    "nvlink": "nvlink",
    "nvswitch": "nvlink",
    "sxm": "nvlink",
    "pcie": "pcie",
    "infinity_fabric": "infinity_fabric",
    "infinity fabric": "infinity_fabric",
    "xgmi": "infinity_fabric",
}
_API_RENAMES = {
    "usd_per_m_input": "usd_per_m_input_tokens",
    "usd_per_m_output": "usd_per_m_output_tokens",
}
_API_NUMBERS = {
    "usd_per_m_input_tokens": float,
    "usd_per_m_output_tokens": float,
    "max_tokens_per_minute": float,
}
OFFER_SHEET_REQUIRED = ("provider", "instance", "tier", "price")
#: A plan warns about a price older than this [days] unless told otherwise.
DEFAULT_MAX_PRICE_AGE_DAYS = 180.0


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line, row) pairs of a CSV file; errors name the file."""
    if path.is_dir():
        raise CatalogError(f"Price sheet '{path}' is a folder. Pass the CSV file itself.")
    if not path.is_file():
        raise CatalogError(f"Price sheet '{path}' does not exist. Check the path.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not UTF-8 text. Save the sheet as UTF-8 CSV.") from None
    reader = csv.reader(text.splitlines())
    rows = list(reader)
    if not rows:
        raise CatalogError(f"{path}: the file is empty; expected a header row.")
    header = [h.strip() for h in rows[0]]
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise CatalogError(
                f"{path}: line {lineno}: {len(row)} fields, expected {len(header)} "
                f"({','.join(header)}). Quote fields that contain commas."
            )
        out.append((lineno, {h: c.strip() for h, c in zip(header, row, strict=True)}))
    return header, out


def _sheet_columns(path: Path, header: Sequence[str], renames: Mapping[str, str]) -> dict[str, str]:
    """The sheet's own column of each field it gives (``price`` for ``usd_per_hour``), so that
    errors name a column the sheet has. Two columns of one field are refused: one of them
    would be dropped without a word."""
    columns: dict[str, str] = {}
    for h in header:
        field = renames.get(h, h)
        first = columns.get(field)
        if first is not None:
            problem = (
                f"the column '{h}' appears twice"
                if first == h
                else f"the columns '{first}' and '{h}' are two names of one column ({field})"
            )
            raise CatalogError(f"{path}: line 1: {problem}. Keep one of them.")
        columns[field] = h
    return columns


def _convert(
    path: Path,
    lineno: int,
    rec: dict[str, Any],
    numbers: Mapping[str, type],
    columns: Mapping[str, str],
) -> dict[str, Any]:
    """A sheet row's cells (by field) as numbers and dates where the fields are; errors name
    the sheet's column (``columns``: field to column)."""
    out: dict[str, Any] = {}
    for key, value in rec.items():
        if value == "":
            continue
        kind = numbers.get(key)
        column = columns.get(key, key)
        if kind is not None:
            try:
                number = float(value)
            except ValueError:
                raise CatalogError(
                    f"{path}: line {lineno}: column '{column}': '{value}' is not a number."
                ) from None
            if kind is int:
                if number != int(number):
                    raise CatalogError(
                        f"{path}: line {lineno}: column '{column}': must be a whole number, "
                        f"got '{value}'."
                    )
                number = int(number)
            out[key] = number
        elif key == "as_of":
            try:
                out[key] = dt.date.fromisoformat(value)
            except ValueError:
                raise CatalogError(
                    f"{path}: line {lineno}: column 'as_of': '{value}' is not a date; write "
                    "YYYY-MM-DD (e.g. 2026-11-01)."
                ) from None
        else:
            out[key] = value
    return out


def _validated(
    path: Path, lineno: int, entry: dict[str, Any], model: type, columns: Mapping[str, str]
) -> dict[str, Any]:
    """``entry`` checked as a catalog ``model``; errors name the line and the sheet's column
    (``columns``: field to column) where a column gave the field."""
    from pydantic import ValidationError

    from advisor.catalog import entry_label, format_validation

    section = "offers" if model.__name__ == "Offer" else "apis"
    try:
        model.model_validate(entry)
    except ValidationError as exc:
        label = f"line {lineno}: " + entry_label(section, entry, lineno - 2)
        raise CatalogError(format_validation(path, label, exc, model, columns)) from None
    return entry


def read_offer_sheet(
    path: Path | str,
    *,
    known: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    gpus: Collection[str] | None = None,
    default_source: str | None = None,
    default_as_of: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Read a CSV of offers into catalog offer entries (validated; errors name the line).

    Parameters
    ----------
    path
        The sheet. Columns: ``provider, instance, tier`` and a price (``price`` or
        ``usd_per_instance_hour``) [USD/instance-hour]; ``gpu``, ``gpus_per_instance`` and
        ``interconnect`` unless ``known`` has the instance; optional ``region, upfront_usd,
        term_months, min_count, max_instances, source, as_of, notes``.
    known
        Shapes of instance types by (provider, instance): ``gpu``, ``gpus_per_instance``,
        ``interconnect``, filled in where the sheet leaves them out (a row giving another
        GPU or count for a known instance is refused).
    gpus
        The GPU types a row may name (None: any; the catalog checks them when it loads).
    default_source, default_as_of
        Used where the sheet has no ``source`` / ``as_of`` column or leaves it empty.
    """
    from advisor.catalog import Offer

    path = Path(path)
    header, rows = _read_rows(path)
    _check_sheet_header(path, header)
    columns = _sheet_columns(path, header, _OFFER_RENAMES)
    entries = []
    seen: dict[tuple[Any, ...], int] = {}
    for lineno, row in rows:
        entry = _sheet_entry(path, lineno, row, known, gpus, columns)
        key = tuple(entry.get(k, "") for k in ("provider", "instance", "region", "tier", "gpu"))
        if key in seen:
            raise CatalogError(
                f"{path}: line {lineno}: the same offer as line {seen[key]} ({key[0]} "
                f"{key[1]} {key[3]}{' in ' + key[2] if key[2] else ''}). Keep one row."
            )
        seen[key] = lineno
        if "gpu" not in entry:
            raise CatalogError(
                f"{path}: line {lineno}: no 'gpu' for instance '{entry.get('instance', '')}' "
                f"of '{entry.get('provider', '')}'. Add the columns gpu and gpus_per_instance "
                "(the shipped snapshot knows the instance types it lists)."
            )
        if "source" not in entry and default_source:
            entry["source"] = default_source
        if "as_of" not in entry and default_as_of:
            entry["as_of"] = default_as_of
        minimum = entry.pop("min_instances", None)
        if minimum is not None and minimum > 1:
            note = f"sold in units of at least {minimum} instances"
            entry["notes"] = f"{entry['notes']} ({note})" if entry.get("notes") else note
        entries.append(_validated(path, lineno, entry, Offer, columns))
    return entries


def _check_sheet_header(path: Path, header: Sequence[str]) -> None:
    """A price sheet's columns: each one an offer field (or a name for one), and at least
    ``provider``, ``tier`` and a price."""
    from advisor.catalog import Offer

    renamed = [_OFFER_RENAMES.get(h, h) for h in header]
    fields = [*Offer.model_fields, *_OFFER_DERIVED, "min_instances"]
    for h, r in zip(header, renamed, strict=True):
        if r not in fields:
            raise CatalogError(
                f"{path}: line 1: unknown column '{h}'.{did_you_mean(h, [*fields, 'price'])}"
            )
    for need in ("provider", "tier", "usd_per_hour"):
        if need not in renamed:
            shown = "price (or usd_per_instance_hour)" if need == "usd_per_hour" else need
            raise CatalogError(
                f"{path}: line 1: missing column '{shown}'. A price sheet needs at least "
                f"{', '.join(OFFER_SHEET_REQUIRED)}."
            )


def _sheet_entry(
    path: Path,
    lineno: int,
    row: Mapping[str, Any],
    known: Mapping[tuple[str, str], Mapping[str, Any]] | None,
    gpus: Collection[str] | None,
    columns: Mapping[str, str],
) -> dict[str, Any]:
    """One sheet row as offer fields: numbers converted, the interconnect named as the
    catalog names it, a known instance's shape checked and filled in, its GPU one of
    ``gpus``; errors name the sheet's column of each field (``columns``)."""
    rec = {_OFFER_RENAMES.get(k, k): v for k, v in row.items() if k not in _OFFER_DERIVED}
    entry = _convert(path, lineno, rec, _OFFER_NUMBERS, columns)
    ic = entry.get("interconnect")
    if ic is not None:
        entry["interconnect"] = _INTERCONNECT_NAMES.get(str(ic).lower(), str(ic).lower())
    shape = (known or {}).get((entry.get("provider", ""), entry.get("instance", "")))
    if shape:
        _check_known_shape(path, lineno, entry, shape)
    for k in ("gpu", "gpus_per_instance", "interconnect"):
        if k not in entry and shape and shape.get(k) is not None:
            entry[k] = shape[k]
    if gpus is not None and "gpu" in entry and entry["gpu"] not in gpus:
        raise CatalogError(
            f"{path}: line {lineno}: column 'gpu': '{entry['gpu']}' is not a GPU type of "
            f"the catalog.{did_you_mean(str(entry['gpu']), list(gpus))}"
        )
    return entry


def _check_known_shape(
    path: Path, lineno: int, entry: Mapping[str, Any], shape: Mapping[str, Any]
) -> None:
    """A row naming an instance type the snapshot knows may not give it another shape."""
    for k in ("gpu", "gpus_per_instance"):
        if k in entry and shape.get(k) is not None and entry[k] != shape[k]:
            raise CatalogError(
                f"{path}: line {lineno}: column '{k}': {entry['provider']} "
                f"{entry['instance']} has {k} {shape[k]} in the shipped catalog, not "
                f"{entry[k]}. Leave the column empty for a known instance type, or check the "
                "instance name."
            )


def read_api_sheet(path: Path | str) -> list[dict[str, Any]]:
    """Read a CSV of API offers (``provider, model, usd_per_m_input, usd_per_m_output,
    source, as_of, notes``) into catalog API entries."""
    from advisor.catalog import ApiOffer

    path = Path(path)
    header, rows = _read_rows(path)
    renamed = [_API_RENAMES.get(h, h) for h in header]
    for h, r in zip(header, renamed, strict=True):
        if r not in ApiOffer.model_fields:
            raise CatalogError(
                f"{path}: line 1: unknown column '{h}'."
                f"{did_you_mean(h, [*_API_RENAMES, *ApiOffer.model_fields])}"
            )
    columns = _sheet_columns(path, header, _API_RENAMES)
    entries = []
    for lineno, row in rows:
        rec = {_API_RENAMES.get(k, k): v for k, v in row.items()}
        entry = _convert(path, lineno, rec, _API_NUMBERS, columns)
        entries.append(_validated(path, lineno, entry, ApiOffer, columns))
    return entries


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors and aliases (``&id001``): every offer spelt out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_catalog_folder(entries: Iterable[Mapping[str, Any]], out: Path | str) -> Path:
    """Write offer entries as ``offers.yaml`` in a catalog folder (made if missing)."""
    from advisor.files import write_atomically

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CatalogError(f"--out '{out}' is a file; give a folder for the catalog.")
    target = out / "offers.yaml"
    if target.exists() and not _imported_by_advisor(target):
        raise CatalogError(
            f"{target} exists and was not written by `advisor offers import`; it is kept. "
            "Give another --out folder, or move that file first."
        )
    doc = {"offers": [dict(e) for e in entries]}
    text = IMPORT_HEADER + yaml.dump(doc, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)
    write_atomically(target, text)
    return target


#: the first lines of a catalog file ``advisor offers import`` writes (and may write again)
IMPORT_HEADER = (
    "# Offers imported from a price sheet (advisor offers import); pass this folder with\n"
    "# --catalog. Prices are per instance-hour [USD].\n"
)


def _imported_by_advisor(path: Path) -> bool:
    """Whether ``path`` is a file an earlier ``offers import`` wrote (its header unchanged)."""
    try:
        with path.open(encoding="utf-8") as f:
            return f.read(len(IMPORT_HEADER)) == IMPORT_HEADER
    except (OSError, UnicodeDecodeError):
        return False


def stale_prices(
    offers: Iterable[Any], max_age_days: float, today: dt.date | None = None
) -> list[str]:
    """Warnings for offers (catalog ``Offer`` or ``ApiOffer``) priced more than
    ``max_age_days`` before ``today``."""
    today = today or dt.date.today()
    out = []
    for o in offers:
        age = (today - o.as_of).days
        if age > max_age_days:
            what = f"{o.pool} {o.tier}" if hasattr(o, "tier") else f"API {o.provider} {o.model}"
            out.append(
                f"The price of {what} is {age} days old (as of {o.as_of.isoformat()}, older "
                f"than {max_age_days:g} days); check it against {o.source}."
            )
    return out
