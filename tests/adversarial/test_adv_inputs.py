"""Degenerate and hostile inputs through ``advisor solve``: each is a clean result (a verified
plan whose every number is finite, its bound never above its cost) or a clean error (exit 2,
one paragraph naming the file, the row or field, and the fix), never a traceback."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.helpers import (
    API_CSV,
    FAST,
    HEADER,
    HOURS,
    WL,
    assert_clean,
    invoke,
    snapshot,
    write,
)

SOURCE = "    source: a quote\n    as_of: 2026-01-01\n"


def offer(price: str, gpu: str = "H100-SXM", tier: str = "on_demand", extra: str = "") -> str:
    return f"offers:\n  - gpu: {gpu}\n    tier: {tier}\n    usd_per_hour: {price}\n{extra}{SOURCE}"


def api(pin: str, pout: str = "0.1", model: str = "llama-3.1-8b") -> str:
    return (
        f"apis:\n  - model: {model}\n    provider: p\n    usd_per_m_input_tokens: {pin}\n"
        f"    usd_per_m_output_tokens: {pout}\n{SOURCE}"
    )


def gpu_field(name: str, value: str) -> str:
    """An override of one field of a shipped GPU (merged over the shipped entry)."""
    return f"gpus:\n  - name: H100-SXM\n    {name}: {value}\n{SOURCE}"


def model_field(name: str, value: str) -> str:
    return f"models:\n  - name: llama-3.1-8b\n    {name}: {value}\n{SOURCE}"


def workload(**changes: Any) -> str:
    fields = {
        "name": "my-chat",
        "model": "llama-3.1-8b",
        "prompt_tokens": 1000,
        "completion_tokens": 300,
        "ttft_ms": 2000,
        "tpot_ms": 50,
        "allow_api": "true",
        "headroom": 0.2,
        **changes,
    }
    lines = ["workloads:"]
    for i, (k, v) in enumerate(fields.items()):
        lines.append(f"  {'- ' if i == 0 else '  '}{k}: {v}")
    return "\n".join(lines) + "\n"


MY_CSV = HEADER + "".join(f"{h},my-chat,100,,\n" for h in HOURS)


def commitment(count: str = "1", price: str = "2.0", extra: str = "") -> str:
    return (
        "commitments:\n  - gpu: H100-SXM\n"
        f"    count: {count}\n    tier: reserved_1y\n    usd_per_hour: {price}\n{extra}"
    )


CAP_HEADER = "model,gpu,quant,tp,prompt_tokens,completion_tokens,tpot_ms,ttft_ms,requests_per_s\n"


def capacity(row: str, bom: bool = False) -> str:
    return ("\ufeff" if bom else "") + CAP_HEADER + row + "\n"


def demand(values: list[str], column: str = "requests") -> str:
    cols = {"requests": 2, "input_tokens": 3, "output_tokens": 4}[column]
    rows = []
    for h, v in zip(HOURS, values, strict=True):
        cells = [h, WL, "", "", ""]
        cells[cols] = v
        if column != "requests":
            cells[2] = "100"
        rows.append(",".join(cells) + "\n")
    return HEADER + "".join(rows)


@dataclass
class Case:
    exit_code: int
    expect: list[str] = field(default_factory=list)
    files: dict[str, str | bytes] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    demand: str | bytes = API_CSV


CAT = ["--catalog", "{tmp}/cat"]
WLS = ["--workloads", "{tmp}/wl.yaml"]
FLEET = ["--fleet", "{tmp}/fleet.yaml"]
CAP = ["--capacity", "{tmp}/cap.csv"]


def cat(text: str, name: str = "x.yaml") -> dict[str, str | bytes]:
    return {f"cat/{name}": text}


CASES: dict[str, Case] = {
    # --- catalog: strict numbers -------------------------------------------------------------
    "price true": Case(
        2, ["x.yaml", "field 'usd_per_hour'", "yes/no value"], cat(offer("true")), CAT
    ),
    "price false": Case(2, ["field 'usd_per_hour'", "not a number"], cat(offer("false")), CAT),
    "price quoted": Case(2, ["field 'usd_per_hour'", "is text"], cat(offer('"3.5"')), CAT),
    "price text": Case(2, ["field 'usd_per_hour'", "is text"], cat(offer("cheap")), CAT),
    "price inf": Case(2, ["field 'usd_per_hour'", "finite"], cat(offer(".inf")), CAT),
    "price -inf": Case(2, ["field 'usd_per_hour'"], cat(offer("-.inf")), CAT),
    "price nan": Case(2, ["field 'usd_per_hour'", "finite"], cat(offer(".nan")), CAT),
    "price 1e308": Case(2, ["field 'usd_per_hour'", "above the limit"], cat(offer("1e308")), CAT),
    "price 1.0e+16": Case(2, ["above the limit"], cat(offer("1.0e+16")), CAT),
    "price 0 (free)": Case(2, ["field 'usd_per_hour'", "greater than 0"], cat(offer("0")), CAT),
    "price negative": Case(2, ["field 'usd_per_hour'"], cat(offer("-1")), CAT),
    "price list": Case(2, ["field 'usd_per_hour'"], cat(offer("[1, 2]")), CAT),
    "price mapping": Case(2, ["field 'usd_per_hour'"], cat(offer("{a: 1}")), CAT),
    "price null on demand": Case(2, ["needs usd_per_hour"], cat(offer("null")), CAT),
    "price 1e-3 unquoted": Case(0, [], cat(offer("1e-3")), CAT),
    "price tiny": Case(0, [], cat(offer("1.0e-9")), CAT),
    "spot price true": Case(2, ["yes/no"], cat(offer("true", tier="spot")), CAT),
    "max_gpus true": Case(
        2, ["field 'max_gpus'"], cat(offer("3", extra="    max_gpus: true\n")), CAT
    ),
    "max_gpus 1e30": Case(
        2, ["field 'max_gpus'"], cat(offer("3", extra="    max_gpus: 1e30\n")), CAT
    ),
    "max_gpus 1.5": Case(
        2, ["field 'max_gpus'"], cat(offer("3", extra="    max_gpus: 1.5\n")), CAT
    ),
    "max_gpus -1": Case(2, ["field 'max_gpus'"], cat(offer("3", extra="    max_gpus: -1\n")), CAT),
    "interruption inf": Case(
        2,
        ["interruption_rate"],
        cat(offer("1", tier="spot", extra="    interruption_rate_per_hour: .inf\n")),
        CAT,
    ),
    "api price 0": Case(0, [], cat(api("0", "0")), CAT),
    "api price true": Case(2, ["field 'usd_per_m_input_tokens'", "yes/no"], cat(api("true")), CAT),
    "api price inf": Case(2, ["usd_per_m_input_tokens", "finite"], cat(api(".inf")), CAT),
    "api price 1e300": Case(2, ["above the limit"], cat(api("1e300")), CAT),
    "api price text": Case(2, ["is text"], cat(api("free")), CAT),
    "hbm 1e308": Case(
        2,
        ["gpus[H100-SXM]", "field 'hbm_gb'", "above the limit"],
        cat(gpu_field("hbm_gb", "1e308")),
        CAT,
    ),
    "hbm 1e300 float": Case(2, ["field 'hbm_gb'"], cat(gpu_field("hbm_gb", "1.0e+300")), CAT),
    "hbm tiny": Case(0, [], cat(gpu_field("hbm_gb", "1.0e-300")), CAT),
    "hbm true": Case(2, ["field 'hbm_gb'", "yes/no"], cat(gpu_field("hbm_gb", "true")), CAT),
    "hbm inf": Case(2, ["field 'hbm_gb'"], cat(gpu_field("hbm_gb", ".inf")), CAT),
    "bandwidth tiny": Case(0, [], cat(gpu_field("hbm_tb_per_s", "1.0e-12")), CAT),
    "bandwidth huge": Case(
        2, ["field 'hbm_tb_per_s'"], cat(gpu_field("hbm_tb_per_s", "1e300")), CAT
    ),
    "max_tp true": Case(2, ["field 'max_tp'"], cat(gpu_field("max_tp", "true")), CAT),
    "max_tp 3.5": Case(2, ["field 'max_tp'"], cat(gpu_field("max_tp", "3.5")), CAT),
    "peak text": Case(2, ["peak_tflops"], cat(gpu_field("peak_tflops", "{bf16: lots}")), CAT),
    "peak inf": Case(2, ["peak_tflops"], cat(gpu_field("peak_tflops", "{bf16: .inf}")), CAT),
    "params 1e308": Case(
        2, ["models[llama-3.1-8b]", "field 'params_b'"], cat(model_field("params_b", "1e308")), CAT
    ),
    "layers 1e30": Case(
        2, ["field 'layers'"], cat(model_field("layers", "1000000000000000000000000000000")), CAT
    ),
    "layers true": Case(2, ["field 'layers'"], cat(model_field("layers", "true")), CAT),
    "overhead inf": Case(
        2,
        ["defaults", "self_host_monthly_overhead_usd"],
        cat(
            "defaults:\n  self_host_monthly_overhead_usd: .inf\n  overhead_multiplier: 1.4\n"
            + SOURCE.replace("    ", "  ")
        ),
        CAT,
    ),
    "overhead true": Case(
        2,
        ["defaults", "yes/no"],
        cat(
            "defaults:\n  self_host_monthly_overhead_usd: true\n  overhead_multiplier: 1.4\n"
            + SOURCE.replace("    ", "  ")
        ),
        CAT,
    ),
    "efficiency mbu true": Case(
        2,
        ["efficiency[hopper]", "field 'mbu'"],
        cat(f"efficiency:\n  - family: hopper\n    mbu: true\n{SOURCE}"),
        CAT,
    ),
    # --- catalog: structure ------------------------------------------------------------------
    "duplicate key": Case(
        2,
        ["x.yaml", "line 5", "'usd_per_hour' appears twice", "first on line 4"],
        cat(offer("3", extra="    usd_per_hour: 4\n")),
        CAT,
    ),
    "duplicate key in defaults": Case(
        2,
        ["appears twice"],
        cat("defaults:\n  overhead_multiplier: 1.4\n  overhead_multiplier: 1.5\n"),
        CAT,
    ),
    "duplicate section": Case(2, ["'offers' appears twice"], cat(offer("3") + offer("4")), CAT),
    "same offer in two files": Case(
        2,
        ["b.yaml", "offers[H100-SXM/on_demand]", "a.yaml", "same folder", "keep one"],
        {**cat(offer("3"), "a.yaml"), **cat(offer("4"), "b.yaml")},
        CAT,
    ),
    "same gpu in two files": Case(
        2,
        ["gpus[H100-SXM] is also in"],
        {**cat(gpu_field("hbm_gb", "80"), "a.yaml"), **cat(gpu_field("hbm_gb", "81"), "b.yml")},
        CAT,
    ),
    "defaults in two files": Case(
        2,
        ["'defaults' is also in"],
        {
            **cat("defaults:\n  overhead_multiplier: 1.4\n", "a.yaml"),
            **cat("defaults:\n  overhead_multiplier: 1.5\n", "b.yaml"),
        },
        CAT,
    ),
    "same offer in two folders (later wins)": Case(
        0,
        [],
        {"cat/a.yaml": offer("3"), "cat2/a.yaml": offer("4")},
        [*CAT, "--catalog", "{tmp}/cat2"],
    ),
    "nested lists 10000": Case(
        2, ["x.yaml", "nests too deeply"], cat("offers: " + "[" * 10000 + "]" * 10000 + "\n"), CAT
    ),
    "nested maps 10000": Case(
        2, ["nests too deeply"], cat("offers: " + "{a: " * 10000 + "1" + "}" * 10000 + "\n"), CAT
    ),
    "nested block 10000": Case(
        2,
        ["x.yaml"],
        cat("offers:\n" + "".join(" " * i + "- \n" for i in range(0, 2000, 1))),
        CAT,
    ),
    "nested 30 (not too deep)": Case(
        2, ["offers[#1] must be a mapping"], cat("offers: " + "[" * 30 + "]" * 30 + "\n"), CAT
    ),
    "alias bomb": Case(
        2,
        ["unknown section 'a'"],
        cat(
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            )
        ),
        CAT,
    ),
    "top-level list": Case(2, ["expected a mapping"], cat("- 1\n- 2\n"), CAT),
    "top-level scalar": Case(2, ["expected a mapping"], cat("42\n"), CAT),
    "not utf-8": Case(2, ["not UTF-8"], cat(b"offers: \xff\xfe\n"), CAT),  # type: ignore[dict-item]
    "tab indentation": Case(2, ["YAML syntax error"], cat("offers:\n\t- gpu: x\n"), CAT),
    "python tag": Case(
        2, ["x.yaml"], cat("offers: !!python/object/apply:os.system ['true']\n"), CAT
    ),
    "control character in a name": Case(
        2,
        ["x.yaml", "control character", "\\x1b"],
        cat('gpus:\n  - name: "EVIL\\e[31m"\n' + "    vendor: x\n" + SOURCE),
        CAT,
    ),
    "control character in a note": Case(
        2, ["control character"], cat(offer("3", extra='    notes: "a\\x07b"\n')), CAT
    ),
    "markup in a gpu name": Case(
        2, ["unknown GPU '[red]x[/red]'"], cat(offer("3", gpu='"[red]x[/red]"')), CAT
    ),
    "empty catalog folder": Case(2, ["holds no .yaml files"], {"cat/readme.txt": "x"}, CAT),
    # --- workloads ----------------------------------------------------------------------------
    "wl prompt true": Case(
        2,
        ["wl.yaml", "field 'prompt_tokens'", "yes/no"],
        {"wl.yaml": workload(prompt_tokens="true")},
        WLS,
        MY_CSV,
    ),
    "wl prompt quoted": Case(
        2,
        ["field 'prompt_tokens'", "valid number"],
        {"wl.yaml": workload(prompt_tokens='"1000"')},
        WLS,
        MY_CSV,
    ),
    "wl prompt inf": Case(
        2,
        ["field 'prompt_tokens'", "finite"],
        {"wl.yaml": workload(prompt_tokens=".inf")},
        WLS,
        MY_CSV,
    ),
    "wl prompt 1e308": Case(
        2,
        ["field 'prompt_tokens'", "above the limit"],
        {"wl.yaml": workload(prompt_tokens="1e308")},
        WLS,
        MY_CSV,
    ),
    "wl prompt tiny": Case(0, [], {"wl.yaml": workload(prompt_tokens="1.0e-9")}, WLS, MY_CSV),
    "wl tpot nan": Case(2, ["field 'tpot_ms'"], {"wl.yaml": workload(tpot_ms=".nan")}, WLS, MY_CSV),
    "wl tpot true": Case(
        2, ["field 'tpot_ms'"], {"wl.yaml": workload(tpot_ms="true")}, WLS, MY_CSV
    ),
    "wl ttft 1e300": Case(
        2, ["field 'ttft_ms'"], {"wl.yaml": workload(ttft_ms="1e300")}, WLS, MY_CSV
    ),
    "wl headroom true": Case(
        2, ["field 'headroom'"], {"wl.yaml": workload(headroom="true")}, WLS, MY_CSV
    ),
    "wl headroom inf": Case(
        2, ["field 'headroom'"], {"wl.yaml": workload(headroom=".inf")}, WLS, MY_CSV
    ),
    "wl duplicate key": Case(
        2,
        ["wl.yaml", "appears twice"],
        {"wl.yaml": workload() + "    ttft_ms: 3000\n"},
        WLS,
        MY_CSV,
    ),
    "wl nested deep": Case(
        2,
        ["wl.yaml", "nests too deeply"],
        {"wl.yaml": "workloads: " + "[" * 5000 + "]" * 5000},
        WLS,
        MY_CSV,
    ),
    "wl escape in name": Case(
        2, ["wl.yaml"], {"wl.yaml": workload(name='"a\\e[2Jb"')}, WLS, MY_CSV
    ),
    "wl escape in description": Case(
        2,
        ["control character"],
        {"wl.yaml": workload(description='"x\\e]0;pwned\\a"')},
        WLS,
        MY_CSV,
    ),
    "wl SLO 1e-9 no API": Case(
        2,
        ["No feasible plan", "my-chat"],
        {"wl.yaml": workload(tpot_ms="1.0e-9", allow_api="false")},
        WLS,
        MY_CSV,
    ),
    # --- fleet --------------------------------------------------------------------------------
    "fleet price inf": Case(
        2,
        ["fleet.yaml", "field 'usd_per_hour'", "finite"],
        {"fleet.yaml": commitment(price=".inf")},
        FLEET,
    ),
    "fleet price nan": Case(
        2, ["field 'usd_per_hour'"], {"fleet.yaml": commitment(price=".nan")}, FLEET
    ),
    "fleet price true": Case(
        2, ["field 'usd_per_hour'", "yes/no"], {"fleet.yaml": commitment(price="true")}, FLEET
    ),
    "fleet price quoted": Case(
        2, ["field 'usd_per_hour'", "is text"], {"fleet.yaml": commitment(price='"2"')}, FLEET
    ),
    "fleet price 1e308": Case(
        2, ["above the limit"], {"fleet.yaml": commitment(price="1e308")}, FLEET
    ),
    "fleet price 0 (free)": Case(0, [], {"fleet.yaml": commitment(price="0")}, FLEET),
    "fleet count true": Case(
        2, ["field 'count'", "yes/no"], {"fleet.yaml": commitment(count="true")}, FLEET
    ),
    "fleet count 1e30": Case(
        2,
        ["field 'count'", "above the limit"],
        {"fleet.yaml": commitment(count="1000000000000000000000000000000")},
        FLEET,
    ),
    "fleet count 1.5": Case(2, ["field 'count'"], {"fleet.yaml": commitment(count="1.5")}, FLEET),
    "fleet count 0": Case(2, ["field 'count'"], {"fleet.yaml": commitment(count="0")}, FLEET),
    "fleet count text": Case(2, ["field 'count'"], {"fleet.yaml": commitment(count="many")}, FLEET),
    "fleet duplicate key": Case(
        2,
        ["fleet.yaml", "appears twice"],
        {"fleet.yaml": commitment(extra="    count: 2\n")},
        FLEET,
    ),
    "fleet nested deep": Case(
        2,
        ["fleet.yaml", "nests too deeply"],
        {"fleet.yaml": "commitments: " + "[" * 5000 + "]" * 5000},
        FLEET,
    ),
    "fleet note escape": Case(
        2,
        ["control character"],
        {"fleet.yaml": commitment(extra='    note: "\\e[31mred"\n')},
        FLEET,
    ),
    # --- demand -------------------------------------------------------------------------------
    "all zero demand": Case(0, [], demand=demand(["0", "0", "0", "0"])),
    "all zero demand, API free": Case(0, [], cat(api("0", "0")), CAT, demand(["0", "0", "0", "0"])),
    "zero demand, tokens only zero": Case(
        0, [], demand=HEADER + "".join(f"{h},{WL},,0,0\n" for h in HOURS)
    ),
    "one hour": Case(0, [], demand=HEADER + f"{HOURS[0]},{WL},5,,\n"),
    "requests 1e-300": Case(
        2,
        ["line 2", "column 'requests'", "below the smallest"],
        demand=demand(["1e-300", "1", "1", "1"]),
    ),
    "requests 1e-7": Case(2, ["below the smallest"], demand=demand(["1", "1e-7", "1", "1"])),
    "requests 1e-6": Case(0, [], demand=demand(["1e-6", "1", "1", "1"])),
    "requests 1e12": Case(0, [], demand=demand(["1e12", "1e12", "1e12", "1e12"])),
    "requests 1e16": Case(2, ["above the limit"], demand=demand(["1e16", "1", "1", "1"])),
    "requests true": Case(2, ["'true' is not a number"], demand=demand(["true", "1", "1", "1"])),
    "tokens 1e-300": Case(
        2,
        ["column 'input_tokens'", "below the smallest"],
        demand=demand(["1e-300", "1", "1", "1"], "input_tokens"),
    ),
    "tokens inf": Case(
        2,
        ["column 'output_tokens'", "infinite"],
        demand=demand(["inf", "1", "1", "1"], "output_tokens"),
    ),
    "demand BOM": Case(0, [], demand="\ufeff" + API_CSV),
    "demand CRLF": Case(0, [], demand=API_CSV.replace("\n", "\r\n")),
    "demand escape in workload": Case(
        2, ["unknown workload", "\\x1b"], demand=HEADER + f"{HOURS[0]},\x1b[31mx,1,,\n"
    ),
    "demand markup in workload": Case(
        2, ["unknown workload '[bold]x'"], demand=HEADER + f"{HOURS[0]},[bold]x,1,,\n"
    ),
    "demand NUL bytes": Case(2, ["demand.csv"], demand=b"\x00\x00\x00"),
    # --- measured capacity --------------------------------------------------------------------
    "capacity BOM": Case(
        0,
        [],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,bf16,1,1000,300,50,2000,5", bom=True)},
        CAP,
    ),
    "capacity fp8 on A100": Case(
        2,
        ["cap.csv", "line 2", "column 'quant'", "A100-80G cannot run fp8"],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,fp8,1,1000,300,50,2000,50")},
        CAP,
    ),
    "capacity fp4 on H100": Case(
        2,
        ["line 2", "cannot run fp4"],
        {"cap.csv": capacity("llama-3.1-8b,H100-SXM,fp4,1,1000,300,50,2000,50")},
        CAP,
    ),
    "capacity tp 3": Case(
        2,
        ["line 2", "column 'tp'", "3 is not a tensor-parallel degree"],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,bf16,3,1000,300,50,2000,5")},
        CAP,
    ),
    "capacity tp 1000": Case(
        2,
        ["line 2", "column 'tp'", "1000"],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,bf16,1000,1000,300,50,2000,5")},
        CAP,
    ),
    "capacity tp 16 on L4": Case(
        2, ["column 'tp'"], {"cap.csv": capacity("llama-3.1-8b,L4,bf16,16,1000,300,50,2000,5")}, CAP
    ),
    "capacity tp 0": Case(
        2,
        ["column 'tp'"],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,bf16,0,1000,300,50,2000,5")},
        CAP,
    ),
    "capacity measured twice": Case(
        2,
        ["cap.csv", "line 3", "as line 2", "one line per measurement"],
        {
            "cap.csv": capacity(
                "llama-3.1-8b,A100-80G,bf16,1,1000,300,50,2000,10\n"
                "llama-3.1-8b,A100-80G,bf16,1,1000,300,50,2000,20"
            )
        },
        CAP,
    ),
    "capacity at two SLOs": Case(
        0,
        [],
        {
            "cap.csv": capacity(
                "llama-3.1-8b,A100-80G,bf16,1,1000,300,50,2000,10\n"
                "llama-3.1-8b,A100-80G,bf16,1,1000,300,100,2000,20"
            )
        },
        CAP,
    ),
    "capacity tp 1.5": Case(
        2,
        ["column 'tp'", "whole number"],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,bf16,1.5,1000,300,50,2000,5")},
        CAP,
    ),
    "capacity rate inf": Case(
        2,
        ["column 'requests_per_s'"],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,bf16,1,1000,300,50,2000,inf")},
        CAP,
    ),
    "capacity rate 1e308": Case(
        2,
        ["column 'requests_per_s'", "above the limit"],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,bf16,1,1000,300,50,2000,1e308")},
        CAP,
    ),
    "capacity rate true": Case(
        2,
        ["column 'requests_per_s'", "not a number"],
        {"cap.csv": capacity("llama-3.1-8b,A100-80G,bf16,1,1000,300,50,2000,true")},
        CAP,
    ),
    "capacity unknown gpu": Case(
        2,
        ["line 2", "Unknown GPU 'A100'"],
        {"cap.csv": capacity("llama-3.1-8b,A100,bf16,1,1000,300,50,2000,5")},
        CAP,
    ),
    "capacity empty": Case(2, ["cap.csv", "empty"], {"cap.csv": ""}, CAP),
    # --- options --------------------------------------------------------------------------------
    "gap nan": Case(2, ["--gap"], args=["--gap", "nan"]),
    "gap 1": Case(2, ["--gap"], args=["--gap", "1"]),
    "time limit nan": Case(2, ["--time-limit"], args=["--time-limit", "nan"]),
    "time limit 0": Case(2, ["--time-limit"], args=["--time-limit", "0"]),
    "time limit -1": Case(2, ["--time-limit"], args=["--time-limit", "-1"]),
    "threads 0": Case(2, ["--threads"], args=["--threads", "0"]),
    "aggregate 0": Case(2, ["--aggregate"], args=["--aggregate", "0"]),
    "aggregate text": Case(2, ["--aggregate"], args=["--aggregate", "some"]),
    "solver unknown": Case(2, ["cbc"], args=["--solver", "gurobi"]),
}


def _finite_numbers(node: Any, path: str = "") -> list[str]:
    """Paths of numbers in ``node`` that are not finite (a JSON null is no number either)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _finite_numbers(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _finite_numbers(v, f"{path}[{i}]")]
    if isinstance(node, float) and not math.isfinite(node):
        return [path]
    return []


