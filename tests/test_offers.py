"""Offers as instances: whole instances bought, TP groups inside one instance, pruning,
providers, price sheets and price age."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from advisor.catalog import Catalog, Offer, load_catalog
from advisor.cli import app
from advisor.demand import Demand
from advisor.errors import CatalogError
from advisor.options import build_options
from advisor.pipeline import Inputs, option_set, solve_inputs
from advisor.prices import read_offer_sheet, stale_prices
from advisor.solve import SolverSettings
from advisor.units import HOURS_PER_TERM_MONTH
from advisor.workloads import load_workloads

_CATALOG = load_catalog(prices="seeds")
_WORKLOADS = load_workloads(_CATALOG)
SRC = {"source": "test", "as_of": dt.date(2026, 11, 1)}


def instance_offer(gpu: str, n: int, tier: str, usd: float, **kw) -> Offer:
    return Offer(
        gpu=gpu,
        tier=tier,
        provider=kw.pop("provider", "acme"),
        instance=kw.pop("instance", f"{gpu.lower()}-x{n}"),
        gpus_per_instance=n,
        usd_per_hour=usd,
        **SRC,
        **kw,
    )


def with_offers(offers: list[Offer], *, max_tp: dict[str, int] | None = None) -> Catalog:
    gpus = dict(_CATALOG.gpus)
    for g, t in (max_tp or {}).items():
        gpus[g] = gpus[g].model_copy(update={"max_tp": t})
    return dataclasses.replace(
        _CATALOG,
        gpus=gpus,
        offers={(o.pool, o.tier): o for o in offers},
        defaults=_CATALOG.defaults.model_copy(update={"self_host_monthly_overhead_usd": 0.0}),
    )


def inputs_for(catalog: Catalog, workload: str, per_hour: np.ndarray, **wl_update) -> Inputs:
    wl = _WORKLOADS[workload].model_copy(update={"allow_api": False, **wl_update})
    hours = pd.date_range("2026-01-05", periods=len(per_hour), freq="h", tz="UTC")
    demand = Demand.from_requests(
        hours,
        {workload: per_hour},
        prompt_tokens={workload: wl.prompt_tokens},
        completion_tokens={workload: wl.completion_tokens},
    )
    return Inputs(catalog, {workload: wl}, demand)


def replica_capacity(inputs: Inputs, tp: int | None = None) -> float:
    """Requests/hour one replica serves (after headroom), of the first TP-``tp`` option."""
    opts = option_set(inputs)
    w = next(iter(inputs.workloads))
    head = 1 + inputs.workloads[w].headroom
    caps = [
        o.requests_per_hour / o.deployment.bundle / head
        for o in opts.options_for(w)
        if tp is None or o.deployment.tp == tp
    ]
    return max(caps)


def solve(inputs: Inputs):
    plan = solve_inputs(inputs, SolverSettings("cbc", time_limit_s=30, gap=0.0), aggregate="exact")
    assert plan.verified, plan.data["verification"]
    return plan


@pytest.mark.parametrize("tier", ["on_demand", "reserved_1y"])
def test_three_gpus_of_demand_on_an_eight_gpu_instance_buys_one_instance(tier: str) -> None:
    w = "llama-3.1-8b-interactive"
    cat = with_offers([instance_offer("L4", 8, tier, 10.0)], max_tp={"L4": 1})
    probe = inputs_for(cat, w, np.ones(3))
    cap = replica_capacity(probe, tp=1)
    inputs = inputs_for(cat, w, np.full(3, 2.5 * cap))  # three TP-1 replicas' worth
    plan = solve(inputs)
    # the instance's price, never three GPUs' share of it
    assert plan.total_cost_usd == pytest.approx(3 * 10.0)
    if tier == "on_demand":
        rows = plan.schedule.drop_duplicates(["hour", "deployment", "source"])
        assert (rows["instances"] == 1).all()
        assert (rows["gpus"] == 8).all() and (rows["replicas"] == 8).all()
        assert rows["provider"].eq("acme").all() and rows["instance"].eq("l4-x8").all()
    else:
        (r,) = plan.data["reserved"]
        assert (r["provider"], r["instance"], r["count"], r["gpus_per_instance"]) == (
            "acme",
            "l4-x8",
            1,
            8,
        )
        assert r["usd_per_hour"] == 10.0


def test_tp8_is_never_placed_on_four_gpu_instances() -> None:
    w = "llama-3.1-70b-interactive"
    cat = with_offers(
        [
            instance_offer("H100-SXM", 4, "on_demand", 12.0),
            instance_offer("H100-SXM", 4, "reserved_1y", 9.0),
        ]
    )
    opts = build_options(cat, {w: _WORKLOADS[w]})
    assert opts.deployments, "some smaller TP degree should fit"
    assert all(d.tp <= 4 for d in opts.deployments.values())
    # with 8-GPU instances as well, TP-8 appears, and only there
    cat8 = with_offers([*cat.offers.values(), instance_offer("H100-SXM", 8, "on_demand", 24.0)])
    opts8 = build_options(cat8, {w: _WORKLOADS[w]})
    tp8 = [d for d in opts8.deployments.values() if d.tp == 8]
    assert tp8 and all(d.gpus_per_unit == 8 for d in tp8)


def test_a_tp8_only_model_on_four_gpu_instances_is_explained() -> None:
    w = "llama-3.1-405b-interactive"
    cat = with_offers([instance_offer("H100-SXM", 4, "on_demand", 12.0)])
    opts = build_options(cat, {w: _WORKLOADS[w].model_copy(update={"quantizations": ["fp8"]})})
    assert not opts.deployments
    assert any("holds a TP-8 group" in r.reason for r in opts.rejected)


def test_four_tp2_replicas_share_one_reserved_eight_gpu_instance() -> None:
    w = "llama-3.1-70b-interactive"
    cat = with_offers([instance_offer("H100-SXM", 8, "reserved_1y", 20.0)], max_tp={"H100-SXM": 2})
    probe = inputs_for(cat, w, np.ones(2), quantizations=["bf16"])
    cap = replica_capacity(probe, tp=2)
    assert all(o.deployment.tp == 2 for o in option_set(probe).options.values())
    plan = solve(inputs_for(cat, w, np.full(2, 3.5 * cap), quantizations=["bf16"]))
    (r,) = plan.data["reserved"]
    assert r["count"] == 1 and r["tier"] == "reserved_1y"
    pool = plan.schedule[plan.schedule["source"] == "pool"]
    assert (pool["replicas"] == 4).all() and (pool["tp"] == 2).all()
    assert (pool["gpus"] == 8).all() and pool["instances"].eq(1.0).all()
    assert plan.total_cost_usd == pytest.approx(2 * 20.0)


def test_hourly_bundle_of_tp2_replicas_fills_the_instance() -> None:
    w = "llama-3.1-70b-interactive"
    cat = with_offers([instance_offer("H100-SXM", 8, "on_demand", 30.0)], max_tp={"H100-SXM": 2})
    opts = build_options(cat, {w: _WORKLOADS[w].model_copy(update={"quantizations": ["bf16"]})})
    (dep,) = opts.deployments.values()
    assert (dep.tp, dep.bundle, dep.units, dep.gpus) == (2, 4, 1.0, 8)


def test_dominated_offers_are_pruned_per_shape_and_provider_set() -> None:
    w = "llama-3.1-8b-interactive"
    cheap = instance_offer("L4", 8, "on_demand", 8.0, provider="cheap", instance="a")
    dear = instance_offer("L4", 8, "on_demand", 9.0, provider="dear", instance="b")
    other_shape = instance_offer("L4", 4, "on_demand", 5.0, provider="dear", instance="c")
    cat = with_offers([cheap, dear, other_shape])
    opts = build_options(cat, {w: _WORKLOADS[w]})
    assert opts.dominated_offers == [("dear/b", "on_demand")]
    assert {d.pool_key for d in opts.deployments.values()} == {"cheap/a", "dear/c"}
    # a workload that may not buy from 'cheap' keeps the dearer offer
    only_dear = _WORKLOADS[w].model_copy(update={"providers": ["dear"]})
    opts = build_options(cat, {w: only_dear})
    assert {d.pool_key for d in opts.deployments.values()} == {"dear/b", "dear/c"}
    # and --providers does the same for every workload
    opts = build_options(cat, {w: _WORKLOADS[w]}, providers=["dear"])
    assert {d.pool_key for d in opts.deployments.values()} == {"dear/b", "dear/c"}


def test_generic_per_gpu_offers_keep_their_old_keys() -> None:
    w = "llama-3.1-70b-interactive"
    opts = build_options(_CATALOG, {w: _WORKLOADS[w]})
    for k, d in opts.deployments.items():
        assert k == f"{d.model}|{d.gpu}|{d.quant}|tp{d.tp}"
        assert d.units == d.tp and d.pool_key == d.gpu


def test_offer_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="gpus_per_instance needs an instance"):
        Offer(gpu="L4", tier="on_demand", gpus_per_instance=8, usd_per_hour=1.0, **SRC)
    with pytest.raises(ValueError, match="upfront_usd needs term_months"):
        Offer(gpu="L4", tier="reserved_1y", instance="x", usd_per_hour=1.0, upfront_usd=5, **SRC)
    o = instance_offer("L4", 8, "reserved_1y", 4.0, upfront_usd=720.0 * 12, term_months=12)
    assert o.effective_usd_per_hour == pytest.approx(4.0 + 720.0 * 12 / (12 * HOURS_PER_TERM_MONTH))
    assert o.usd_per_gpu_hour == pytest.approx(o.effective_usd_per_hour / 8)


@pytest.mark.parametrize(("tier", "months"), [("reserved_1y", 36), ("reserved_3y", 12)])
def test_a_reserved_tier_keeps_its_term(tier: str, months: float) -> None:
    """A reserved_1y offer with term_months 36 was taken as a three-year commitment under a
    one-year name (its upfront spread over 36 months, its buy row ending in three years)."""
    with pytest.raises(ValueError, match=f"a {tier} offer is a .*-month commitment"):
        instance_offer("L4", 8, tier, 4.0, upfront_usd=1000.0, term_months=months)
    own = 12 if tier == "reserved_1y" else 36
    assert instance_offer("L4", 8, tier, 4.0, upfront_usd=1000.0, term_months=own).term_months
    block = instance_offer("L4", 8, "capacity_block", 4.0, term_months=months)
    assert block.term_months == months


def test_user_catalog_instance_offer_merges_over_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "offers.yaml").write_text(
        "offers:\n"
        "  - {gpu: L4, tier: on_demand, provider: acme, instance: l4x8, gpus_per_instance: 8,\n"
        "     usd_per_hour: 5.0, source: quote, as_of: 2026-11-01}\n"
    )
    cat = load_catalog([tmp_path], prices="seeds")
    assert cat.offers[("acme/l4x8", "on_demand")].gpus_per_instance == 8
    assert ("L4", "on_demand") in cat.offers  # the generic per-GPU offer stays
    (tmp_path / "offers.yaml").write_text(
        "offers:\n"
        "  - {gpu: L4, tier: on_demand, provider: acme, instance: l4x8, gpus_per_instance: 8,\n"
        "     usd_per_hour: 5.0, source: quote, as_of: 2026-11-01}\n"
        "  - {gpu: L4, tier: spot, provider: acme, instance: l4x8, gpus_per_instance: 4,\n"
        "     usd_per_hour: 2.0, source: quote, as_of: 2026-11-01}\n"
    )
    with pytest.raises(CatalogError, match="One instance type has one shape"):
        load_catalog([tmp_path], prices="seeds")


def test_unknown_price_profile_suggests_one() -> None:
    with pytest.raises(CatalogError, match="Did you mean 'seeds'"):
        load_catalog(prices="seed")


SHEET = "provider,instance,tier,price,gpu,gpus_per_instance,as_of\n"


def test_price_sheet_import_writes_a_catalog_folder(tmp_path: Path) -> None:
    sheet = tmp_path / "prices.csv"
    sheet.write_text(SHEET + "acme,l4x8,on_demand,5.5,L4,8,2026-11-01\n")
    res = CliRunner().invoke(
        app,
        ["offers", "import", str(sheet), "--out", str(tmp_path / "cat"), "--json"],
    )
    assert res.exit_code == 0, res.output
    cat = load_catalog([tmp_path / "cat"], prices="seeds")
    o = cat.offers[("acme/l4x8", "on_demand")]
    assert (o.usd_per_hour, o.gpus_per_instance, o.source) == (5.5, 8, "price sheet prices.csv")


def test_a_price_sheet_that_is_a_folder_is_named_so(tmp_path: Path) -> None:
    """A folder passed as the sheet was said not to exist."""
    (tmp_path / "sheet.csv").mkdir()
    res = CliRunner().invoke(app, ["offers", "import", str(tmp_path / "sheet.csv")])
    assert res.exit_code == 2, res.output
    assert "is a folder" in res.output and "does not exist" not in res.output, res.output


@pytest.mark.parametrize(
    "args",
    [["--providers", "groq"], ["--providers", "lambda", "--gpu", "MI300X"]],
)
def test_an_empty_offer_list_says_why(args: list[str]) -> None:
    """An API-only provider, or a GPU the provider does not rent, printed an empty table with
    no word (exit 0)."""
    res = CliRunner().invoke(app, ["offers", "--prices", "snapshot", *args])
    assert res.exit_code == 0, res.output
    assert f"No GPU offer matches {' '.join(args)}" in res.stderr, res.output


def test_price_sheet_import_keeps_an_offers_file_it_did_not_write(tmp_path: Path) -> None:
    """--out onto a folder whose offers.yaml the user wrote is refused and the file kept (it
    was replaced without a word); a file an earlier import wrote is replaced."""
    sheet = tmp_path / "prices.csv"
    sheet.write_text(SHEET + "acme,l4x8,on_demand,5.5,L4,8,2026-11-01\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "offers.yaml").write_text("offers: []  # my negotiated prices\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["offers", "import", str(sheet), "--out", str(mine)])
    assert res.exit_code == 2 and "was not written by `advisor offers import`" in res.output
    assert "my negotiated prices" in (mine / "offers.yaml").read_text(encoding="utf-8")
    again = tmp_path / "again"
    for _ in range(2):
        res = CliRunner().invoke(app, ["offers", "import", str(sheet), "--out", str(again)])
        assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("acme,l4x8,on_demand,-1,L4,8,2026-11-01", ["line 2", "column 'price'", "greater than 0"]),
        ("acme,l4x8,reserved_2y,1,L4,8,2026-11-01", ["line 2", "column 'tier'", "reserved_1y"]),
        ("acme,l4x8,on_demand,abc,L4,8,2026-11-01", ["line 2", "'price'"[1:-1], "not a number"]),
        ("acme,l4x8,on_demand,1,L4,8,2026-13-01", ["line 2", "as_of", "YYYY-MM-DD"]),
        ("acme,zz,on_demand,1,,,2026-11-01", ["line 2", "no 'gpu'", "gpus_per_instance"]),
        # each of these once wrote an invalid folder, named by the YAML it wrote, or bought
        # a known instance type as another GPU
        (
            "acme,l4x8,on_demand,5,L4,8,2026-11-01\nacme,l4x8,on_demand,6,L4,8,2026-11-01",
            ["prices.csv: line 3: the same offer as line 2", "Keep one row"],
        ),
        ("acme,box,on_demand,1,H100,1,2026-11-01", ["line 2", "'H100' is not a GPU type"]),
        (
            "gcp,a2-ultragpu-1g,on_demand,4,H100-SXM,8,2026-11-01",
            ["line 2", "a2-ultragpu-1g has gpu A100-80G in the shipped catalog, not H100-SXM"],
        ),
    ],
)
def test_price_sheet_errors_name_the_line_and_field(
    tmp_path: Path, row: str, expected: list[str]
) -> None:
    sheet = tmp_path / "prices.csv"
    sheet.write_text(SHEET + row + "\n")
    res = CliRunner().invoke(app, ["offers", "import", str(sheet), "--out", str(tmp_path / "c")])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    for part in expected:
        assert part in text, (part, text)
    assert not (tmp_path / "c").exists()


def test_price_sheet_unknown_column_suggests_one(tmp_path: Path) -> None:
    sheet = tmp_path / "prices.csv"
    sheet.write_text("provider,instance,tier,prise\nacme,x,on_demand,1\n")
    with pytest.raises(CatalogError, match="Did you mean 'price'"):
        read_offer_sheet(sheet)


def test_stale_prices_warn_past_the_age() -> None:
    o = instance_offer("L4", 8, "on_demand", 5.0)
    assert stale_prices([o], 180, today=dt.date(2027, 4, 30)) == []
    (msg,) = stale_prices([o], 180, today=dt.date(2027, 6, 1))
    assert "212 days old" in msg and "acme/l4-x8 on_demand" in msg


def test_offers_json_lists_the_required_keys() -> None:
    res = CliRunner().invoke(
        app, ["offers", "--prices", "seeds", "--model", "llama-3.1-8b", "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["offers"]
    for row in data["offers"]:
        for key in (
            "provider",
            "instance",
            "gpu",
            "gpus_per_instance",
            "tier",
            "usd_per_hour",
            "usd_per_gpu_hour",
            "region",
            "source",
            "as_of",
            "usd_per_m_output_tokens",
        ):
            assert key in row
        assert row["usd_per_gpu_hour"] == pytest.approx(
            row["usd_per_hour"] / row["gpus_per_instance"]
        )


def test_offers_unknown_provider_is_a_usage_error() -> None:
    res = CliRunner().invoke(app, ["offers", "--prices", "seeds", "--providers", "generc"])
    assert res.exit_code == 2
    assert "Did you mean 'generic'" in " ".join(res.output.split())


def test_existing_commitments_keep_their_gpu_pool_without_a_generic_offer() -> None:
    from advisor.fleet import Commitment

    w = "llama-3.1-8b-interactive"
    cat = with_offers([instance_offer("L4", 8, "on_demand", 10.0)], max_tp={"L4": 1})
    probe = inputs_for(cat, w, np.ones(3))
    cap = replica_capacity(probe, tp=1)
    inputs = dataclasses.replace(
        inputs_for(cat, w, np.full(3, 1.5 * cap)),
        commitments=[Commitment(gpu="L4", count=2, tier="owned", usd_per_hour=0.1)],
    )
    plan = solve(inputs)
    # two committed L4s serve the demand: nothing rented, only the commitment paid
    assert plan.data["cost_by_tier_usd"]["on_demand"] == 0.0
    pool = plan.schedule[plan.schedule["source"] == "pool"]
    assert pool["pool"].eq("L4").all() and pool["replicas"].eq(2).all()


def test_providers_limit_where_the_plan_buys_and_old_prices_warn() -> None:
    w = "llama-3.1-8b-interactive"
    cat = with_offers(
        [
            instance_offer("L4", 8, "on_demand", 8.0, provider="acme", instance="a"),
            instance_offer("L4", 8, "on_demand", 4.0, provider="beta", instance="b"),
        ],
        max_tp={"L4": 1},
    )
    cap = replica_capacity(inputs_for(cat, w, np.ones(2)), tp=1)
    inputs = inputs_for(cat, w, np.full(2, 2.0 * cap))
    assert solve(inputs).schedule["provider"].eq("beta").all()
    only_acme = dataclasses.replace(inputs, providers=["acme"], max_price_age_days=1)
    plan = solve(only_acme)
    assert plan.schedule["provider"].eq("acme").all()
    assert plan.total_cost_usd == pytest.approx(2 * 8.0)
    assert any("acme/a on_demand" in m and "days old" in m for m in plan.data["warnings"])


def test_verifier_rejects_a_provider_outside_the_allow_list() -> None:
    from advisor.verify import verify_plan

    w = "llama-3.1-8b-interactive"
    cat = with_offers(
        [instance_offer("L4", 8, "reserved_1y", 4.0, provider="beta", instance="b")],
        max_tp={"L4": 1},
    )
    cap = replica_capacity(inputs_for(cat, w, np.ones(2)), tp=1)
    inputs = inputs_for(cat, w, np.full(2, 2.0 * cap))
    plan = solve(inputs)
    d = inputs.demand

    def check(providers):
        return verify_plan(
            plan.data,
            plan.schedule,
            d.hours,
            d.workloads,
            d.requests,
            d.input_tokens,
            d.output_tokens,
            cat,
            inputs.workloads,
            providers=providers,
        )

    assert check(["beta"]).ok
    bad = check(["acme"])
    assert not bad.ok and any("not in --providers" in f for f in bad.failures())
    # a TP group that does not fit its instance, or a rented part of an instance, fails too
    sched = plan.schedule.copy()
    sched["tp"] = 16
    sched["gpus"] = sched["replicas"] * 16
    rep = verify_plan(
        plan.data, sched, d.hours, d.workloads, d.requests, d.input_tokens, d.output_tokens,
        cat, inputs.workloads,
    )  # fmt: skip
    assert any("does not fit" in f for f in rep.failures())


def test_tp_on_a_pcie_instance_runs_at_pcie_bandwidth() -> None:
    w = "llama-3.1-70b-interactive"
    nvlink = instance_offer("A100-80G", 4, "on_demand", 10.0, instance="sxm", interconnect="nvlink")
    pcie = instance_offer("A100-80G", 4, "on_demand", 10.0, instance="pcie", interconnect="pcie")
    opts = build_options(with_offers([nvlink, pcie]), {w: _WORKLOADS[w]})
    caps = {(d.pool_key, d.quant, d.tp): opts.options[(w, k)].requests_per_hour
            for k, d in opts.deployments.items()}  # fmt: skip
    pairs = [(k, caps.get(("acme/pcie", k[1], k[2]))) for k in caps if k[0] == "acme/sxm"]
    multi = [(caps[k], c) for k, c in pairs if k[2] > 1 and c is not None]
    assert multi and all(c < s for s, c in multi)  # slower all-reduce, less capacity
    single = [(caps[k], c) for k, c in pairs if k[2] == 1 and c is not None]
    assert all(c == s for s, c in single)  # TP-1 needs no link


def test_pcie_a100_instances_are_priced_on_the_pcie_card() -> None:
    """An A100 80GB PCIe instance buys the PCIe card (1,935 GB/s, 300 W), not the SXM part:
    a single-GPU replica on it serves less than on the SXM part at the same price."""
    cat = load_catalog(prices="snapshot")
    a100 = [o for o in cat.offers.values() if o.gpu.startswith("A100")]
    pcie = [o for o in a100 if "pcie" in o.instance.lower() or "NC" in o.instance]
    assert pcie and all(o.gpu == "A100-PCIe" and o.interconnect == "pcie" for o in pcie)
    assert all(o.gpu == "A100-80G" for o in a100 if o not in pcie)
    card, sxm = cat.gpus["A100-PCIe"], cat.gpus["A100-80G"]
    assert (card.hbm_tb_per_s, card.tdp_w) == (1.935, 300) and card.family == sxm.family
    w = "llama-3.1-8b-interactive"
    offers = [
        instance_offer(g, 1, "on_demand", 2.0, instance=g, interconnect=i)
        for g, i in (("A100-80G", "nvlink"), ("A100-PCIe", "pcie"))
    ]
    opts = build_options(with_offers(offers), {w: _WORKLOADS[w]})
    caps = {(d.pool_key, d.quant, d.tp): opts.options[(w, k)].requests_per_hour
            for k, d in opts.deployments.items() if (w, k) in opts.options}  # fmt: skip
    pairs = [(c, caps.get(("acme/A100-PCIe", q, tp))) for (p, q, tp), c in caps.items()
             if p == "acme/A100-80G"]  # fmt: skip
    assert pairs and all(c is not None and c < s for s, c in pairs)


def test_the_sourced_snapshot_is_the_shipped_default_and_loads() -> None:
    from advisor.catalog import DEFAULT_PRICES

    assert DEFAULT_PRICES == "snapshot"
    cat = load_catalog(prices="snapshot")
    providers = {o.provider for o in cat.offers.values()}
    assert {"aws", "gcp", "azure"} <= providers and len(providers) >= 7
    assert all(o.source and o.as_of for o in cat.offers.values())
    for model in cat.models:
        if model == "llama-2-70b":  # in the catalog only to validate against MLPerf rows
            continue
        n = len({p for (m, p) in cat.api_offers if m == model})
        assert n >= 4, model  # prices/README.md: at least four providers per model


def test_a_shipped_example_on_the_snapshot_names_providers_and_instances() -> None:
    from advisor.pipeline import load_inputs

    inputs = load_inputs(Path("demand/mixed_week.csv"), prices="snapshot")
    plan = solve_inputs(inputs, SolverSettings("cbc", time_limit_s=60, gap=1e-3))
    assert plan.verified, plan.data["verification"]
    assert plan.data["inputs"]["prices"] == "snapshot"
    rented = [f for f in plan.data["fleet"] if f["tier"] in ("on_demand", "spot")]
    assert rented and all(f["provider"] != "generic" and f["instance"] for f in rented)
    hosted = plan.schedule[plan.schedule["source"] != "api"]
    assert hosted["provider"].ne("generic").all() and hosted["instance"].ne("").all()


def test_gpu_providers_only_verify_with_no_api_to_price(tmp_path: Path) -> None:
    """Regression: with --providers naming no API provider, the plan prices no API, and the
    verifier compared that with the cheapest API of the whole catalog and refused the plan."""
    args = ["solve", "demand/low_volume.csv", "--prices", "snapshot", "--providers", "runpod"]
    res = CliRunner().invoke(app, [*args, "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    assert plan["verified"] and plan["cost_by_tier_usd"]["api"] == 0
    for w in plan["workloads"].values():
        assert w["api_usd_per_m_input_tokens"] is None and w["api_provider"] is None


def test_price_sheet_fills_a_known_instance_from_the_snapshot(tmp_path: Path) -> None:
    sheet = tmp_path / "prices.csv"
    sheet.write_text(
        "provider,instance,region,tier,price\naws,p5.48xlarge,us-east-1,reserved_1y,40\n"
    )
    res = CliRunner().invoke(app, ["offers", "import", str(sheet), "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    cat = load_catalog([tmp_path / "c"], prices="snapshot")
    o = cat.offers[("aws/p5.48xlarge/us-east-1", "reserved_1y")]
    assert (o.gpu, o.gpus_per_instance, o.usd_per_hour) == ("H100-SXM", 8, 40.0)


def test_plan_names_the_api_provider_it_prices() -> None:
    w = "llama-3.1-8b-interactive"
    cat = with_offers([instance_offer("L4", 8, "on_demand", 1000.0)], max_tp={"L4": 1})
    inputs = inputs_for(cat, w, np.full(2, 10.0), allow_api=True)
    plan = solve(inputs)
    provider = plan.data["workloads"][w]["api_provider"]
    assert provider == min(
        (p for (m, p) in cat.api_offers if m == "llama-3.1-8b"),
        key=lambda p: (
            cat.api_offers[("llama-3.1-8b", p)].usd_per_m_input_tokens * 1000
            + cat.api_offers[("llama-3.1-8b", p)].usd_per_m_output_tokens * 300,
            p,
        ),
    )
    api = plan.schedule[plan.schedule["source"] == "api"]
    assert len(api) and api["provider"].eq(provider).all()


def test_offers_for_a_tp_group_skips_instances_too_small_for_it() -> None:
    one = instance_offer("H100-SXM", 1, "on_demand", 2.0, instance="x1")
    eight = instance_offer("H100-SXM", 8, "on_demand", 24.0, instance="x8")
    cat = with_offers([one, eight])
    assert cat.offers_for("H100-SXM")["on_demand"] is one
    assert cat.offers_for("H100-SXM", 2)["on_demand"] is eight


@pytest.mark.parametrize("pattern", [(0.5, 3.2, 5.9), (4.0, 4.0, 4.0), (1.0, 0.0, 7.5)])
def test_whole_instances_match_a_brute_force(pattern: tuple[float, ...]) -> None:
    """A 4-GPU instance reserved or rented, a 1-GPU instance rented, and the API: the plan
    costs the minimum over every count of each (computed here from prices alone)."""
    from advisor.milp import POOL_EPSILON
    from advisor.units import TOKENS_PER_M

    w = "llama-3.1-8b-interactive"
    res4 = instance_offer("L4", 4, "reserved_1y", 2.2, instance="x4")
    od4 = instance_offer("L4", 4, "on_demand", 3.0, instance="x4")
    od1 = instance_offer("L4", 1, "on_demand", 0.9, provider="beta", instance="x1")
    cat = with_offers([res4, od4, od1], max_tp={"L4": 1})
    probe = inputs_for(cat, w, np.ones(3), allow_api=True, quantizations=["fp8"])
    cap = replica_capacity(probe, tp=1)
    inputs = inputs_for(
        cat, w, np.round(np.array(pattern) * cap), allow_api=True, quantizations=["fp8"]
    )
    plan = solve(inputs)
    d = inputs.demand
    api = cat.api_offer_for("llama-3.1-8b", 1000, 300)
    best = np.inf
    for r in range(3):
        cost = 3 * r * 2.2
        for t in range(3):
            need = float(d.requests[t, 0])
            api_usd = (
                d.input_tokens[t, 0] * api.usd_per_m_input_tokens
                + d.output_tokens[t, 0] * api.usd_per_m_output_tokens
            ) / TOKENS_PER_M
            hour = np.inf
            for k in range(3):
                for m in range(9):
                    replicas = 4 * r + 4 * k + m
                    frac = max(0.0, 1.0 - replicas * cap / need) if need > 0 else 0.0
                    hour = min(hour, 3.0 * k + 0.9 * m + frac * api_usd)
            cost += hour
        best = min(best, cost)
    all_api = (
        float(
            (d.input_tokens[:, 0] * api.usd_per_m_input_tokens).sum()
            + (d.output_tokens[:, 0] * api.usd_per_m_output_tokens).sum()
        )
        / TOKENS_PER_M
    )
    best = min(best, all_api)
    assert plan.total_cost_usd == pytest.approx(best, rel=1e-6, abs=POOL_EPSILON * 3 * 12)


def test_a_workload_naming_an_unknown_provider_is_a_clear_error(tmp_path: Path) -> None:
    from advisor.errors import DemandError

    f = tmp_path / "w.yaml"
    f.write_text(
        "workloads:\n"
        "  - {name: chat, model: llama-3.1-8b, prompt_tokens: 100, completion_tokens: 50,\n"
        "     ttft_ms: 2000, tpot_ms: 50, providers: [generc]}\n"
    )
    with pytest.raises(DemandError, match=r"unknown provider 'generc'.*Did you mean 'generic'"):
        load_workloads(_CATALOG, [f])


def test_a_commitment_dearer_than_renting_is_dropped_exactly() -> None:
    """A 4-GPU reservation at $1.00/GPU-hour next to a 1-GPU on-demand offer at $0.90: the
    reserved tier can never pay, is dropped before the model, and the plan still costs the
    brute-force minimum (the parametrized brute force above covers the kept case)."""
    from advisor.options import unpaying_pools

    w = "llama-3.1-8b-interactive"
    res4 = instance_offer("L4", 4, "reserved_1y", 4.0, instance="x4")
    od1 = instance_offer("L4", 1, "on_demand", 0.9, provider="beta", instance="x1")
    cat = with_offers([res4, od1], max_tp={"L4": 1})
    wl = {w: _WORKLOADS[w].model_copy(update={"quantizations": ["fp8"]})}
    opts = build_options(cat, wl)
    assert ("acme/x4", "reserved_1y") in opts.dominated_offers
    assert not opts.pool_tiers("acme/x4")
    # kept where it is cheaper per GPU than renting, and kept for existing commitments
    cheap = with_offers([res4.model_copy(update={"usd_per_hour": 2.0}), od1], max_tp={"L4": 1})
    assert build_options(cheap, wl).pool_tiers("acme/x4") == ["reserved_1y"]
    kept = build_options(cat, wl, committed_gpus=["acme/x4"])
    assert kept.pool_tiers("acme/x4") == ["reserved_1y"]
    assert unpaying_pools(kept) == ["acme/x4"]
    probe = inputs_for(cat, w, np.ones(3), allow_api=False, quantizations=["fp8"])
    cap = replica_capacity(probe, tp=1)
    plan = solve(inputs_for(cat, w, np.full(3, 3.5 * cap), quantizations=["fp8"]))
    assert plan.data["reserved"] == []
    assert plan.total_cost_usd == pytest.approx(3 * 4 * 0.9)


@pytest.mark.parametrize("tier", ["on_demand", "reserved_1y"])
def test_buy_list_names_the_offer_and_counts_instances(tier: str, tmp_path: Path) -> None:
    from advisor.buylist import BUY_COLUMNS, check_buy_rows

    w = "llama-3.1-8b-interactive"
    cat = with_offers([instance_offer("L4", 8, tier, 10.0)], max_tp={"L4": 1})
    cap = replica_capacity(inputs_for(cat, w, np.ones(3)), tp=1)
    plan = solve(inputs_for(cat, w, np.full(3, 2.5 * cap)))
    (row,) = plan.data["buy"]
    assert (row["provider"], row["instance"], row["region"], row["gpu"], row["tier"]) == (
        "acme",
        "l4-x8",
        "",
        "L4",
        tier,
    )
    assert row["count"] == 1 and row["peak_count"] == 1  # one instance, not three GPUs
    assert row["gpu_hours"] == pytest.approx(3 * 8)
    out = plan.save(tmp_path / "p")
    buy = pd.read_csv(out / "buy.csv", keep_default_na=False)
    assert list(buy.columns) == list(BUY_COLUMNS)
    assert not check_buy_rows(
        plan.data["buy"], plan.schedule, plan.data["reserved"], plan.data["horizon_hours"]
    )
    bad = [{**row, "count": 3}]
    assert check_buy_rows(bad, plan.schedule, plan.data["reserved"], plan.data["horizon_hours"])


def test_verify_names_the_price_profile_the_plan_was_solved_on(tmp_path: Path) -> None:
    """Regression: a plan solved on the seeds' prices, verified on the default profile,
    failed with "pass the --catalog folders it was solved with"; the fix is --prices."""
    from advisor.pipeline import solve_plan

    plan = solve_plan(Path("demand/low_volume.csv"), solver="highs", time_limit_s=60, gap=1e-3)
    assert plan.data["inputs"]["prices"] == "seeds"  # the tests' profile
    saved = plan.save(tmp_path / "plan") / "plan.json"
    args = ["verify", str(saved), "demand/low_volume.csv"]
    res = CliRunner().invoke(app, [*args, "--prices", "snapshot"])
    assert res.exit_code == 1, res.output
    assert "solved on the price profile 'seeds'" in res.output
    assert "pass --prices seeds" in res.output
    assert CliRunner().invoke(app, [*args, "--prices", "seeds"]).exit_code == 0


def test_an_imported_catalog_spells_every_offer_out(tmp_path: Path) -> None:
    """Regression: offers sharing the --as-of date were written as YAML anchors and aliases
    (&id001)."""
    sheet = tmp_path / "prices.csv"
    sheet.write_text(
        "provider,instance,tier,price,gpu,gpus_per_instance\n"
        "acme,a,on_demand,1,L4,1\nacme,b,on_demand,2,L4,2\n"
    )
    out = tmp_path / "cat"
    args = ["offers", "import", str(sheet), "--as-of", "2026-11-01", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    text = (out / "offers.yaml").read_text()
    assert "&id" not in text and "*id" not in text and text.count("as_of: 2026-11-01") == 2


def test_a_bundle_reports_its_capacity_per_replica() -> None:
    """Regression: plan.json's requests_per_hour_per_replica held a whole-instance bundle's
    capacity (four TP-2 replicas here), four times one replica's, which summary.md's
    capacity basis prints per replica."""
    w = "llama-3.1-70b-interactive"
    cat = with_offers([instance_offer("H100-SXM", 8, "on_demand", 30.0)], max_tp={"H100-SXM": 2})
    probe = inputs_for(cat, w, np.ones(2), quantizations=["bf16"])
    cap = replica_capacity(probe, tp=2)  # one replica, after headroom
    plan = solve(inputs_for(cat, w, np.full(2, 3.5 * cap), quantizations=["bf16"]))
    (dep,) = plan.data["workloads"][w]["deployments"]
    assert dep["deployment"].endswith("x4")
    head = 1 + probe.workloads[w].headroom
    assert dep["requests_per_hour_per_replica"] == pytest.approx(cap * head)
