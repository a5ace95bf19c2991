"""The catalog: GPUs, efficiency factors, model architectures, quantizations, prices, APIs.

The catalog is a folder of YAML files. Each file is a mapping from a section name to a list
of entries (``defaults`` is a single mapping)::

    gpus:           GPU datasheets (dense TFLOP/s per dtype, HBM, bandwidth, interconnect)
    efficiency:     MBU/MFU and overheads per GPU family (calibrated; see ``advisor validate``)
    models:         LLM architectures (layers, heads, KV heads, parameters; MoE experts)
    quantizations:  bytes per weight and per KV element, the dtype they compute at
    offers:         procurement tiers per GPU (on-demand, reserved, spot, owned) with prices
    apis:           API offers per model ($/M input and output tokens)
    defaults:       fixed monthly self-hosting overhead, overhead multiplier

Every entry carries ``source`` and ``as_of``. A user catalog (``--catalog DIR``) has the same
shape; its entries are merged over the shipped ones by key (a GPU, model or quantization by
``name``, an offer by ``gpu`` and ``tier``, an API by ``model``, efficiency by ``family``), so
a file holding only ``{gpu: H100-SXM, tier: reserved_1y, usd_per_hour: 2.1, source: ...,
as_of: ...}`` changes one price and nothing else.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from advisor.errors import CatalogError, closest, did_you_mean
from advisor.units import HOURS_PER_TERM_MONTH, HOURS_PER_YEAR, PARAMS_PER_B

Tier = Literal["on_demand", "reserved_1y", "reserved_3y", "spot", "owned", "capacity_block"]
TIERS: tuple[str, ...] = (
    "on_demand",
    "reserved_1y",
    "reserved_3y",
    "spot",
    "owned",
    "capacity_block",
)
#: Tiers paid every hour of the horizon whether used or not: they form the reserved pool.
#: A capacity block (a fixed-size reservation for a fixed window) is treated as one that
#: covers the horizon.
POOL_TIERS: tuple[str, ...] = ("reserved_1y", "reserved_3y", "owned", "capacity_block")
#: Tiers rented hour by hour.
HOURLY_TIERS: tuple[str, ...] = ("on_demand", "spot")
DTYPES: tuple[str, ...] = ("bf16", "fp8", "int8", "fp4")
#: The provider of per-GPU offers that name no instance (the seeds' generic prices).
GENERIC_PROVIDER = "generic"
#: Interconnects an instance can give its GPUs for tensor parallelism.
INTERCONNECTS: tuple[str, ...] = ("nvlink", "pcie", "infinity_fabric")
#: Per-GPU all-reduce bandwidth of GPUs joined by PCIe only [GB/s]: the figure gpus.yaml
#: gives its PCIe Gen4 x16 cards (L4, L40S), used for a GPU with a faster link of its own
#: when an instance joins its GPUs by PCIe (e.g. A100 80GB PCIe instances).
PCIE_GB_PER_S = 64.0
#: Latency of one all-reduce ring step over PCIe [us]: NCCL's hwLat for PCI, Ring/LL protocol
#: (NVIDIA/nccl src/graph/tuning.cc), the figure gpus.yaml gives L4 and L40S.
PCIE_HOP_LATENCY_US = 1.0

#: Largest magnitude of any number in a catalog, workloads or fleet file: far above any real
#: figure, far below where products of a few of them overflow a float.
MAX_NUMBER = 1e15
#: Characters no name or note may hold: C0 controls but tab and newline, DEL, C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is a number (``float``, ``int``, or either or ``None``)."""
    if annotation in (int, float):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(a in (int, float) for a in typing.get_args(annotation))
    return False


