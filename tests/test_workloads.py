"""Tests for advisor.workloads: the shipped classes and every error a user can cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.catalog import Catalog, load_catalog
from advisor.errors import DemandError
from advisor.workloads import Workload, load_workloads

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mixtral-8x7b", "qwen2.5-72b"]

GOOD = """\
workloads:
  - name: chat
    model: llama-3.1-70b
    prompt_tokens: 800
    completion_tokens: 200
    ttft_ms: 1000
    tpot_ms: 40
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def empty_base(tmp_path: Path) -> Path:
    """A base catalog folder without workloads, so only the files under test count."""
    base = tmp_path / "base"
    base.mkdir()
    return base


def _write(folder: Path, text: str | bytes, name: str = "wl.yaml") -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_shipped_workloads(catalog: Catalog) -> None:
    wl = load_workloads(catalog)
    expected = {f"{m}-{kind}" for m in MODELS for kind in ("interactive", "batch")}
    assert set(wl) == expected
    chat = wl["llama-3.1-70b-interactive"]
    assert (chat.prompt_tokens, chat.completion_tokens, chat.ttft_ms, chat.tpot_ms) == (
        1000,
        300,
        2000,
        50,
    )
    assert chat.quantizations == ["bf16", "fp8", "int8"]
    assert (chat.allow_spot, chat.allow_api, chat.headroom) == (False, True, 0.2)
    batch = wl["llama-3.1-70b-batch"]
    assert batch.quantizations is None and batch.allow_spot and batch.headroom == 0.0
    assert batch.tpot_ms == 200 and batch.ttft_ms == 60000
    assert batch.tokens_per_request == 2500


def test_good_file(catalog: Catalog, tmp_path: Path, empty_base: Path) -> None:
    wl = load_workloads(catalog, [_write(tmp_path, GOOD)], base=empty_base)
    assert list(wl) == ["chat"]
    assert wl["chat"].quantizations is None and wl["chat"].allow_api
    assert wl["chat"].headroom == 0.0 and wl["chat"].description == ""


def test_later_definition_replaces_whole_entry(catalog: Catalog, tmp_path: Path) -> None:
    text = """\
workloads:
  - name: llama-3.1-70b-interactive
    model: llama-3.1-70b
    prompt_tokens: 500
    completion_tokens: 100
    ttft_ms: 1000
    tpot_ms: 30
"""
    wl = load_workloads(catalog, [_write(tmp_path, text)])
    replaced = wl["llama-3.1-70b-interactive"]
    assert replaced.prompt_tokens == 500
    assert replaced.quantizations is None  # not merged with the shipped [bf16, fp8, int8]
    assert "llama-3.1-70b-batch" in wl


