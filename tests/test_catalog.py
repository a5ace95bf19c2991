"""Tests for advisor.catalog: the shipped catalog, user overrides and the errors a user causes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from advisor.catalog import Catalog, load_catalog
from advisor.errors import CatalogError

OFFER = """\
offers:
  - gpu: H100-SXM
    tier: reserved_1y
    usd_per_hour: {price}
    source: my quote
    as_of: 2026-11-01
"""

NEW_GPU = """\
gpus:
  - name: MI355X
    vendor: amd
    family: cdna3
    hbm_gb: 256
    hbm_tb_per_s: 6.0
    peak_tflops: {bf16: 1307.4, fp8: 2614.9}
    interconnect: Infinity Fabric
    interconnect_gb_per_s: 896
    max_tp: 8
    source: my datasheet
    as_of: 2026-11-01
"""


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog()


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalog_counts(shipped: Catalog) -> None:
    assert len(shipped.gpus) == 14
    assert len(shipped.models) == 7
    assert len(shipped.quantizations) == 5
    assert set(shipped.quantizations) == {"bf16", "fp8", "int8", "int4", "fp4"}
    assert shipped.warnings == ()


def test_llama_3_3_70b_has_llama_3_1_70b_shapes(shipped: Catalog) -> None:
    # a post-training update of the same network: every number the serving model reads agrees
    new, old = shipped.models["llama-3.3-70b"], shipped.models["llama-3.1-70b"]
    keep = {"name", "source", "as_of", "notes"}
    assert new.model_dump(exclude=keep) == old.model_dump(exclude=keep)
    snapshot = load_catalog(prices="snapshot")
    assert ("deepinfra", "llama-3.3-70b") in {(a.provider, a.model) for a in snapshot.apis.values()}


def test_every_entry_is_sourced(shipped: Catalog) -> None:
    tables = [
        shipped.gpus,
        shipped.efficiency,
        shipped.models,
        shipped.quantizations,
        shipped.offers,
        shipped.apis,
    ]
    entries = [e for t in tables for e in t.values()] + [shipped.defaults]
    assert len(entries) > 30
    for e in entries:
        assert e.source.strip(), e
        assert isinstance(e.as_of, dt.date), e


def test_every_gpu_family_has_efficiency(shipped: Catalog) -> None:
    for g in shipped.gpus.values():
        assert g.family in shipped.efficiency


def test_dtype_support(shipped: Catalog) -> None:
    assert "fp8" not in shipped.gpus["A100-80G"].peak_tflops
    assert [n for n, g in shipped.gpus.items() if "fp4" in g.peak_tflops] == ["B200"]


def test_user_catalog_overrides_one_price_and_adds_a_gpu(shipped: Catalog, tmp_path) -> None:
    _write(tmp_path, "price.yaml", OFFER.format(price=2.1))
    _write(tmp_path, "gpus.yml", NEW_GPU)
    cat = load_catalog([tmp_path])
    offer = cat.offers[("H100-SXM", "reserved_1y")]
    assert offer.usd_per_hour == 2.1
    assert offer.source == "my quote"
    assert shipped.offers[("H100-SXM", "reserved_1y")].usd_per_hour != 2.1
    # Nothing else changed.
    assert cat.offers[("H100-SXM", "on_demand")] == shipped.offers[("H100-SXM", "on_demand")]
    assert len(cat.offers) == len(shipped.offers)
    assert len(cat.gpus) == len(shipped.gpus) + 1 and cat.gpus["MI355X"].hbm_gb == 256
    assert str(tmp_path) in cat.sources


def test_user_catalog_merges_fields_over_a_shipped_entry(tmp_path) -> None:
    _write(tmp_path, "gpu.yaml", "gpus:\n  - name: H100-SXM\n    hbm_gb: 94\n")
    cat = load_catalog([tmp_path])
    assert cat.gpus["H100-SXM"].hbm_gb == 94
    assert cat.gpus["H100-SXM"].hbm_tb_per_s == 3.35


def test_reserved_above_on_demand_warns(tmp_path) -> None:
    _write(tmp_path, "price.yaml", OFFER.format(price=9.0))
    cat = load_catalog([tmp_path])
    assert len(cat.warnings) == 1
    assert "H100-SXM/reserved_1y" in cat.warnings[0] and "above on-demand" in cat.warnings[0]


def test_malformed_yaml_names_the_line(tmp_path) -> None:
    _write(tmp_path, "bad.yaml", "offers:\n  - gpu: H100-SXM\n    tier: [spot\n")
    with pytest.raises(CatalogError, match=r"bad\.yaml: YAML syntax error at line \d+"):
        load_catalog([tmp_path])


def test_unknown_field_suggests_the_right_one(tmp_path) -> None:
    _write(tmp_path, "price.yaml", OFFER.format(price=2.1).replace("usd_per_hour", "usd_per_hr"))
    with pytest.raises(CatalogError) as err:
        load_catalog([tmp_path])
    msg = str(err.value)
    assert "usd_per_hr" in msg and "unknown field" in msg and "Did you mean 'usd_per_hour'" in msg


def test_negative_price_names_file_entry_and_field(tmp_path) -> None:
    _write(tmp_path, "price.yaml", OFFER.format(price=-1))
    with pytest.raises(CatalogError) as err:
        load_catalog([tmp_path])
    msg = str(err.value)
    assert "price.yaml" in msg
    assert "offers[H100-SXM/reserved_1y]" in msg
    assert "usd_per_hour" in msg and "greater than 0" in msg


def test_unknown_gpu_in_offer_suggests_nearest(tmp_path) -> None:
    _write(tmp_path, "price.yaml", OFFER.format(price=2.1).replace("H100-SXM", "H100-SMX"))
    with pytest.raises(CatalogError, match=r"unknown GPU 'H100-SMX'\. Did you mean 'H100-SXM'"):
        load_catalog([tmp_path])


def test_unknown_section(tmp_path) -> None:
    _write(tmp_path, "x.yaml", "ofers: []\n")
    with pytest.raises(CatalogError, match=r"unknown section 'ofers'\. Did you mean 'offers'"):
        load_catalog([tmp_path])


def test_file_not_utf8(tmp_path) -> None:
    _write(tmp_path, "latin.yaml", "offers: []\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(CatalogError, match=r"latin\.yaml: the file is not UTF-8"):
        load_catalog([tmp_path])


def test_folder_does_not_exist(tmp_path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog([tmp_path / "nope"])


def test_folder_is_a_file(tmp_path) -> None:
    f = _write(tmp_path, "a.yaml", "offers: []\n")
    with pytest.raises(CatalogError, match="expects a folder"):
        load_catalog([f])


def test_duplicate_entry_in_one_file(tmp_path) -> None:
    text = OFFER.format(price=2.1) + OFFER.format(price=2.2).removeprefix("offers:\n")
    _write(tmp_path, "dup.yaml", text)
    with pytest.raises(
        CatalogError, match=r"dup\.yaml: offers\[H100-SXM/reserved_1y\] appears twice"
    ):
        load_catalog([tmp_path])


def test_missing_source_is_an_error(tmp_path) -> None:
    _write(tmp_path, "gpu.yaml", NEW_GPU.replace("    source: my datasheet\n", ""))
    with pytest.raises(CatalogError, match=r"gpus\[MI355X\]: field 'source': required"):
        load_catalog([tmp_path])


def test_a_blank_source_or_a_date_in_the_future_is_an_error(tmp_path) -> None:
    """A source of spaces is no source, and a price read in 2099 is a typo (its age, which
    the stale-price warning reads, would be negative): both were accepted."""
    _write(tmp_path / "a", "gpu.yaml", NEW_GPU.replace("my datasheet", "'   '"))
    with pytest.raises(CatalogError, match=r"gpus\[MI355X\]: field 'source': .*is blank"):
        load_catalog([tmp_path / "a"])
    _write(tmp_path / "b", "o.yaml", OFFER.format(price=2.0).replace("2026-11-01", "2099-01-01"))
    with pytest.raises(CatalogError, match=r"field 'as_of': .*2099-01-01 is in the future"):
        load_catalog([tmp_path / "b"])
    today = dt.datetime.now(dt.UTC).date().isoformat()
    _write(tmp_path / "c", "o.yaml", OFFER.format(price=2.0).replace("2026-11-01", today))
    load_catalog([tmp_path / "c"])


MODEL = """\
models:
  - name: my-model
    layers: 32
    hidden_size: 4096
    q_heads: {q}
    kv_heads: {kv}
    head_dim: 128
    params_b: 8.0
    max_context_tokens: 8192
    source: my card
    as_of: 2026-11-01