def strict_number(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """Refuse what is not a number where a number belongs: ``true`` is not $1/h, ``"3"`` is
    not 3 (YAML reads ``1e-3`` as a number here; quotes make text); numbers beyond
    ``MAX_NUMBER``, which only a units slip or a typo produces; and control characters
    (terminal escape sequences) in any text."""
    if isinstance(value, str) and _CONTROL.search(value):
        ch = _CONTROL.search(value).group()  # type: ignore[union-attr]
        raise ValueError(
            f"contains the control character {ch!r}; names and notes are plain text (a "
            "terminal would run it as a command). Remove it"
        )
    field = model.model_fields.get(info.field_name or "")
    if field is None or not _numeric(field.annotation):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a yes/no value, not a number; write a number")
    if isinstance(value, str):
        raise ValueError(f"'{value}' is text, not a valid number; write the number without quotes")
    if isinstance(value, int | float) and math.isfinite(value) and abs(value) > MAX_NUMBER:
        raise ValueError(f"{value:g} is above the limit of {MAX_NUMBER:.0e}; check the units")
    return value


class Sourced(BaseModel):
    """Fields every catalog entry has: where its numbers come from and when."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    source: str = Field(min_length=1, description="URL or document the numbers come from")
    as_of: dt.date = Field(description="date the numbers were read or published")
    notes: str = ""

    @field_validator("*", mode="before")
    @classmethod
    def _strict_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return strict_number(cls, value, info)

    @field_validator("source")
    @classmethod
    def _named_source(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank; give the URL or document the numbers come from")
        return value

    @field_validator("as_of")
    @classmethod
    def _not_in_the_future(cls, value: dt.date) -> dt.date:
        # a day's slack: the date where the numbers were read may be ahead of UTC
        if value > dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1):
            raise ValueError(
                f"{value} is in the future; give the date the numbers were read or published"
            )
        return value


class GPU(Sourced):
    """One accelerator's datasheet (dense figures, per GPU)."""

    name: str
    vendor: str
    family: str = Field(description="efficiency family key, e.g. hopper")
    hbm_gb: float = Field(gt=0, description="device memory the driver reports [GB = 1e9 bytes]")
    hbm_tb_per_s: float = Field(gt=0, description="memory bandwidth [TB/s]")
    peak_tflops: dict[str, float] = Field(description="dense peak [TFLOP/s or TOP/s] per dtype")
    interconnect: str
    interconnect_gb_per_s: float = Field(
        gt=0, description="per-GPU bandwidth for tensor-parallel all-reduce [GB/s]"
    )
    max_tp: int = Field(ge=1, le=64, description="largest tensor-parallel group (GPUs per node)")
    tdp_w: float | None = Field(default=None, gt=0)
    tp_link: Literal["nvlink", "pcie", "xgmi"] | None = Field(
        default=None, description="the link tensor-parallel all-reduces run over"
    )
    tp_link_gb_per_s: float | None = Field(
        default=None,
        gt=0,
        description="per-GPU link bandwidth in ONE direction for all-reduce [GB/s]; "
        "default: interconnect_gb_per_s / 2 (datasheets quote both directions)",
    )
    tp_link_latency_us: float | None = Field(
        default=None,
        ge=0,
        description="latency of one ring step (one hop) of an all-reduce [us]; default 1.0",
    )

    @property
    def link_bytes_per_s(self) -> float:
        """One-direction per-GPU all-reduce bandwidth [B/s]."""
        gb = self.tp_link_gb_per_s or self.interconnect_gb_per_s / 2.0
        return gb * 1e9

    @property
    def link_hop_latency_s(self) -> float:
        """Latency of one ring step of an all-reduce [s]."""
        us = 1.0 if self.tp_link_latency_us is None else self.tp_link_latency_us
        return us * 1e-6

    @property
    def has_fp8(self) -> bool:
        """Whether the GPU computes in fp8 (Hopper, Ada, Blackwell, CDNA3): an fp8 KV cache."""
        return "fp8" in self.peak_tflops

    @model_validator(mode="after")
    def _check_dtypes(self) -> GPU:
        for dtype, value in self.peak_tflops.items():
            if dtype not in DTYPES:
                raise ValueError(
                    f"peak_tflops has unknown dtype '{dtype}';"
                    f"{did_you_mean(dtype, DTYPES)} Valid dtypes: {', '.join(DTYPES)}."
                )
            if not value > 0:
                raise ValueError(f"peak_tflops.{dtype} must be > 0, got {value}")
        if "bf16" not in self.peak_tflops:
            raise ValueError("peak_tflops must include bf16")
        return self


class Efficiency(Sourced):
    """Realism factors for one GPU family (one set per family, no per-row constants)."""

    family: str
    mbu: float = Field(gt=0, le=1, description="model bandwidth utilization in decode")
    mfu: float = Field(gt=0, le=1, description="model FLOP utilization in prefill and decode")
    step_overhead_ms: float = Field(ge=0, description="scheduler/framework time per decode step")
    usable_hbm_fraction: float = Field(
        default=1.0, gt=0, le=1, description="share of device memory the engine may use"
    )
    reserved_gb: float = Field(
        default=0.0,
        ge=0,
        description="per-GPU memory held for activations, workspace, CUDA graphs and the "
        "runtime, not available to weights or KV cache [GB]",
    )
    step_combine: Literal["max", "sum"] = Field(
        default="max",
        description="how a step's memory time and compute time combine: 'max' (they overlap "
        "fully, the classic roofline) or 'sum' (they do not overlap: kernels run one after "
        "another and none sits on both roofs at once)",
    )
    max_batch: int = Field(ge=1, description="largest number of sequences a replica batches")
    max_num_batched_tokens: int = Field(
        default=8192, ge=1, description="engine's token budget per step (chunked prefill)"
    )
    kv_block_tokens: int = Field(default=16, ge=1, description="paged KV-cache block size")
    allreduce_latency_us: float = Field(
        ge=0, description="fixed launch cost of one TP all-reduce, before its ring steps [us]"
    )
    full_clock_gpu: str | None = Field(
        default=None,
        description="the family's full-power part: its board power per dense bf16 TFLOP/s "
        "is what a card needs to sustain its datasheet clocks (none: no power limit)",
    )
    full_clock_w_per_bf16_tflop: float | None = Field(
        default=None,
        gt=0,
        description="board power per dense bf16 TFLOP/s at which the family's parts sustain "
        "their datasheet clocks; a card with less is held to its TDP [W per TFLOP/s]; "
        "derived from full_clock_gpu where that is given (none: no power limit)",
    )


class ModelArch(Sourced):
    """A transformer's shape. MoE models give total and active parameters and expert counts."""

    name: str
    layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    q_heads: int = Field(ge=1)
    kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    params_b: float = Field(gt=0, description="total parameters [billions]")
    active_params_b: float | None = Field(
        default=None, gt=0, description="parameters used per token [billions]; MoE only"
    )
    experts: int = Field(default=1, ge=1)
    experts_per_token: int = Field(default=1, ge=1)
    max_context_tokens: int = Field(ge=1)

    @model_validator(mode="after")
    def _check_moe(self) -> ModelArch:
        if self.experts_per_token > self.experts:
            raise ValueError("experts_per_token cannot exceed experts")
        if self.active_params_b is not None and self.active_params_b > self.params_b:
            raise ValueError("active_params_b cannot exceed params_b")
        if self.experts > 1 and self.active_params_b is None:
            raise ValueError("an MoE model (experts > 1) needs active_params_b")
        if self.q_heads % self.kv_heads:
            raise ValueError(
                f"q_heads ({self.q_heads}) must be a multiple of kv_heads ({self.kv_heads}): "
                "each KV head serves a whole group of query heads"
            )
        return self

    @property
    def params(self) -> float:
        """Total parameters [count]."""
        return self.params_b * PARAMS_PER_B

    @property
    def active_params(self) -> float:
        """Parameters touched per token [count]."""
        return (self.active_params_b or self.params_b) * PARAMS_PER_B

    @property
    def is_moe(self) -> bool:
        return self.experts > 1


class Quantization(Sourced):
    """A numeric format for weights and KV cache, and the dtype its matmuls run at."""

    name: str
    weight_bytes_per_param: float = Field(gt=0)
    kv_bytes_per_element: float = Field(gt=0)
    compute_dtype: str = Field(description="which peak_tflops entry the math runs at")
    quality_note: str

    @model_validator(mode="after")
    def _check_dtype(self) -> Quantization:
        if self.compute_dtype not in DTYPES:
            raise ValueError(
                f"compute_dtype '{self.compute_dtype}' is unknown;"
                f"{did_you_mean(self.compute_dtype, DTYPES)}"
            )
        return self


#: the term of each reserved tier [months]: an offer's term_months, where given, must match
RESERVED_TERM_MONTHS = {"reserved_1y": 12.0, "reserved_3y": 36.0}


class Offer(Sourced):
    """A way to buy GPU capacity: an instance of a provider on one tier, and its price.

    An offer names ``provider``, ``instance`` (the provider's instance type), ``region``
    (optional) and ``gpus_per_instance``; its ``usd_per_hour`` is per *instance*-hour. An
    offer without ``instance`` is a per-GPU price (the seeds' generic figures): a single-GPU
    instance whose GPUs may still form tensor-parallel groups up to the GPU's ``max_tp``, as
    before. ``owned`` offers may give the purchase price, amortization and hourly
    power/operations instead of an hourly price; ``upfront_usd`` over ``term_months`` is
    added to the hourly price of a committed tier.
    """

    gpu: str
    tier: Tier
    provider: str = Field(default=GENERIC_PROVIDER, min_length=1)
    instance: str = Field(default="", description="instance type; empty for a per-GPU price")
    region: str = ""
    gpus_per_instance: int = Field(default=1, ge=1, le=64)
    interconnect: str | None = Field(
        default=None, description="GPU-to-GPU link within the instance; the GPU's own if unset"
    )
    usd_per_hour: float | None = Field(default=None, gt=0, description="[USD/instance-hour]")
    upfront_usd: float | None = Field(default=None, ge=0, description="per instance [USD]")
    term_months: float | None = Field(default=None, gt=0)
    purchase_usd: float | None = Field(default=None, gt=0)
    amortization_years: float | None = Field(default=None, gt=0)
    power_ops_usd_per_hour: float | None = Field(default=None, ge=0)
    interruption_rate_per_hour: float = Field(
        default=0.0, ge=0, lt=1, description="spot: expected fraction of capacity lost per hour"
    )
    max_gpus: int | None = Field(default=None, ge=0, description="availability cap [GPUs]")
    max_instances: int | None = Field(default=None, ge=0, description="availability cap")

    @model_validator(mode="after")
    def _check_price(self) -> Offer:
        if self.tier == "owned":
            if self.usd_per_hour is None and None in (
                self.purchase_usd,
                self.amortization_years,
                self.power_ops_usd_per_hour,
            ):
                raise ValueError(
                    "an owned offer needs usd_per_hour, or purchase_usd, amortization_years "
                    "and power_ops_usd_per_hour"
                )
        elif self.usd_per_hour is None:
            raise ValueError(f"a {self.tier} offer needs usd_per_hour")
        if self.tier != "spot" and self.interruption_rate_per_hour:
            raise ValueError("interruption_rate_per_hour applies to spot offers only")
        if not self.instance and self.gpus_per_instance != 1:
            raise ValueError(
                "gpus_per_instance needs an instance type; an offer without 'instance' is a "
                "price per GPU"
            )
        if self.upfront_usd is not None and self.term_months is None:
            raise ValueError("upfront_usd needs term_months (the term it is paid over)")
        months = RESERVED_TERM_MONTHS.get(self.tier)
        if months is not None and self.term_months not in (None, months):
            raise ValueError(
                f"a {self.tier} offer is a {months:g}-month commitment; got term_months "
                f"{self.term_months:g}. Leave term_months out, or use the tier of that term "
                "(reserved_1y, reserved_3y, or capacity_block for any other)"
            )
        if self.max_gpus is not None and self.max_instances is not None:
            raise ValueError("give max_instances or max_gpus, not both")
        if self.interconnect is not None and self.interconnect not in INTERCONNECTS:
            raise ValueError(
                f"unknown interconnect '{self.interconnect}'."
                f"{closest(self.interconnect, INTERCONNECTS)} "
                f"Valid: {', '.join(INTERCONNECTS)}"
            )
        return self

    @property
    def pool(self) -> str:
        """The key of the capacity this offer sells: the GPU type for generic per-GPU offers,
        else ``provider/instance[/region]`` (``GPU@provider[/region]`` without an instance)."""
        if not self.instance:
            if self.provider == GENERIC_PROVIDER and not self.region:
                return self.gpu
            return f"{self.gpu}@{self.provider}" + (f"/{self.region}" if self.region else "")
        return f"{self.provider}/{self.instance}" + (f"/{self.region}" if self.region else "")

    @property
    def per_gpu(self) -> bool:
        """A per-GPU price (no instance type): TP groups span GPUs up to the GPU's max_tp."""
        return not self.instance

    @property
    def cap_instances(self) -> int | None:
        """Availability cap [instances], or None."""
        if self.max_instances is not None:
            return self.max_instances
        if self.max_gpus is not None:
            return self.max_gpus // self.gpus_per_instance
        return None

    @property
    def effective_usd_per_hour(self) -> float:
        """Hourly price [USD/instance-hour]: owned hardware amortized plus power/operations;
        an upfront payment spread over its term."""
        if self.usd_per_hour is not None:
            price = self.usd_per_hour
        else:
            assert self.purchase_usd and self.amortization_years is not None
            hours = self.amortization_years * HOURS_PER_YEAR
            price = self.purchase_usd / hours + (self.power_ops_usd_per_hour or 0.0)
        if self.upfront_usd:
            assert self.term_months is not None
            price += self.upfront_usd / (self.term_months * HOURS_PER_TERM_MONTH)
        return price

    @property
    def usd_per_gpu_hour(self) -> float:
        """Hourly price per GPU [USD/GPU-hour]."""
        return self.effective_usd_per_hour / self.gpus_per_instance


class ApiOffer(Sourced):
    """A hosted API serving one catalog model."""

    model: str
    provider: str
    usd_per_m_input_tokens: float = Field(ge=0)
    usd_per_m_output_tokens: float = Field(ge=0)
    max_tokens_per_minute: float | None = Field(default=None, gt=0, description="rate limit")


#: the parts of a GPU type's capacity error, in the order a plan's line cites them: (field
#: prefix of its ``_runs``, ``_median_abs_error`` and ``_p90_abs_error``, label)
CAPACITY_ERROR_PARTS = (
    ("online", "at a latency limit"),
    ("online_tpot_at_load", "TPOT at a known load"),
    ("offline", "offline"),
    ("static_batch", "static batches"),
    ("closed_loop", "closed loops"),
)


class CapacityError(Sourced):
    """The serving model's error on the measured runs of one GPU type, as ``advisor
    validate --error-table`` writes it: what a plan cites beside each deployment's capacity.
    Errors are median and 90th percentile of |predicted / measured - 1| over the runs."""

    gpu: str = Field(min_length=1)
    family: str = Field(min_length=1)
    offline_runs: int = Field(ge=0, description="offline runs: maximum throughput")
    offline_median_abs_error: float | None = Field(default=None, ge=0)
    offline_p90_abs_error: float | None = Field(default=None, ge=0)
    online_runs: int = Field(ge=0, description="MLPerf Server/Interactive runs")
    online_median_abs_error: float | None = Field(
        default=None, ge=0, description="throughput at the run's measured latency"
    )
    online_p90_abs_error: float | None = Field(default=None, ge=0)
    online_tpot_at_load_runs: int = Field(
        default=0, ge=0, description="the same runs at their measured load: mean TPOT"
    )
    online_tpot_at_load_median_abs_error: float | None = Field(default=None, ge=0)
    online_tpot_at_load_p90_abs_error: float | None = Field(default=None, ge=0)
    static_batch_runs: int = Field(default=0, ge=0, description="static batches: their latency")
    static_batch_median_abs_error: float | None = Field(default=None, ge=0)
    static_batch_p90_abs_error: float | None = Field(default=None, ge=0)
    closed_loop_runs: int = Field(default=0, ge=0, description="closed loops: output tokens/s")
    closed_loop_median_abs_error: float | None = Field(default=None, ge=0)
    closed_loop_p90_abs_error: float | None = Field(default=None, ge=0)

    def measured(self) -> bool:
        """Whether any measured run of this GPU type checks the model."""
        return any(getattr(self, f"{key}_runs") for key, _ in CAPACITY_ERROR_PARTS)

    def summary(self) -> str:
        """One line a planner reads: the model's |error| on this GPU type's measured runs,
        median / p90 (runs), or that none checks it."""
        if not self.measured():
            return (
                f"no measured run of {self.gpu}: unvalidated (the {self.family} family's "
                "factors; see the README's 'What to trust')"
            )
        parts = []
        for key, label in CAPACITY_ERROR_PARTS:
            n = getattr(self, f"{key}_runs")
            if n:
                med = getattr(self, f"{key}_median_abs_error")
                p90 = getattr(self, f"{key}_p90_abs_error")
                parts.append(f"{label} {med:.0%} / {p90:.0%} ({n})")
        return f"{self.gpu}, |error| median / p90 (runs): " + "; ".join(parts)


def capacity_check(gpu: str, source: str, error: CapacityError | None) -> dict[str, Any]:
    """How far a deployment's capacity can be trusted, as a plan cites it: the user's own
    measurement (``source`` 'measured'), or the serving model's measured ``error`` on its GPU
    type (None: no error on record)."""
    if source == "measured":
        return {"basis": "measured", "summary": "your measured capacity (--capacity file)"}
    if error is None:
        return {"basis": "model", "summary": f"no error on record for {gpu}: unvalidated"}
    fields = error.model_dump(mode="json", exclude={"source", "as_of", "notes", "gpu"})
    return {"basis": "model", "summary": error.summary(), **fields}


class Defaults(Sourced):
    """Catalog-wide defaults from the seeds."""

    self_host_monthly_overhead_usd: float = Field(
        ge=0, description="fixed cost of running any self-hosted fleet [USD/month]"
    )
    overhead_multiplier: float = Field(ge=1, description="egress, logging, engineering time")


_SECTIONS: dict[str, tuple[type[Sourced], tuple[str, ...]]] = {
    "gpus": (GPU, ("name",)),
    "efficiency": (Efficiency, ("family",)),
    "models": (ModelArch, ("name",)),
    "quantizations": (Quantization, ("name",)),
    "offers": (Offer, ("gpu", "tier")),
    "apis": (ApiOffer, ("model",)),
    "capacity_error": (CapacityError, ("gpu",)),
}
#: Identifying fields an entry may leave out, with the value they take then.
_OPTIONAL_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "offers": (("provider", GENERIC_PROVIDER), ("instance", ""), ("region", "")),
    "apis": (("provider", ""),),
}


