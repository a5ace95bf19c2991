"""One capacity function for options, CLI and verifier: SLO capacity, caching, workload fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor import serving
from advisor.capacity_cache import CapacityCache
from advisor.catalog import load_catalog
from advisor.cli import app
from advisor.roofline import replica_performance
from advisor.serving import SLO, Replica, Traffic, replica_capacity, slo_capacity
from advisor.workloads import load_workloads

runner = CliRunner()
ROOF = ["roofline", "--model", "llama-3.1-70b", "--gpu", "H100-SXM", "--quant", "fp8"]
ROOF += ["--tp", "2", "--input-tokens", "1000", "--output-tokens", "300"]


def run_json(*args: str) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_roofline_json_keys_and_percentile_capacity() -> None:
    mean = run_json(*ROOF, "--tpot-ms", "50", "--ttft-ms", "2000")["options"][0]
    p99 = run_json(*ROOF, "--tpot-ms", "50", "--ttft-ms", "2000", "--slo-stat", "p99")
    (p99,) = p99["options"]
    for o in (mean, p99):
        for key in ("fits", "output_tokens_per_s", "requests_per_s", "ttft_ms", "tpot_ms"):
            assert key in o
        assert o["capacity_model"] == "simulated" and o["fits"]
        assert o["tpot_ms"] <= 50 and o["ttft_ms"] <= 2000
        assert 0 < o["requests_per_s"] <= o["upper_bound_requests_per_s"] * (1 + 1e-9)
    assert mean["slo_stat"] == "mean" and p99["slo_stat"] == "p99"
    # a tail limit admits less load than the same limit on the mean
    assert p99["requests_per_s"] < mean["requests_per_s"]
    assert p99["output_tokens_per_s"] == pytest.approx(p99["requests_per_s"] * 300)


def test_roofline_cites_the_measured_error_of_each_gpu_type(catalog) -> None:
    """`advisor roofline --json` says, per option, how far its GPU type's capacities can be
    trusted: the shipped error table's line, or that no run checks that GPU type."""
    fast = ["--capacity-model", "roofline", "--tpot-ms", "200"]
    (h100,) = run_json(*ROOF, *fast)["options"]
    assert h100["measured_error"] == catalog.capacity_error["H100-SXM"].summary()
    assert "(runs)" in h100["measured_error"]
    pcie = ["roofline", "--model", "llama-3.1-8b", "--gpu", "A100-PCIe", "--quant", "bf16"]
    (a100,) = run_json(*pcie, "--tp", "1", *fast)["options"]
    assert "unvalidated" in a100["measured_error"]


def test_roofline_at_a_rate_and_the_fast_mode(catalog) -> None:
    (at,) = run_json(*ROOF, "--rate", "2", "--slo-stat", "p90")["options"]
    assert at["requests_per_s"] == 2.0  # it keeps up: the rate it is offered (2.1 before)
    assert at["output_tokens_per_s"] == pytest.approx(600.0, rel=0.02)
    (over,) = run_json(*ROOF, "--rate", "200")["options"]
    assert over["requests_per_s"] < 20 and over["reason"].startswith("overloaded")
    assert at["rate_rps"] == 2.0 and at["slo_stat"] == "p90"
    (fast,) = run_json(*ROOF, "--tpot-ms", "50", "--capacity-model", "roofline")["options"]
    g = catalog.gpus["H100-SXM"]
    perf = replica_performance(
        catalog.models["llama-3.1-70b"],
        g,
        catalog.quantizations["fp8"],
        catalog.efficiency["hopper"],
        2,
        1000,
        300,
        50.0,
    )
    assert fast["capacity_model"] == "roofline"
    assert fast["requests_per_s"] == pytest.approx(perf.requests_per_s)
    res = runner.invoke(app, [*ROOF, "--rate", "2", "--capacity-model", "roofline"])
    assert res.exit_code == 2 and "--rate" in res.output


