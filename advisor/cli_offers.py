"""``advisor offers``: list what is on offer; ``advisor offers import``: a price sheet to a
catalog folder (see ``advisor.offers`` and ``advisor.prices``).

Registered on the main ``app`` when ``advisor.cli`` imports this module.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from advisor.cli_base import (
    CatalogOpt,
    JsonOpt,
    PricesOpt,
    ProvidersOpt,
    and_list,
    app,
    check_lengths,
    cli_catalog,
    emit_json,
    err,
    given_flags,
    handle_errors,
    out,
    parse_providers,
)
from advisor.errors import AdvisorError

offers_app = typer.Typer(
    add_completion=False,
    help="What is on offer: providers, instance types, regions, tiers and prices.",
)
app.add_typer(offers_app, name="offers")


@offers_app.callback(invoke_without_command=True)
@handle_errors
def offers(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(help="Also give $/M output tokens at its best deployment.")
    ] = None,
    providers: ProvidersOpt = None,
    gpu: Annotated[list[str] | None, typer.Option(help="GPU type(s); all when omitted.")] = None,
    input_tokens: Annotated[float, typer.Option(help="Mean prompt length [tokens].")] = 1000,
    output_tokens: Annotated[float, typer.Option(help="Mean completion length [tokens].")] = 300,
    tpot_ms: Annotated[float | None, typer.Option(help="TPOT SLO [ms].")] = None,
    ttft_ms: Annotated[float | None, typer.Option(help="TTFT SLO [ms].")] = None,
    catalog: CatalogOpt = None,
    prices: PricesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List every offer, cheapest per GPU-hour first (with --model, its $/M output tokens)."""
    if ctx.invoked_subcommand is not None:
        return
    from advisor.offers import offer_rows
    from advisor.pipeline import check_providers

    check_lengths(input_tokens, output_tokens, (tpot_ms, ttft_ms))
    _check_model_flags(ctx, model)
    cat = cli_catalog(catalog, prices)
    names = parse_providers(providers)
    if names is not None:
        check_providers(cat, names)
    if model is not None:
        cat.model(model)
    for g in gpu or []:
        cat.gpu(g)
    rows = offer_rows(
        cat,
        providers=names,
        gpus=gpu,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        tpot_ms=tpot_ms,
        ttft_ms=ttft_ms,
    )
    if json_out:
        emit_json({"model": model, "offers": rows})
        return
    t = Table(title="Offers (cheapest per GPU-hour first)", box=box.SIMPLE)
    for col, just in (
        ("provider", "left"),
        ("instance", "left"),
        ("region", "left"),
        ("GPU", "left"),
        ("GPUs", "right"),
        ("tier", "left"),
        ("USD/instance-h", "right"),
        ("USD/GPU-h", "right"),
        ("as of", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    if model:
        t.add_column(f"USD/M out ({model})", justify="right")
        t.add_column("best deployment")
    for r in rows:
        cells = [
            r["provider"],
            r["instance"],
            r["region"] or "-",
            r["gpu"],
            str(r["gpus_per_instance"]),
            r["tier"],
            f"{r['usd_per_hour']:,.2f}",
            f"{r['usd_per_gpu_hour']:,.3f}",
            r["as_of"],
        ]
        if model:
            v = r["usd_per_m_output_tokens"]
            cells += ["-" if v is None else f"{v:,.3f}", r["deployment"] or "does not fit"]
        t.add_row(*(escape(str(c)) for c in cells))
    out.print(t)
    if not rows:
        asked = " ".join(
            a
            for a in (
                f"--providers {','.join(names)}" if names is not None else "",
                " ".join(f"--gpu {g}" for g in gpu or []),
            )
            if a
        )
        err.print(
            f"No GPU offer matches {asked or 'the catalog'}: no provider named rents those "
            "GPUs (a provider of an API sells tokens, not GPU-hours).",
            highlight=False,
        )


#: ``advisor offers``' flags that only shape the --model column (parameter: flag).
_MODEL_FLAGS = {
    "input_tokens": "--input-tokens",
    "output_tokens": "--output-tokens",
    "tpot_ms": "--tpot-ms",
    "ttft_ms": "--ttft-ms",
}


def _check_model_flags(ctx: typer.Context, model: str | None) -> None:
    """Without ``--model`` there is no $/M output tokens column for the lengths and SLOs to
    shape: given anyway, they would be silently ignored."""
    extra = given_flags(ctx, _MODEL_FLAGS)
    if model is None and extra:
        them = "it" if len(extra) == 1 else "them"
        raise AdvisorError(
            f"{and_list(extra)} only appl{'ies' if len(extra) == 1 else 'y'} with --model: "
            "the lengths and SLOs set the requests its $/M output tokens column is priced for. "
            f"Add --model NAME (e.g. --model llama-3.1-70b), or leave {them} out."
        )


def _check_loads(entries: list[dict[str, Any]], sheet: Path, prices: str | None) -> None:
    """The folder must load as a catalog, with the same checks as any --catalog folder:
    tried in a scratch folder first, so a sheet that fails leaves no folder behind, and the
    error names the sheet."""
    import tempfile

    from advisor.catalog import load_catalog
    from advisor.errors import CatalogError
    from advisor.prices import write_catalog_folder

    with tempfile.TemporaryDirectory(prefix="advisor-import-") as tmp:
        written = write_catalog_folder(entries, tmp)
        try:
            load_catalog([Path(tmp)], prices=prices)
        except CatalogError as exc:
            raise CatalogError(str(exc).replace(str(written), f"{sheet} (as imported)")) from None


@offers_app.command("import")
@handle_errors
def import_sheet(
    sheet: Annotated[Path, typer.Argument(help="Price sheet CSV: provider,instance,tier,price.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Catalog folder to write.")] = Path(
        "my-prices"
    ),
    source: Annotated[
        str | None, typer.Option(help="Where the prices come from (default: the sheet's name).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Date of the prices, YYYY-MM-DD (default: today).")
    ] = None,
    prices: PricesOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Turn your own price sheet into a catalog folder to pass with --catalog.

    Columns: provider, instance, tier, price [USD/instance-hour]; gpu and gpus_per_instance
    where the shipped snapshot does not know the instance type; optional region, upfront_usd,
    term_months, max_instances, interconnect, source, as_of, notes.
    """
    from advisor.catalog import default_prices, load_catalog
    from advisor.prices import read_offer_sheet, write_catalog_folder

    when = dt.date.today()
    if as_of is not None:
        try:
            when = dt.date.fromisoformat(as_of)
        except ValueError:
            raise AdvisorError(f"--as-of '{as_of}' is not a date; write YYYY-MM-DD.") from None
    # instance shapes are facts about instance types, whatever the price profile: the
    # snapshot's, and those of the profile named
    shipped = {
        p: load_catalog(prices=p) for p in dict.fromkeys(["snapshot", prices or default_prices()])
    }
    known = {
        (o.provider, o.instance): {
            "gpu": o.gpu,
            "gpus_per_instance": o.gpus_per_instance,
            "interconnect": o.interconnect,
        }
        for cat in shipped.values()
        for o in cat.offers.values()
        if o.instance
    }
    entries = read_offer_sheet(
        sheet,
        known=known,
        gpus=set(shipped["snapshot"].gpus),
        default_source=source or f"price sheet {sheet.name}",
        default_as_of=when,
    )
    if not entries:
        raise AdvisorError(f"{sheet}: the sheet has a header but no offers.")
    _check_loads(entries, sheet, prices)
    path = write_catalog_folder(entries, out_dir)
    if json_out:
        emit_json({"catalog": str(out_dir), "file": str(path), "offers": len(entries)})
        return
    out.print(f"{len(entries)} offers written to {path}; use it with --catalog {out_dir}.")