def _entry_key(section: str, entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """The merge key of an entry: its identifying fields (optional ones at their default)."""
    key = tuple(entry[k] for k in _SECTIONS[section][1])
    return key + tuple(entry.get(k, d) for k, d in _OPTIONAL_KEYS.get(section, ()))


@dataclass(frozen=True)
class Catalog:
    """The validated, merged catalog. Look-ups raise ``CatalogError`` with suggestions."""

    gpus: dict[str, GPU]
    efficiency: dict[str, Efficiency]
    models: dict[str, ModelArch]
    quantizations: dict[str, Quantization]
    offers: dict[tuple[str, str], Offer]
    apis: dict[str, ApiOffer]
    defaults: Defaults
    sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    #: every API offer per (model, provider); ``apis`` holds the cheapest per model
    api_offers: dict[tuple[str, str], ApiOffer] = field(default_factory=dict)
    #: the serving model's measured error per GPU type (``capacity_error.yaml``)
    capacity_error: dict[str, CapacityError] = field(default_factory=dict)

    def gpu(self, name: str) -> GPU:
        return _lookup(self.gpus, name, "GPU")

    def model(self, name: str) -> ModelArch:
        return _lookup(self.models, name, "model")

    def quant(self, name: str) -> Quantization:
        return _lookup(self.quantizations, name, "quantization")

    def gpu_on(self, name: str, interconnect: str | None) -> GPU:
        """The GPU ``name`` as an instance joins it: with ``interconnect: pcie`` its TP
        all-reduce runs at ``PCIE_GB_PER_S`` where its datasheet link is faster."""
        gpu = self.gpu(name)
        if interconnect == "pcie" and gpu.interconnect_gb_per_s > PCIE_GB_PER_S:
            # the all-reduce reads the one-way link figures (tp_link_*): PCIe's, as for L4/L40S
            return gpu.model_copy(
                update={
                    "interconnect_gb_per_s": PCIE_GB_PER_S,
                    "tp_link": "pcie",
                    "tp_link_gb_per_s": PCIE_GB_PER_S / 2.0,
                    "tp_link_latency_us": PCIE_HOP_LATENCY_US,
                }
            )
        return gpu

    def gpu_in_group(self, name: str, tp: int, interconnect: str | None = None) -> GPU:
        """The GPU ``name`` in a tensor-parallel group of ``tp`` on a host whose GPUs join by
        ``interconnect``: a group larger than the GPU's ``max_tp`` (its NVLink bridge or
        switch) runs its all-reduce ring over PCIe, its slowest hop, as a host with
        ``interconnect: pcie`` does (``gpu_on``)."""
        link = "pcie" if tp > self.gpu(name).max_tp else interconnect
        return self.gpu_on(name, link)

    def unit_price(self, pool: str, tier: str) -> float:
        """Price per pool unit-hour of the offer (``pool``, ``tier``) [USD]; on spot with its
        expected on-demand fallback: capacity lost to an interruption
        (``interruption_rate_per_hour`` of it, on average) is re-run on on-demand capacity of
        the same pool (its own price where the pool has none), so a spot unit-hour costs
        ``spot + rate × on_demand``. Raises ``KeyError`` for an offer not in the catalog."""
        offer = self.offers[(pool, tier)]
        price = offer.effective_usd_per_hour
        if tier == "spot":
            od = self.offers.get((pool, "on_demand"))
            fallback = od.effective_usd_per_hour if od else offer.effective_usd_per_hour
            price += offer.interruption_rate_per_hour * fallback
        return price

    def gpu_in_pool(self, name: str, pool: str | None) -> GPU:
        """The GPU ``name`` as the offers of ``pool`` (an offer pool key; None or the GPU's
        own name: the generic per-GPU pool) link it (``gpu_on``)."""
        link = next((o.interconnect for (p, _), o in self.offers.items() if p == pool), None)
        return self.gpu_on(name, link)

    def efficiency_for(self, gpu: GPU) -> Efficiency:
        return _lookup(self.efficiency, gpu.family, "efficiency family")

    def offers_for(self, gpu: str, tp: int = 1) -> dict[str, Offer]:
        """The cheapest offer per GPU-hour for one GPU type whose instances hold a TP-``tp``
        group (a per-GPU offer, or ``tp`` dividing the instance's GPUs), keyed by tier."""
        out: dict[str, Offer] = {}
        for (_, tier), o in sorted(self.offers.items()):
            holds = o.per_gpu or (tp <= o.gpus_per_instance and o.gpus_per_instance % tp == 0)
            if (
                o.gpu == gpu
                and holds
                and (tier not in out or o.usd_per_gpu_hour < out[tier].usd_per_gpu_hour)
            ):
                out[tier] = o
        return out

    def api_offer_for(
        self,
        model: str,
        prompt_tokens: float,
        completion_tokens: float,
        providers: Iterable[str] | None = None,
    ) -> ApiOffer | None:
        """The cheapest API offer for a request of these mean lengths among ``providers``
        (all when None); ties go to the provider named first alphabetically."""
        allowed = None if providers is None else set(providers)
        best, best_cost = None, math.inf
        for (m, p), a in sorted(self.api_offers.items()):
            if m != model or (allowed is not None and p not in allowed):
                continue
            cost = (
                prompt_tokens * a.usd_per_m_input_tokens
                + completion_tokens * a.usd_per_m_output_tokens
            )
            if cost < best_cost:
                best, best_cost = a, cost
        return best

    def supports(self, gpu: GPU, quant: Quantization) -> bool:
        """Whether ``gpu`` has a peak for the dtype ``quant`` computes at."""
        return quant.compute_dtype in gpu.peak_tflops

    def scaled(self, tier_multipliers: Mapping[str, float]) -> Catalog:
        """Return a copy with prices multiplied per tier (keys: tiers and ``api``)."""
        offers = {}
        for key, offer in self.offers.items():
            k = tier_multipliers.get(offer.tier, 1.0)
            offers[key] = offer.model_copy(
                update={"usd_per_hour": offer.effective_usd_per_hour * k, "upfront_usd": None}
            )
        k_api = tier_multipliers.get("api", 1.0)
        api_offers = {
            key: a.model_copy(
                update={
                    "usd_per_m_input_tokens": a.usd_per_m_input_tokens * k_api,
                    "usd_per_m_output_tokens": a.usd_per_m_output_tokens * k_api,
                }
            )
            for key, a in self.api_offers.items()
        }
        apis = _cheapest_apis(api_offers)
        k_over = tier_multipliers.get("overhead", 1.0)
        defaults = self.defaults.model_copy(
            update={
                "self_host_monthly_overhead_usd": self.defaults.self_host_monthly_overhead_usd
                * k_over
            }
        )
        return Catalog(
            gpus=self.gpus,
            efficiency=self.efficiency,
            models=self.models,
            quantizations=self.quantizations,
            offers=offers,
            apis=apis,
            defaults=defaults,
            sources=self.sources,
            warnings=self.warnings,
            api_offers=api_offers,
        )


def _lookup(table: Mapping[str, Any], name: str, what: str) -> Any:
    try:
        return table[name]
    except KeyError:
        raise CatalogError(
            f"Unknown {what} '{name}'.{did_you_mean(name, table)} "
            f"Add it to a catalog folder passed with --catalog, or use a listed name."
        ) from None


def shipped_catalog_dir() -> Path:
    """The folder of the catalog that ships with the package."""
    return Path(str(resources.files("advisor.catalogs")))


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter: a mapping with a key twice is an error (not the last
    one silently winning), and ``1e-3`` is a number as in YAML 1.2 (YAML 1.1 reads text)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged from an anchor may be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                seen = key in first
            except TypeError:  # an unhashable key: SafeLoader reports it
                continue
            if seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"the key '{key}' appears twice (first on line {first[key] + 1}); keep one",
                    key_node.start_mark,
                )
            first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogError(
            f"{path}: the file is not UTF-8 text. Save it as UTF-8 and try again."
        ) from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot be read ({exc.strerror}).") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects
    except RecursionError:
        raise CatalogError(
            f"{path}: the YAML nests too deeply for a catalog, workloads or fleet file (they "
            "nest a few levels: section, list, entry). Fix the file."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError(
            f"{path}: YAML syntax error{where}: {problem}. Fix the YAML (indentation, "
            f"colons, quotes) and try again."
        ) from None
    except ValueError as exc:  # a scalar read as a date/time that does not exist
        line = _bad_timestamp_line(text)
        where = f" at line {line}" if line else ""
        raise CatalogError(
            f"{path}: invalid date or time{where}: {exc}. Write a real date as YYYY-MM-DD "
            "(e.g. 2026-11-01), or quote the value to keep it as text."
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError(
            f"{path}: expected a mapping of sections ({', '.join([*_SECTIONS, 'defaults'])}) "
            f"at the top level, got {type(data).__name__}."
        )
    return data


def _bad_timestamp_line(text: str) -> int | None:
    """The line of the first date/time scalar YAML cannot construct (e.g. 2026-02-30)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    constructor = yaml.constructor.SafeConstructor()
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif node.tag == "tag:yaml.org,2002:timestamp":
            try:
                constructor.construct_yaml_timestamp(node)
            except ValueError:
                return node.start_mark.line + 1
    return None


def entry_label(section: str, entry: Mapping[str, Any], index: int) -> str:
    keys = _SECTIONS[section][1]
    if section == "offers" and entry.get("instance") and "tier" in entry:
        parts = [entry.get("provider", GENERIC_PROVIDER), entry["instance"]]
        parts += [entry["region"]] if entry.get("region") else []
        return f"offers[{'/'.join(str(p) for p in [*parts, entry['tier']])}]"
    if all(k in entry for k in keys):
        return f"{section}[{'/'.join(str(entry[k]) for k in keys)}]"
    return f"{section}[#{index + 1}]"


def format_validation(
    path: Path,
    label: str,
    exc: ValidationError,
    model: type,
    columns: Mapping[str, str] | None = None,
) -> str:
    """``FILE: LABEL: field 'x': message.`` for each problem; ``column 'c'`` instead where
    ``columns`` (a price sheet's, field to column) names the column that gave the field."""
    problems = []
    fields = list(model.model_fields)
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown field.{did_you_mean(str(err['loc'][0]), fields)}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        column = (columns or {}).get(str(err["loc"][0])) if err["loc"] else None
        problems.append(f"column '{column}': {msg}" if column else f"field '{loc}': {msg}")
    return f"{path}: {label}: " + "; ".join(problems) + "."


#: Price profiles shipped with the package: a name and the files that hold it.
PRICE_PROFILES: dict[str, str] = {
    "snapshot": "sourced public list prices (catalogs/prices/snapshot.csv, apis.csv)",
    "seeds": "the seed documents' illustrative figures (catalogs/prices/seeds/)",
}
DEFAULT_PRICES = "snapshot"
#: Environment variable naming the price profile used when a command gives no --prices.
PRICES_ENV = "ADVISOR_PRICES"


def default_prices() -> str:
    """The price profile used when none is named: ``$ADVISOR_PRICES``, else the shipped
    default (``DEFAULT_PRICES``)."""
    return os.environ.get(PRICES_ENV) or DEFAULT_PRICES


#: Expected fraction of spot capacity lost per hour where a snapshot row gives none: the seeds'
#: one rule for every spot offer (0.10 a 720-hour month, the upper edge of AWS Spot Instance
#: Advisor's 5-10% band; see catalogs/prices/seeds/offers.yaml).
SNAPSHOT_SPOT_INTERRUPTION_PER_HOUR = 0.000139


def _profile_documents(prices: str) -> list[tuple[Path, dict[str, Any]]]:
    """The (file, sections) documents of a shipped price profile."""
    if prices not in PRICE_PROFILES:
        raise CatalogError(
            f"Unknown price profile '{prices}'.{did_you_mean(prices, PRICE_PROFILES)} "
            f"Profiles: {', '.join(f'{k} ({v})' for k, v in PRICE_PROFILES.items())}."
        )
    folder = shipped_catalog_dir() / "prices"
    if prices == "seeds":
        files = sorted((folder / "seeds").glob("*.yaml"))
        return [(f, read_yaml(f)) for f in files]
    from advisor.prices import read_api_sheet, read_offer_sheet

    offers = read_offer_sheet(folder / "snapshot.csv")
    for o in offers:
        if o["tier"] == "spot":
            o.setdefault("interruption_rate_per_hour", SNAPSHOT_SPOT_INTERRUPTION_PER_HOUR)
    docs = [(folder / "snapshot.csv", {"offers": offers})]
    if (folder / "apis.csv").exists():
        docs.append((folder / "apis.csv", {"apis": read_api_sheet(folder / "apis.csv")}))
    return docs


#: Merged catalog entries: section -> entry key -> (fields, the file that last set them).
_RawSections = dict[str, dict[tuple[Any, ...], tuple[dict[str, Any], Path]]]


def load_catalog(
    extra_dirs: Iterable[Path | str] = (),
    *,
    base: Path | None = None,
    prices: str | None = None,
) -> Catalog:
    """Load the shipped catalog and a price profile, then merge each folder in ``extra_dirs``.

    Parameters
    ----------
    extra_dirs
        User catalog folders (``--catalog DIR``); later ones win.
    base
        The base folder; the shipped catalog when omitted (a base folder holding its own
        ``offers`` loads no price profile unless ``prices`` names one).
    prices
        The shipped price profile (``snapshot`` or ``seeds``); ``default_prices()`` when None.
    """
    base_dir = base or shipped_catalog_dir()
    dirs = [base_dir, *[Path(d) for d in extra_dirs]]
    profile: list[tuple[Path, dict[str, Any]]] = []
    if base is None or prices is not None:
        profile = _profile_documents(prices or default_prices())
    raw: _RawSections = {s: {} for s in _SECTIONS}
    defaults_raw: dict[str, Any] = {}
    defaults_path: Path | None = None
    sources: list[str] = []
    for i, d in enumerate(dirs):
        files = _folder_files(d, is_base=i == 0)
        sources.append(str(d))
        documents = [(path, read_yaml(path)) for path in files]
        if i == 0:
            documents += profile
        folder_defaults = _merge_folder(d, files, documents, raw, defaults_raw, layered=i > 0)
        if folder_defaults is not None:
            defaults_path = folder_defaults
    return _validate(raw, defaults_raw, defaults_path, tuple(sources))


def _folder_files(d: Path, *, is_base: bool) -> list[Path]:
    """The YAML files of catalog folder ``d``, checking it exists (and, unless it is the
    base folder, holds some)."""
    if not d.exists():
        raise CatalogError(f"Catalog folder '{d}' does not exist. Check the --catalog path.")
    if not d.is_dir():
        raise CatalogError(f"--catalog expects a folder of YAML files; '{d}' is a file.")
    files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")])
    if not is_base and not files:
        raise CatalogError(f"Catalog folder '{d}' holds no .yaml files.")
    return files


def _merge_folder(
    d: Path,
    files: list[Path],
    documents: list[tuple[Path, dict[str, Any]]],
    raw: _RawSections,
    defaults_raw: dict[str, Any],
    *,
    layered: bool,
) -> Path | None:
    """Merge one folder's documents into ``raw`` and ``defaults_raw``; the last document
    that set ``defaults``, or None."""
    # one folder is one layer: the same entry in two of its files has no order to win by
    in_folder: dict[tuple[str, tuple[Any, ...]], Path] = {}
    defaults_in_folder: Path | None = None
    defaults_path: Path | None = None
    for path, data in documents:
        for section, entries in data.items():
            if section == "defaults":
                defaults_in_folder = _merge_defaults(
                    path, entries, d, files, defaults_in_folder, defaults_raw
                )
                defaults_path = path
                continue
            if section == "workloads":
                continue  # read by advisor.workloads
            _check_section(path, section, entries)
            _merge_entries(
                path,
                section,
                entries,
                raw[section],
                in_folder,
                in_files=path in files,
                layered=layered,
            )
    return defaults_path


def _merge_defaults(
    path: Path,
    entries: Any,
    d: Path,
    files: list[Path],
    defaults_in_folder: Path | None,
    defaults_raw: dict[str, Any],
) -> Path | None:
    """Merge a ``defaults`` mapping; the folder file that now holds defaults, or None."""
    if not isinstance(entries, dict):
        raise CatalogError(f"{path}: 'defaults' must be a mapping.")
    if defaults_in_folder is not None and path in files:
        raise CatalogError(
            f"{path}: 'defaults' is also in {defaults_in_folder.name} of the "
            f"same folder '{d}'. Keep it in one file."
        )
    defaults_raw.update(entries)
    return path if path in files else defaults_in_folder


def _check_section(path: Path, section: Any, entries: Any) -> None:
    """Raise unless ``section`` is a known section holding a list."""
    if section not in _SECTIONS:
        raise CatalogError(
            f"{path}: unknown section '{section}'."
            f"{did_you_mean(str(section), [*_SECTIONS, 'defaults'])}"
        )
    if not isinstance(entries, list):
        raise CatalogError(f"{path}: section '{section}' must be a list of entries.")


def _merge_entries(
    path: Path,
    section: str,
    entries: list[Any],
    table: dict[tuple[Any, ...], tuple[dict[str, Any], Path]],
    in_folder: dict[tuple[str, tuple[Any, ...]], Path],
    *,
    in_files: bool,
    layered: bool,
) -> None:
    """Merge one file's entries of ``section`` into ``table`` (over a lower layer's when
    ``layered``), refusing an entry twice in the file or twice in its folder."""
    seen_here: set[tuple[Any, ...]] = set()
    for j, entry in enumerate(entries):
        label, key = _entry_identity(path, section, entry, j)
        if key in seen_here:
            ident = [*_SECTIONS[section][1], *(k for k, _ in _OPTIONAL_KEYS.get(section, ()))]
            raise CatalogError(
                f"{path}: {label} appears twice in this file. Remove one entry "
                f"or give it another {'/'.join(ident)}."
            )
        seen_here.add(key)
        other = in_folder.get((section, key)) if in_files else None
        if other is not None:
            raise CatalogError(
                f"{path}: {label} is also in {other} (the same folder). One folder "
                "is one layer of the catalog, so neither would win; keep one entry, "
                "or put the override in a second --catalog folder."
            )
        if in_files:
            in_folder[(section, key)] = path
        if section == "offers" and layered and key not in table and "usd_per_hour" not in entry:
            raise CatalogError(
                f"{path}: {label} matches no offer of the catalog below it and is not a whole "
                "offer (it has no usd_per_hour). To cap or exclude an offer, name its "
                "provider, instance and region as `advisor offers --gpu GPU` lists them; to "
                "leave out a tier, use a policy (--tiers)."
            )
        merged = {**table[key][0], **entry} if key in table and layered else dict(entry)
        table[key] = (merged, path)


def _entry_identity(path: Path, section: str, entry: Any, j: int) -> tuple[str, tuple[Any, ...]]:
    """The label and key of entry ``j`` of ``section``, checking its key fields are text."""
    keys = _SECTIONS[section][1]
    if not isinstance(entry, dict):
        raise CatalogError(f"{path}: {section}[#{j + 1}] must be a mapping of fields.")
    label = entry_label(section, entry, j)
    missing = [k for k in keys if k not in entry]
    if missing:
        raise CatalogError(
            f"{path}: {label}: field '{missing[0]}' is missing; every "
            f"{section} entry is identified by {', '.join(keys)}."
        )
    opt_keys = [k for k, _ in _OPTIONAL_KEYS.get(section, ()) if k in entry]
    not_text = [k for k in [*keys, *opt_keys] if not isinstance(entry[k], str)]
    if not_text:
        k = not_text[0]
        raise CatalogError(
            f"{path}: {section}[#{j + 1}]: field '{k}' must be a name (text), "
            f"got {type(entry[k]).__name__} {entry[k]!r}. Write it as plain "
            "text (quote it if YAML reads it as something else)."
        )
    return label, _entry_key(section, entry)


def _stale_derived_tiers(
    offers: Mapping[tuple[str, str], Offer], where: Mapping[tuple[str, Any], Path]
) -> list[str]:
    """Warnings for an on-demand price set in one folder while tiers derived from the shipped
    on-demand price (their ``source`` says "derived") keep the figure of another folder."""
    out = []
    for (gname, tier), od in sorted(offers.items()):
        if tier != "on_demand":
            continue
        od_dir = where[("offers", (gname, tier))].parent
        stale = [
            (t, o)
            for (g, t), o in sorted(offers.items())
            if g == gname
            and t != "on_demand"
            and "derived" in o.source.lower()
            and where[("offers", (g, t))].parent != od_dir
        ]
        if stale:
            listed = ", ".join(f"{t} ${o.effective_usd_per_hour:.2f}/h" for t, o in stale)
            out.append(
                f"offers[{gname}/on_demand] is set in {od_dir} (${od.effective_usd_per_hour:.2f}"
                f"/h), but {listed} keep figures derived from another on-demand price; set them "
                f"in {od_dir} too."
            )
    return out


def _validate(
    raw: _RawSections,
    defaults_raw: dict[str, Any],
    defaults_path: Path | None,
    sources: tuple[str, ...],
) -> Catalog:
    tables, where = _validated_tables(raw)
    defaults = _validated_defaults(defaults_raw, defaults_path)
    gpus, models = tables["gpus"], tables["models"]
    _check_families(gpus, tables["efficiency"], where)
    tables["efficiency"] = {
        f: _with_full_clock(e, gpus, where[("efficiency", f)])
        for f, e in tables["efficiency"].items()
    }
    shapes = _offer_shapes(tables["offers"], gpus, where)
    warn = _price_inversions(tables["offers"], sorted(shapes), where)
    warn += _stale_derived_tiers(tables["offers"], where)
    _check_api_models(tables["apis"], models, where)
    return Catalog(
        gpus=gpus,
        efficiency=tables["efficiency"],
        models=models,
        quantizations=tables["quantizations"],
        offers=tables["offers"],
        apis=_cheapest_apis(tables["apis"]),
        defaults=defaults,
        sources=sources,
        warnings=tuple(warn),
        api_offers=tables["apis"],
        capacity_error=tables["capacity_error"],
    )


def _validated_tables(
    raw: _RawSections,
) -> tuple[dict[str, dict[Any, Any]], dict[tuple[str, Any], Path]]:
    """Each section's entries validated into its model, by key; and the file of each."""
    tables: dict[str, dict[Any, Any]] = {}
    where: dict[tuple[str, Any], Path] = {}
    for section, (model, keys) in _SECTIONS.items():
        table: dict[Any, Any] = {}
        for key, (entry, path) in raw[section].items():
            label = entry_label(section, entry, 0)
            try:
                obj = model.model_validate(entry)
            except ValidationError as exc:
                raise CatalogError(format_validation(path, label, exc, model)) from None
            if section == "offers":
                k = (obj.pool, obj.tier)
                if k in table:
                    raise CatalogError(
                        f"{path}: {label}: another offer already sells {k[0]} on {k[1]}. "
                        "Give each offer its own provider/instance/region."
                    )
            elif section == "apis":
                k = (obj.model, obj.provider)
            else:
                k = key[0] if len(keys) == 1 else key
            table[k] = obj
            where[(section, k)] = path
        tables[section] = table
    return tables, where


def _validated_defaults(defaults_raw: dict[str, Any], defaults_path: Path | None) -> Defaults:
    """The merged ``defaults`` section, validated."""
    if defaults_path is None:
        raise CatalogError("The catalog has no 'defaults' section (monthly overhead, multiplier).")
    try:
        return Defaults.model_validate(defaults_raw)
    except ValidationError as exc:
        raise CatalogError(format_validation(defaults_path, "defaults", exc, Defaults)) from None


def _check_families(
    gpus: Mapping[str, GPU],
    efficiency: Mapping[str, Efficiency],
    where: Mapping[tuple[str, Any], Path],
) -> None:
    """Raise unless every GPU's family has an efficiency entry."""
    for g in gpus.values():
        if g.family not in efficiency:
            raise CatalogError(
                f"{where[('gpus', g.name)]}: gpus[{g.name}]: field 'family': no efficiency "
                f"entry for family '{g.family}'.{did_you_mean(g.family, efficiency)}"
            )


def _offer_shapes(
    offers: Mapping[tuple[str, str], Offer],
    gpus: Mapping[str, GPU],
    where: Mapping[tuple[str, Any], Path],
) -> dict[str, tuple[Offer, tuple[Any, ...]]]:
    """Each pool's first offer and its (gpu, gpus_per_instance, interconnect) shape, checking
    every offer names a known GPU and every offer of a pool has the same shape."""
    shapes: dict[str, tuple[Offer, tuple[Any, ...]]] = {}
    for key, o in offers.items():
        label = entry_label("offers", o.model_dump(), 0)
        if o.gpu not in gpus:
            raise CatalogError(
                f"{where[('offers', key)]}: {label}: field 'gpu': "
                f"unknown GPU '{o.gpu}'.{did_you_mean(o.gpu, gpus)}"
            )
        shape = (o.gpu, o.gpus_per_instance, o.interconnect)
        first = shapes.setdefault(o.pool, (o, shape))
        if first[1] != shape:
            raise CatalogError(
                f"{where[('offers', key)]}: {label}: gpu, gpus_per_instance and interconnect "
                f"differ from the {first[0].tier} offer of the same instance "
                f"({'/'.join(str(v) for v in first[1])}). One instance type has one shape."
            )
    return shapes


def _price_inversions(
    offers: Mapping[tuple[str, str], Offer],
    pools: list[str],
    where: Mapping[tuple[str, Any], Path],
) -> list[str]:
    """Warnings for a reserved or spot price above the same pool's on-demand price."""
    warn: list[str] = []
    for pool in pools:
        od = offers.get((pool, "on_demand"))
        for tier in ("reserved_1y", "reserved_3y", "spot"):
            other = offers.get((pool, tier))
            if od and other and other.effective_usd_per_hour > od.effective_usd_per_hour:
                label = entry_label("offers", other.model_dump(), 0)
                warn.append(
                    f"{label}: ${other.effective_usd_per_hour:.2f}/h is above "
                    f"on-demand ${od.effective_usd_per_hour:.2f}/h; check the price "
                    f"({where[('offers', (pool, tier))]})."
                )
    return warn


def _check_api_models(
    apis: Mapping[tuple[str, str], ApiOffer],
    models: Mapping[str, ModelArch],
    where: Mapping[tuple[str, Any], Path],
) -> None:
    """Raise unless every API offer names a known model."""
    for mname, provider in apis:
        if mname not in models:
            raise CatalogError(
                f"{where[('apis', (mname, provider))]}: apis[{mname}]: field 'model': unknown "
                f"model '{mname}'.{did_you_mean(mname, models)}"
            )


def _with_full_clock(eff: Efficiency, gpus: Mapping[str, GPU], path: Any) -> Efficiency:
    """``eff`` with its power reference derived from its ``full_clock_gpu`` (a GPU of the
    family with a TDP): that GPU's board power per dense bf16 TFLOP/s."""
    name = eff.full_clock_gpu
    if name is None:
        return eff
    g = gpus.get(name)
    if g is None or g.family != eff.family or g.tdp_w is None:
        why = (
            f"unknown GPU '{name}'.{did_you_mean(name, gpus)}"
            if g is None
            else f"{name} is not a {eff.family} GPU with a tdp_w"
        )
        raise CatalogError(f"{path}: efficiency[{eff.family}]: field 'full_clock_gpu': {why}")
    w_per_tflop = g.tdp_w / g.peak_tflops["bf16"]
    return eff.model_copy(update={"full_clock_w_per_bf16_tflop": w_per_tflop})


def _cheapest_apis(api_offers: Mapping[tuple[str, str], ApiOffer]) -> dict[str, ApiOffer]:
    """One API offer per model: the lowest input + output price (ties: provider name)."""
    best: dict[str, ApiOffer] = {}
    for (m, _), a in sorted(api_offers.items()):
        b = best.get(m)
        if b is None or (
            a.usd_per_m_input_tokens + a.usd_per_m_output_tokens
            < b.usd_per_m_input_tokens + b.usd_per_m_output_tokens
        ):
            best[m] = a
    return best