def test_order_catalog_dirs_then_files(catalog: Catalog, tmp_path: Path, empty_base: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    _write(user, GOOD.replace("800", "700"), "mine.yaml")
    later = _write(tmp_path, GOOD.replace("800", "900"))
    wl = load_workloads(catalog, catalog_dirs=[user], base=empty_base)
    assert wl["chat"].prompt_tokens == 700
    wl = load_workloads(catalog, [later], catalog_dirs=[user], base=empty_base)
    assert wl["chat"].prompt_tokens == 900


def test_workload_is_frozen() -> None:
    wl = Workload(name="x", model="m", prompt_tokens=1, completion_tokens=1, ttft_ms=1, tpot_ms=1)
    with pytest.raises(ValueError):
        wl.headroom = 0.5  # type: ignore[misc]


ENTRY = GOOD.split("workloads:\n", 1)[1]

BAD_FILES = [
    pytest.param(
        GOOD.replace("llama-3.1-70b", "llama-3.1-7b"),
        ["wl.yaml: workloads[chat]: field 'model': unknown model 'llama-3.1-7b'", "Did you mean"],
        id="unknown-model",
    ),
    pytest.param(
        GOOD + "    quantizations: [bf16, fp9]\n",
        ["workloads[chat]: field 'quantizations': unknown quantization 'fp9'", "Did you mean"],
        id="unknown-quantization",
    ),
    pytest.param(
        GOOD + "    gpus: [H100SXM]\n",
        ["field 'gpus': unknown GPU 'H100SXM'", "Did you mean 'H100-SXM'?"],
        id="unknown-gpu",
    ),
    pytest.param(
        GOOD + "    tpot: 40\n",
        ["workloads[chat]: field 'tpot': unknown field. Did you mean 'tpot_ms'?"],
        id="unknown-field",
    ),
    pytest.param(
        GOOD.replace("prompt_tokens: 800", "prompt_tokens: lots"),
        ["workloads[chat]: field 'prompt_tokens':", "valid number"],
        id="wrong-type",
    ),
    pytest.param(
        GOOD.replace("ttft_ms: 1000", "ttft_ms: 0"),
        ["field 'ttft_ms': Input should be greater than 0"],
        id="non-positive",
    ),
    pytest.param(
        GOOD + "    headroom: 12\n",
        ["field 'headroom'", "headroom is a fraction", "got 12"],
        id="headroom-too-large",
    ),
    pytest.param(
        GOOD.replace("    tpot_ms: 40\n", ""),
        ["field 'tpot_ms': required field is missing."],
        id="missing-field",
    ),
    pytest.param(
        GOOD + ENTRY.replace("prompt_tokens: 800", "prompt_tokens: 900"),
        ["workloads[chat] appears twice in this file", "Remove one entry"],
        id="duplicate-name",
    ),
    pytest.param(
        GOOD.replace("ttft_ms: 1000", "ttft_ms: [1000"),
        ["wl.yaml: YAML syntax error at line", "Fix the YAML"],
        id="yaml-syntax",
    ),
    pytest.param(
        b"workloads:\n  - name: caf\xe9\n",
        ["wl.yaml: the file is not UTF-8 text", "Save it as UTF-8"],
        id="not-utf8",
    ),
    pytest.param(
        "- name: chat\n",
        ["at the top level", "one section: 'workloads:'"],
        id="top-level-list",
    ),
    pytest.param(
        GOOD.replace("workloads:", "workload:"),
        ["unknown section 'workload'. Did you mean 'workloads'?"],
        id="unknown-section",
    ),
    pytest.param(
        "workloads:\n  name: chat\n",
        ["section 'workloads' must be a list"],
        id="section-not-list",
    ),
    pytest.param("workloads:\n  - chat\n", ["workloads[#1] must be a mapping"], id="not-mapping"),
    pytest.param(
        GOOD.replace("  - name: chat\n    model", "  - model"),
        ["workloads[#1]: field 'name' is missing"],
        id="missing-name",
    ),
    pytest.param(
        GOOD.replace("name: chat", "name: 'chat,2'"),
        ["field 'name'", "letters, digits"],
        id="bad-name",
    ),
    pytest.param(
        GOOD + "    quantizations: []\n",
        ["field 'quantizations': an empty list allows nothing; use null"],
        id="empty-allow-list",
    ),
    pytest.param(
        GOOD.replace("prompt_tokens: 800", "prompt_tokens: 10000000"),
        ["field 'prompt_tokens'", "exceeds the context of 'llama-3.1-70b'"],
        id="exceeds-context",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BAD_FILES)
def test_bad_workloads_file(
    catalog: Catalog, tmp_path: Path, empty_base: Path, text: str | bytes, fragments: list[str]
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DemandError) as info:
        load_workloads(catalog, [path], base=empty_base)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_yaml_syntax_error_names_line(catalog: Catalog, tmp_path: Path, empty_base: Path) -> None:
    path = _write(tmp_path, GOOD.replace("ttft_ms: 1000", "ttft_ms: [1000"))
    with pytest.raises(DemandError, match=r"line \d+, column \d+"):
        load_workloads(catalog, [path], base=empty_base)


def test_missing_file(catalog: Catalog, tmp_path: Path, empty_base: Path) -> None:
    with pytest.raises(DemandError, match=r"does not exist\. Check the --workloads path"):
        load_workloads(catalog, [tmp_path / "nope.yaml"], base=empty_base)


def test_folder_instead_of_file(catalog: Catalog, tmp_path: Path, empty_base: Path) -> None:
    with pytest.raises(DemandError, match="is not a file"):
        load_workloads(catalog, [tmp_path], base=empty_base)


def test_missing_catalog_dir(catalog: Catalog, tmp_path: Path, empty_base: Path) -> None:
    with pytest.raises(DemandError, match=r"does not exist\. Check the --catalog path"):
        load_workloads(catalog, catalog_dirs=[tmp_path / "nope"], base=empty_base)


def test_catalog_dir_error_names_file(catalog: Catalog, tmp_path: Path, empty_base: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    path = _write(user, GOOD.replace("llama-3.1-70b", "llama-9"), "prices.yaml")
    with pytest.raises(DemandError, match=rf"{path}: workloads\[chat\]: field 'model'"):
        load_workloads(catalog, catalog_dirs=[user], base=empty_base)


def test_a_workload_with_a_length_histogram_solves_and_verifies(tmp_path: Path) -> None:
    """Regression: the plan echoed the histogram's buckets as tuples, the verifier read lists,
    so every workload with ``length_histogram`` failed verification and nothing was written."""
    from advisor.pipeline import load_inputs, solve_inputs
    from advisor.solve import SolverSettings

    (tmp_path / "lengths.csv").write_text(
        "prompt_tokens,completion_tokens,share\n1000,300,1\n2000,100,1\n"
    )
    wl = tmp_path / "w.yaml"
    wl.write_text(
        "workloads:\n  - name: chat\n    model: llama-3.1-8b\n    prompt_tokens: 1500\n"
        "    completion_tokens: 200\n    ttft_ms: 2000\n    tpot_ms: 50\n    slo_stat: p99\n"
        "    length_histogram: lengths.csv\n"
    )
    demand = tmp_path / "d.csv"
    demand.write_text(
        "hour,workload,requests\n"
        + "".join(f"2026-01-05T0{h}:00:00Z,chat,{n}\n" for h, n in enumerate((5, 9000, 40)))
    )
    inputs = load_inputs(demand, workloads_files=[wl])
    plan = solve_inputs(inputs, SolverSettings("highs", time_limit_s=30))
    assert plan.verified, plan.data["verification"]
    assert plan.data["workloads"]["chat"]["definition"]["length_buckets"] == [
        [1000.0, 300.0, 1.0],
        [2000.0, 100.0, 1.0],
    ]
