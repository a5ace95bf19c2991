"""The simple policies keep the procurement policy's rules, as the plan must: a policy that
breaks one could cost less than the plan's proven bound, which the plan then dropped (no
bound, no gap, status "feasible", and a "Please report it" warning on an optimal plan)."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.pipeline import solve_plan
from advisor.policy import Policy
from tests.adversarial.helpers import write

CATALOG = """\
defaults: {self_host_monthly_overhead_usd: 0, source: t, as_of: 2026-11-01}
offers:
  - {provider: peer, instance: a1, gpu: L4, gpus_per_instance: 1, tier: on_demand,
     usd_per_hour: 1.0, source: t, as_of: 2026-11-01}
  - {provider: peer, instance: b1, gpu: L40S, gpus_per_instance: 1, tier: on_demand,
     usd_per_hour: 2.0, source: t, as_of: 2026-11-01}
"""
WORKLOADS = """\
workloads:
  - {name: a, model: llama-3.1-8b, prompt_tokens: 1000, completion_tokens: 300, ttft_ms: 2000,
     tpot_ms: 50, slo_stat: p99, quantizations: [fp8], allow_api: false, headroom: 0}
  - {name: b, model: llama-3.1-8b, prompt_tokens: 2000, completion_tokens: 500, ttft_ms: 2000,
     tpot_ms: 50, slo_stat: p99, quantizations: [fp8], allow_api: false, headroom: 0}
"""
# workload a: 1 request/s on either GPU (L4 cheaper); b: 0.1 on L4, 2.5 on L40S (L40S cheaper)
CAPACITY = """\
model,gpu,quant,tp,prompt_tokens,completion_tokens,tpot_ms,ttft_ms,requests_per_s
llama-3.1-8b,L4,fp8,1,1000,300,50,2000,1.0
llama-3.1-8b,L40S,fp8,1,1000,300,50,2000,1.0
llama-3.1-8b,L4,fp8,1,2000,500,50,2000,0.1
llama-3.1-8b,L40S,fp8,1,2000,500,50,2000,2.5
"""
DEMAND = "hour,workload,requests\n2026-01-05T00:00:00Z,a,3600\n2026-01-05T00:00:00Z,b,9000\n"


@pytest.mark.parametrize(("max_gpu_types", "on_demand_usd"), [(1, 4.0), (2, 3.0)])
def test_baselines_keep_the_limit_on_gpu_types(
    tmp_path: Path, max_gpu_types: int, on_demand_usd: float
) -> None:
    """One GPU type allowed: a on L4 ($1) and b on L40S ($2) is $3 but two types; the plan's
    optimum, and the simple policy's, is both on L40S, $4. Before, the policy cost $3 and
    the plan's proven $4 lost its bound and gap."""
    write(tmp_path / "cat" / "peer.yaml", CATALOG)
    plan = solve_plan(
        write(tmp_path / "d.csv", DEMAND),
        workloads_files=[write(tmp_path / "wl.yaml", WORKLOADS)],
        catalog_dirs=[tmp_path / "cat"],
        capacity_file=write(tmp_path / "cap.csv", CAPACITY),
        prices="seeds",
        providers=["peer"],
        policy=Policy(max_gpu_types=max_gpu_types),
        capacity_model="roofline",
        time_limit_s=30,
    )
    policy = plan.data["baselines"]["on_demand_hourly"]
    assert policy["total_cost_usd"] == pytest.approx(on_demand_usd)
    assert plan.total_cost_usd == pytest.approx(on_demand_usd)
    assert plan.data["gap"] == pytest.approx(0.0, abs=1e-6)
    assert not any("Please report" in w for w in plan.data["warnings"]), plan.data["warnings"]
    if max_gpu_types == 1:
        assert "on L40S (at most 1 GPU type)" in policy["note"]


RESERVE_CATALOG = """\
defaults: {self_host_monthly_overhead_usd: 0, source: t, as_of: 2026-11-01}
offers:
  - {provider: peer, instance: r1, gpu: L4, gpus_per_instance: 1, tier: reserved_1y,
     usd_per_hour: 0.5, source: t, as_of: 2026-11-01}
  - {provider: peer, instance: r1, gpu: L4, gpus_per_instance: 1, tier: on_demand,
     usd_per_hour: 0.4, source: t, as_of: 2026-11-01}
"""
RESERVE_WORKLOADS = """\
workloads:
  - {name: a, model: llama-3.1-8b, prompt_tokens: 1000, completion_tokens: 300, ttft_ms: 2000,
     tpot_ms: 50, slo_stat: p99, quantizations: [fp8], allow_api: false, headroom: 0}
"""
# 1 request/s per L4 replica: 3 replicas in the peak hour, 1 in the other
RESERVE_DEMAND = (
    "hour,workload,requests\n2026-01-05T00:00:00Z,a,10800\n2026-01-05T01:00:00Z,a,3600\n"
)