def test_roofline_with_requests_in_flight(catalog) -> None:
    """``--concurrency N``: the latency statistics with N requests in flight per replica (a
    closed loop of N clients, the load `advisor validate` checks the model at) and the rate
    they reach; beyond the engine's batch limit the rest wait for a slot."""
    (few,) = run_json(*ROOF, "--concurrency", "16", "--slo-stat", "p90")["options"]
    rep = Replica(
        catalog.models["llama-3.1-70b"],
        catalog.gpus["H100-SXM"],
        catalog.quantizations["fp8"],
        catalog.efficiency["hopper"],
        2,
    )
    loop = serving.closed_loop(rep, Traffic(1000, 300), 16)
    assert few["concurrency"] == 16 and few["rate_rps"] is None
    assert few["tpot_ms"] == pytest.approx(loop.tpot_ms["p90"])
    assert few["ttft_ms"] == pytest.approx(loop.ttft_ms["p90"])
    assert few["requests_per_s"] == pytest.approx(loop.requests_per_s)
    assert 14 < few["mean_batch"] <= 16
    cap = rep.eff.max_batch
    (full,) = run_json(*ROOF, "--concurrency", str(4 * cap))["options"]
    assert full["mean_batch"] <= cap and full["ttft_ms"] > 10 * few["ttft_ms"]
    (slow,) = run_json(*ROOF, "--concurrency", str(cap), "--tpot-ms", "10")["options"]
    assert slow["fits"] and not slow["meets_slo"] and "concurrency" in slow["reason"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--concurrency", "0"], "from 1 to"),
        (["--concurrency", "8", "--rate", "2"], "not both"),
        (["--concurrency", "8", "--capacity-model", "roofline"], "simulated"),
    ],
)
def test_roofline_concurrency_errors(extra: list[str], message: str) -> None:
    res = runner.invoke(app, [*ROOF, *extra])
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output


def test_roofline_plot_writes_a_png(tmp_path: Path) -> None:
    png = tmp_path / "knee.png"
    res = runner.invoke(app, [*ROOF, "--tpot-ms", "50", "--slo-stat", "p99", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_capacity_is_cached_in_process_and_on_disk(catalog, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(serving, "CACHE", CapacityCache(serving.MODEL_VERSION))
    g = catalog.gpus["L40S"]
    rep = Replica(
        catalog.models["llama-3.1-8b"],
        g,
        catalog.quantizations["fp8"],
        catalog.efficiency["ada"],
        1,
    )
    traffic, slo = Traffic(1000, 300, 0.5, 0.5), SLO(2000.0, 50.0, "p99")
    first = slo_capacity(rep, traffic, slo)
    serving.flush_cache()
    files = list(tmp_path.glob("capacity-v*.json"))
    assert len(files) == 1
    serving.CACHE.clear()  # as a new process would start
    calls = []
    monkeypatch.setattr(serving, "_compute_capacity", lambda *a: calls.append(a) or first)
    assert slo_capacity(rep, traffic, slo) == first
    assert not calls  # read back from disk, not recomputed
    slo_capacity(rep, traffic, SLO(2000.0, 40.0, "p99"))  # a changed input is a new key
    assert len(calls) == 1


def test_a_miss_reads_what_another_process_wrote(tmp_path, monkeypatch) -> None:
    """Two solves side by side share their capacities: a cache already loaded reads the file
    again on a miss once another process has written it."""
    monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path))
    writer, reader = CapacityCache(0), CapacityCache(0)
    assert reader.get("k") is None  # loaded (no file yet)
    writer.put("k", {"requests_per_s": 1.5})
    writer.flush()
    assert reader.get("k") == {"requests_per_s": 1.5}
    (tmp_path / "capacity-v0.json").write_text("{broken")
    assert CapacityCache(0).get("k") is None  # a broken file is never trusted


def test_a_cached_entry_that_is_not_a_capacity_is_recomputed(
    catalog, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(serving, "CACHE", CapacityCache(serving.MODEL_VERSION))
    rep = Replica(
        catalog.models["llama-3.1-8b"],
        catalog.gpus["L4"],
        catalog.quantizations["fp8"],
        catalog.efficiency["ada"],
        1,
    )
    traffic, slo = Traffic(500, 200), SLO(2000.0, 80.0, "p99")
    first = slo_capacity(rep, traffic, slo)
    serving.flush_cache()
    (f,) = tmp_path.glob("capacity-v*.json")
    for broken in ({"requests_per_s": "fast"}, [1, 2], 7):
        f.write_text(json.dumps(dict.fromkeys(json.loads(f.read_text()) or ["k"], broken)))
        serving.CACHE.clear()
        assert slo_capacity(rep, traffic, slo) == first


def _options_summary(catalog, workloads, tmp_path, monkeypatch, workers: str):
    from advisor.options import build_options

    monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path / workers))
    monkeypatch.setenv("ADVISOR_CAPACITY_WORKERS", workers)
    monkeypatch.setattr(serving, "CACHE", CapacityCache(serving.MODEL_VERSION))
    opts = build_options(catalog, workloads)
    assert list((tmp_path / workers).glob("capacity-v*.json"))  # written before any solve
    return (
        {k: (o.requests_per_hour, o.perf) for k, o in opts.options.items()},
        opts.rejected,
        opts.dominated,
    )