"""


@pytest.mark.parametrize(("q", "kv"), [(32, 64), (30, 8)])
def test_query_heads_come_in_whole_groups_per_kv_head(tmp_path, q: int, kv: int) -> None:
    """More KV heads than query heads, or query heads that do not split evenly over them,
    describe no grouped-query attention (they were accepted and sized the KV cache)."""
    _write(tmp_path, "m.yaml", MODEL.format(q=q, kv=kv))
    with pytest.raises(CatalogError, match=r"models\[my-model\].*multiple of kv_heads"):
        load_catalog([tmp_path])
    _write(tmp_path, "m.yaml", MODEL.format(q=32, kv=8))
    load_catalog([tmp_path])


def test_the_power_reference_is_derived_from_the_family_flagship(
    shipped: Catalog, tmp_path
) -> None:
    """A family's full-clock power per TFLOP/s is its flagship's, read from gpus.yaml (a copy
    of the number could drift from the GPU it came from); a reference that is not a GPU of the
    family with a TDP is a clear error naming the file and field."""
    h100 = shipped.gpus["H100-SXM"]
    hopper = shipped.efficiency["hopper"]
    assert hopper.full_clock_gpu == "H100-SXM"
    assert hopper.full_clock_w_per_bf16_tflop == h100.tdp_w / h100.peak_tflops["bf16"]
    _write(tmp_path, "gpu.yaml", "gpus:\n  - name: H100-SXM\n    tdp_w: 600\n")
    assert load_catalog([tmp_path]).efficiency["hopper"].full_clock_w_per_bf16_tflop == (
        600 / h100.peak_tflops["bf16"]
    )
    for ref in ("H100-SMX", "B200"):
        bad = tmp_path / ref
        bad.mkdir()
        _write(bad, "eff.yaml", f"efficiency:\n  - family: hopper\n    full_clock_gpu: {ref}\n")
        with pytest.raises(CatalogError, match=r"eff\.yaml.*full_clock_gpu"):
            load_catalog([bad])


def test_an_override_that_matches_no_offer_says_how_to_name_one(tmp_path: Path) -> None:
    """Regression: the README's generic {gpu, tier, max_gpus: 0} override matches no offer of
    the snapshot (its offers name providers) and failed with "field 'source': required field
    is missing"; the README's example now names the offers, and loads."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "offers.yaml").write_text("offers:\n  - {gpu: H100-SXM, tier: owned, max_gpus: 0}\n")
    with pytest.raises(CatalogError, match="matches no offer of the catalog below it"):
        load_catalog([bad], prices="snapshot")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("# my-catalog/offers.yaml")[1].split("\n", 1)[1].split("```")[0]
    good = tmp_path / "good"
    good.mkdir()
    (good / "offers.yaml").write_text(example)
    cat = load_catalog([good], prices="snapshot")
    assert cat.offers[("gcp/a3-highgpu-8g/us-central1", "reserved_3y")].max_gpus == 0
    assert cat.offers[("runpod/H100 SXM (Community Cloud, 8 GPUs)", "on_demand")].max_gpus == 16


def test_an_upfront_payment_is_paid_once_over_its_term(tmp_path) -> None:
    """An upfront spread over 36 x 720 h but committed over 36 months of the year (26,280 h)
    was counted 1.4% over: the buy list's commitment of a $200,000 upfront on a 3-year term
    read 413,018 against 8 x 26,280 + 200,000 = 410,240."""
    from advisor.buylist import term_hours

    _write(
        tmp_path,
        "o.yaml",
        "offers:\n  - gpu: H100-SXM\n    tier: reserved_3y\n    usd_per_hour: 8.0\n"
        "    upfront_usd: 200000\n    term_months: 36\n    source: my quote\n"
        "    as_of: 2026-11-01\n",
    )
    offer = load_catalog([tmp_path]).offers[("H100-SXM", "reserved_3y")]
    term = term_hours("reserved_3y", None, offer.term_months)
    assert term == 3 * 8760
    assert offer.effective_usd_per_hour * term == pytest.approx(8.0 * term + 200_000)