def test_reserving_policies_reserve_where_renting_is_cheaper(tmp_path: Path) -> None:
    """On-demand L4 ($0.40) undercuts its reservation ($0.50), so the plan never reserves and
    the option set leaves the reservation out. The simple policies that reserve must still
    reserve: 3 L4 for the peak over 2 hours ($3.00); 1 for the trough ($1.00) and 2 rented
    for the peak hour ($0.80). Before, they found no reservation to make and read "not
    applicable" (with an API, they sent every request there under the note "reserved for
    each workload's peak hour"; mixed_week's 70B reserved eight-L4 instances, $162k)."""
    write(tmp_path / "cat" / "peer.yaml", RESERVE_CATALOG)
    plan = solve_plan(
        write(tmp_path / "d.csv", RESERVE_DEMAND),
        workloads_files=[write(tmp_path / "wl.yaml", RESERVE_WORKLOADS)],
        catalog_dirs=[tmp_path / "cat"],
        capacity_file=write(tmp_path / "cap.csv", "\n".join(CAPACITY.splitlines()[:2]) + "\n"),
        prices="seeds",
        providers=["peer"],
        capacity_model="roofline",
        time_limit_s=30,
    )
    base = plan.data["baselines"]
    assert base["reserved_peak"]["total_cost_usd"] == pytest.approx(3.0)
    assert base["reserved_baseline_api_burst"]["total_cost_usd"] == pytest.approx(1.8)
    assert plan.total_cost_usd == pytest.approx(1.6)  # 3 + 1 L4-hours on demand


def test_a_policy_with_no_reserved_tier_has_no_reserving_policy() -> None:
    """With --tiers on_demand,spot,api no workload has a reserved option: the reserving
    policies sent every request to the API and read as all_api's cost under the notes
    "reserved for each workload's peak hour" and "reserved for the trough" (high_steady,
    seeds: $13,924.10 three times). They are not applicable, and say why."""
    demand = Path(__file__).resolve().parents[1] / "demand" / "low_volume.csv"
    plan = solve_plan(
        demand,
        prices="seeds",
        policy=Policy(tiers=("on_demand", "spot", "api")),
        capacity_model="roofline",
        time_limit_s=30,
    )
    base = plan.data["baselines"]
    assert base["all_api"]["total_cost_usd"] is not None
    for name in ("reserved_peak", "reserved_baseline_api_burst"):
        assert base[name]["total_cost_usd"] is None, base[name]
        assert base[name]["note"] == "not applicable: no reserved option for any workload"
    assert base["on_demand_hourly"]["total_cost_usd"] is not None


def test_policies_use_the_existing_commitments_first(tmp_path: Path) -> None:
    """Two L4s already owned ($0.10/h each): every policy serves what it can on them and
    applies its rule to the rest (hour 0: 1 replica beyond them; hour 1: none). Before, the
    policies paid for the commitments and bought as if they had none: reserved_peak
    reserved 3 L4s ($3.40 with the commitments' $0.40), on_demand_hourly rented 4 L4-hours
    ($2.00); spiky_diurnal (seeds) with 200 committed H100s, 4.5% used, had reserved_peak
    buy $2,931.60 more and the plan claim a 4.1% saving."""
    write(tmp_path / "cat" / "peer.yaml", RESERVE_CATALOG)
    fleet = write(
        tmp_path / "fleet.yaml",
        "commitments:\n  - {gpu: L4, count: 2, tier: owned, usd_per_hour: 0.1}\n",
    )
    plan = solve_plan(
        write(tmp_path / "d.csv", RESERVE_DEMAND),
        workloads_files=[write(tmp_path / "wl.yaml", RESERVE_WORKLOADS)],
        catalog_dirs=[tmp_path / "cat"],
        capacity_file=write(tmp_path / "cap.csv", "\n".join(CAPACITY.splitlines()[:2]) + "\n"),
        fleet_file=fleet,
        prices="seeds",
        providers=["peer"],
        capacity_model="roofline",
        time_limit_s=30,
    )
    assert plan.verified, plan.data["verification"]
    base = plan.data["baselines"]
    assert base["on_demand_hourly"]["total_cost_usd"] == pytest.approx(0.8)
    assert base["reserved_peak"]["total_cost_usd"] == pytest.approx(1.4)
    assert base["reserved_peak"]["note"].startswith("the existing commitments first, then")
    # the trough beyond the commitments is no demand: the seeds' rule still keeps a replica
    assert base["reserved_baseline_api_burst"]["total_cost_usd"] == pytest.approx(1.4)
    assert base["all_api"]["total_cost_usd"] is None  # no API, and demand beyond them
    assert plan.total_cost_usd == pytest.approx(0.8)


def test_policies_keep_the_api_rate_limit(tmp_path: Path) -> None:
    """An API whose rate limit is below an hour's tokens cannot take every request: all_api
    priced them all regardless and could read below the plan, which must keep the limit."""
    demand = Path(__file__).resolve().parents[1] / "demand" / "low_volume.csv"
    free = solve_plan(demand, prices="seeds", capacity_model="roofline", time_limit_s=30)
    (w,) = free.data["workloads"]
    entry = free.data["workloads"][w]
    usd_in, usd_out = entry["api_usd_per_m_input_tokens"], entry["api_usd_per_m_output_tokens"]
    write(
        tmp_path / "cat" / "apis.yaml",
        f"apis:\n  - {{model: {entry['model']}, provider: {entry['api_provider']},\n"
        f"     usd_per_m_input_tokens: {usd_in}, usd_per_m_output_tokens: {usd_out},\n"
        "     max_tokens_per_minute: 10, source: test, as_of: 2026-11-01}\n",
    )
    plan = solve_plan(
        demand,
        catalog_dirs=[tmp_path / "cat"],
        prices="seeds",
        capacity_model="roofline",
        time_limit_s=30,
    )
    assert free.data["baselines"]["all_api"]["total_cost_usd"] is not None
    note = plan.data["baselines"]["all_api"]["note"]
    assert plan.data["baselines"]["all_api"]["total_cost_usd"] is None, note
    assert "API rate limit (10 tokens/minute) is exceeded in" in note, note
