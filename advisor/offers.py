"""What is on offer: every offer of a catalog as a planner reads it (``advisor offers``).

One row per offer (provider, instance type, region, tier): its GPUs, price per
instance-hour and per GPU-hour, and where the price comes from and when. Given a model, each
row also carries the model's cost per million output tokens at its best deployment on that
instance: the quantization and TP degree (a TP group inside one instance, replicas filling
it) with the most output tokens per second per instance, at the given lengths and SLOs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from advisor.catalog import Catalog
from advisor.options import TP_DEGREES, catalog_pools, tp_fits
from advisor.roofline import replica_performance
from advisor.units import SECONDS_PER_HOUR, TOKENS_PER_M


def offer_rows(
    catalog: Catalog,
    *,
    providers: Sequence[str] | None = None,
    gpus: Sequence[str] | None = None,
    model: str | None = None,
    input_tokens: float = 1000.0,
    output_tokens: float = 300.0,
    tpot_ms: float | None = None,
    ttft_ms: float | None = None,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Every offer (from ``providers``, of ``gpus``), cheapest per GPU-hour first.

    Keys: ``provider, instance, region, gpu, gpus_per_instance, interconnect, tier,
    usd_per_hour`` [USD/instance-hour], ``usd_per_gpu_hour``, ``upfront_usd, term_months,
    max_instances, source, as_of, age_days``; with ``model`` also ``deployment`` (quant,
    TP, replicas per instance) and ``usd_per_m_output_tokens`` [USD/M] at full load (None
    where the model does not fit or meet the SLOs).
    """
    today = today or dt.date.today()
    pools = catalog_pools(catalog)
    m = catalog.model(model) if model else None
    best_cache: dict[tuple[str, int, bool], tuple[float, str] | None] = {}
    rows = []
    for (pool_key, tier), o in sorted(catalog.offers.items()):
        if providers is not None and o.provider not in providers:
            continue
        if gpus is not None and o.gpu not in gpus:
            continue
        pool = pools[pool_key]
        row: dict[str, Any] = {
            "provider": o.provider,
            "instance": o.instance or o.gpu,
            "region": o.region,
            "gpu": o.gpu,
            "gpus_per_instance": o.gpus_per_instance,
            "interconnect": o.interconnect or catalog.gpu(o.gpu).interconnect,
            "tier": tier,
            "usd_per_hour": o.effective_usd_per_hour,
            "usd_per_gpu_hour": o.usd_per_gpu_hour,
            "upfront_usd": o.upfront_usd,
            "term_months": o.term_months,
            "max_instances": o.cap_instances,
            "source": o.source,
            "as_of": o.as_of.isoformat(),
            "age_days": (today - o.as_of).days,
        }
        if m is not None:
            key = (o.gpu, o.gpus_per_instance, pool.per_gpu)
            if key not in best_cache:
                best_cache[key] = _best_rate(
                    catalog, m.name, pool, input_tokens, output_tokens, tpot_ms, ttft_ms
                )
            best = best_cache[key]
            row["deployment"] = best[1] if best else None
            row["usd_per_m_output_tokens"] = (
                o.effective_usd_per_hour / (best[0] * SECONDS_PER_HOUR) * TOKENS_PER_M
                if best
                else None
            )
        rows.append(row)
    rows.sort(key=lambda r: (r["usd_per_gpu_hour"], r["provider"], r["instance"], r["tier"]))
    return rows


def _best_rate(
    catalog: Catalog,
    model: str,
    pool: Any,
    input_tokens: float,
    output_tokens: float,
    tpot_ms: float | None,
    ttft_ms: float | None,
) -> tuple[float, str] | None:
    """The most output tokens/s one instance of ``pool`` serves, and how (quant, TP, replicas
    per instance); per GPU-unit for a per-GPU offer."""
    m = catalog.model(model)
    gpu = catalog.gpu(pool.gpu)
    eff = catalog.efficiency_for(gpu)
    best: tuple[float, str] | None = None
    for qname in sorted(catalog.quantizations):
        q = catalog.quant(qname)
        if not catalog.supports(gpu, q):
            continue
        for tp in TP_DEGREES:
            if not tp_fits(pool, tp, gpu.max_tp):
                continue
            p = replica_performance(
                m, gpu, q, eff, tp, input_tokens, output_tokens, tpot_ms, ttft_ms
            )
            if not p.feasible or p.output_tokens_per_s <= 0:
                continue
            if pool.per_gpu:
                rate, how = p.output_tokens_per_s / tp, f"{qname} tp{tp} (per GPU)"
            else:
                n = pool.gpus_per_instance // tp
                rate, how = p.output_tokens_per_s * n, f"{qname} tp{tp} ×{n}"
            if best is None or rate > best[0]:
                best = (rate, how)
    return best