@pytest.mark.parametrize("case", [pytest.param(c, id=n) for n, c in CASES.items()])
def test_input(case: Case, tmp_path: Path) -> None:
    d = write(tmp_path / "demand.csv", case.demand)
    for rel, content in case.files.items():
        write(tmp_path / rel, content)
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    args = [a.format(tmp=tmp_path) for a in case.args]
    fast = [a for a in FAST if not (a in ("--solver", "highs") and "--solver" in args)]
    if "--time-limit" in args:
        fast = ["--solver", "highs", "--quiet"]
    res = invoke("solve", d, *args, "--out", out, *fast, "--json")
    assert_clean(res, case.exit_code, *case.expect)
    if case.exit_code:
        assert res.stderr.startswith("error:"), res.stderr
        assert res.stderr.strip().count("\n") == 0, res.stderr  # one paragraph
        assert "\x1b" not in res.stderr  # escape sequences shown, never sent
        assert snapshot(tmp_path) == before  # nothing written
        return
    data = json.loads(res.stdout)
    assert data["verified"] is True
    saved = json.loads((out / "plan.json").read_text())
    assert not _finite_numbers(saved)
    assert isinstance(saved["total_cost_usd"], float) and saved["total_cost_usd"] >= 0
    lb = saved["lower_bound_usd"]
    assert lb is None or lb <= saved["total_cost_usd"] * (1 + 1e-9)
    for b in saved["baselines"].values():
        if b["total_cost_usd"] is not None and lb is not None:
            assert lb <= b["total_cost_usd"] * (1 + 1e-9)  # the bound is below every policy
    inputs = [
        x
        for i in range(0, len(args) - 1, 2)
        if args[i] in ("--catalog", "--workloads", "--fleet", "--capacity")
        for x in args[i : i + 2]
    ]
    res = invoke("verify", out, d, *inputs)
    assert_clean(res, 0)
    assert res.stdout.rstrip().endswith("verified")