def test_capacities_simulated_in_worker_processes_are_the_same(
    catalog, tmp_path, monkeypatch
) -> None:
    """Groups of options simulated in two worker processes give the options, rejections and
    pre-pruned deployments of one process, in the same order."""
    shipped = load_workloads(catalog)
    gpus = ["L40S", "H100-SXM"]
    wl = {"w": shipped["llama-3.1-8b-interactive"].model_copy(update={"gpus": gpus})}
    one = _options_summary(catalog, wl, tmp_path, monkeypatch, "1")
    two = _options_summary(catalog, wl, tmp_path, monkeypatch, "2")
    assert one[0] and list(one[0]) == list(two[0])
    assert one == two


def test_workload_fields_and_old_files(tmp_path: Path, catalog) -> None:
    (tmp_path / "lengths.csv").write_text(
        "prompt_tokens,completion_tokens,share\n200,100,0.7\n3000,600,0.3\n"
    )
    (tmp_path / "w.yaml").write_text(
        """workloads:
  - name: chat-p99
    model: llama-3.1-8b
    prompt_tokens: 1040
    completion_tokens: 250
    ttft_ms: 2000
    tpot_ms: 50
    slo_stat: p99
    length_histogram: lengths.csv
    arrival_cv: 2.0
    prefix_cache_hit: 0.3
  - name: old-style
    model: llama-3.1-8b
    prompt_tokens: 1000
    completion_tokens: 300
    ttft_ms: 2000
    tpot_ms: 50
"""
    )
    wl = load_workloads(catalog, [tmp_path / "w.yaml"])
    new, old = wl["chat-p99"], wl["old-style"]
    assert new.stat == "p99" and new.length_buckets == [(200, 100, 0.7), (3000, 600, 0.3)]
    assert old.slo_stat is None and old.stat == "mean" and old.prompt_tokens_cv == 0
    t = serving.workload_traffic(new)
    assert t.histogram and t.arrival_cv == 2.0 and t.prefix_cache_hit == 0.3
    g = catalog.gpus["H100-SXM"]
    args = (
        catalog.models["llama-3.1-8b"],
        g,
        catalog.quantizations["fp8"],
        catalog.efficiency["hopper"],
        1,
    )
    a, b = replica_capacity(*args, new), replica_capacity(*args, old)
    assert a.feasible and b.feasible and a.stat == "p99" and b.stat == "mean"


def test_without_limits_the_offline_maximum_is_the_saturation_rate() -> None:
    """No TTFT/TPOT limit: the simulated answer is the largest rate the replica keeps up with,
    within the bisection's resolution of the step model's steady-state maximum."""
    (sim,) = run_json(*ROOF)["options"]
    (fast,) = run_json(*ROOF, "--capacity-model", "roofline")["options"]
    assert sim["capacity_model"] == "simulated" and fast["capacity_model"] == "roofline"
    assert sim["requests_per_s"] <= fast["requests_per_s"] * (1 + 1e-9)
    assert sim["requests_per_s"] >= 0.8 * fast["requests_per_s"]
