"""The notebooks run locally, top to bottom, as tests — and hold no keys.

Each notebook is parsed as Databricks source (cells split on ``# COMMAND ----------``, markdown
cells are ``# MAGIC`` lines) and its code cells are executed in order in one namespace, with the
work dir set through ``NB_WORK_DIR`` to ``tmp_path``. The notebooks call ``get_spark()``, which
returns the session-scoped ``spark`` fixture's session. If a cell fails, the Cleanup cell still
runs, so no emulator or stream outlives the test.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
HEADER = "# Databricks notebook source"
SEPARATOR = re.compile(r"^# COMMAND -{10}\s*$", re.M)
EMULATOR_KEYS = {"test-key", "app-key"}  # the emulator's default Pipelines and App API keys
KEY_SHAPES = re.compile(
    r"\b(?:pk|sk)_(?:us|eu)_\w+"  # Customer.io region-prefixed keys
    r"|\bsa_live_\w+"  # service-account tokens
    r"|\b(?:Basic|Bearer)\s+[A-Za-z0-9+/=_-]{12,}"  # auth headers
    r"|\b[0-9a-f]{20,}\b"  # classic hex keys / site ids
)


@dataclass
class Cell:
    index: int
    markdown: bool
    source: str  # code with any ``# MAGIC`` lines left out; "" for markdown cells


def cells(path: Path) -> list[Cell]:
    """The notebook's cells, in order (a cell of ``# MAGIC`` lines only is markdown)."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HEADER + "\n"), f"{path.name} is not Databricks source format"
    out = []
    for index, chunk in enumerate(SEPARATOR.split(text[len(HEADER) :])):
        lines = chunk.strip("\n").splitlines()
        code = "\n".join(line for line in lines if not line.startswith("# MAGIC"))
        out.append(Cell(index, not code.strip(), code if code.strip() else ""))
    return out


def run_notebook(path: Path) -> dict[str, Any]:
    """Execute the code cells in one namespace; run the Cleanup cell even after a failure."""
    namespace: dict[str, Any] = {"__name__": f"notebook_{path.stem}"}
    code = [c for c in cells(path) if not c.markdown]
    for position, cell in enumerate(code):
        try:
            exec(compile(cell.source, f"{path.name}[cell {cell.index}]", "exec"), namespace)
        except BaseException:
            if position < len(code) - 1:
                exec(compile(code[-1].source, f"{path.name}[cleanup]", "exec"), namespace)
            raise
    return namespace


def key_literals(source: str) -> list[str]:
    """String literals that code passes as an API key, plus any key-shaped string literal."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += KEY_SHAPES.findall(node.value)
        if not isinstance(node, ast.Call):
            continue
        called = getattr(node.func, "id", getattr(node.func, "attr", ""))
        given: list[ast.expr] = []
        if called in ("SecretKey", "CustomerIOClient", "AppAPIClient") and node.args:
            given.append(node.args[0])
        if called == "option" and len(node.args) == 2:  # .option("api_key_secret", "...")
            first = node.args[0]
            if isinstance(first, ast.Constant) and "key" in str(first.value):
                given.append(node.args[1])
        given += [k.value for k in node.keywords if k.arg and "key" in k.arg]
        for value in given:
            elements = value.elts if isinstance(value, ast.Tuple | ast.List) else [value]
            found += [
                e.value
                for e in elements
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
    return found


ALL = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


@pytest.fixture
def notebook_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("NB_JOB", "NB_SECRET_SCOPE", "NB_SECRET_KEY", "CUSTOMERIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NB_WORK_DIR", str(tmp_path))
    return tmp_path


# -- static checks ---------------------------------------------------------------------------


def test_the_suite_is_there() -> None:
    assert ALL == [
        "00_quickstart.py",
        "01_calls_and_semantic_events.py",
        "02_streams_start_stop.py",
        "03_backfill_safety.py",
        "10_monitoring.py",
        "11_reporting.py",
    ]


@pytest.mark.parametrize("name", ALL)
def test_notebook_shape(name: str) -> None:
    parsed = cells(NOTEBOOKS / name)
    code = [c for c in parsed if not c.markdown and c.source]
    assert 6 <= len(parsed) <= 30, f"{name}: {len(parsed)} cells"
    assert parsed[0].markdown, "a notebook opens with a markdown cell that says what it teaches"
    first = code[0].source  # parameters: widgets on Databricks, NB_* locally
    assert "ON_DATABRICKS" in first
    assert "dbutils.widgets" in first or "notebook_params(WIDGETS, dbutils)" in first
    titles = [c for c in parsed if c.markdown]
    assert re.search(r"^# MAGIC ## Cleanup", (NOTEBOOKS / name).read_text(), re.M)
    assert titles, name
    last = code[-1].source
    assert "emu.stop()" in last, f"{name}: the last cell must stop the emulator"
    if "TEMP_WORK" in code[1].source:
        assert "rmtree(WORK" in last and "spark.streams.active" in last, name
    for cell in code:
        compile(cell.source, f"{name}[cell {cell.index}]", "exec")


@pytest.mark.parametrize("name", ALL)
def test_notebook_holds_no_api_key(name: str) -> None:
    text = (NOTEBOOKS / name).read_text(encoding="utf-8")
    assert not KEY_SHAPES.findall(text), f"{name}: key-shaped text"
    for cell in cells(NOTEBOOKS / name):
        if not cell.markdown:
            assert set(key_literals(cell.source)) <= EMULATOR_KEYS, f"{name} cell {cell.index}"


def test_the_key_check_finds_keys() -> None:
    source = (
        'client = CustomerIOClient("live-7f3a", region="eu")\n'
        'opts = SinkOptions(job="j", api_key=SecretKey("hunter2"))\n'
        'emu = Emulator(keys=("test-key", "prod-key"))\n'
        'df.writeStream.option("api_key_secret", "abc")\n'
        'note = "pk_eu_0123456789"\n'
        'app = AppAPIClient("app-key", endpoint=url)\n'
    )
    assert set(key_literals(source)) - EMULATOR_KEYS == {
        "live-7f3a",
        "hunter2",
        "prod-key",
        "abc",
        "pk_eu_0123456789",
    }


@pytest.mark.parametrize("name", ALL)
def test_notebook_holds_no_logic_of_its_own(name: str) -> None:
    """Notebooks import the package; a few short display/data helpers at most, no classes."""
    source = "\n".join(c.source for c in cells(NOTEBOOKS / name) if not c.markdown)
    tree = ast.parse(source)
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert len(functions) <= 3, [f.name for f in functions]
    for function in functions:
        assert (function.end_lineno or 0) - function.lineno < 12, function.name
    assert "customerio_sink" in source


# -- the notebooks, run ---------------------------------------------------------------------


def _ran_clean(spark: Any, ns: dict[str, Any], output: str) -> None:
    """None of the notebook's streams left running; no key (nor a key-shaped string) in what
    the notebook printed."""
    assert not [q for q in spark.streams.active if (q.name or "").startswith(ns["JOB"])]
    assert not KEY_SHAPES.findall(output), KEY_SHAPES.findall(output)
    for key in EMULATOR_KEYS:
        assert key not in output, "a key reached the notebook's output"


def _png(path: Path) -> None:
    assert path.stat().st_size > 10_000, f"{path.name} is (nearly) empty"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.spark
def test_00_quickstart(spark: Any, notebook_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_notebook(NOTEBOOKS / "00_quickstart.py")
    out = capsys.readouterr().out
    _ran_clean(spark, ns, out)
    emu = ns["emu"]
    assert sorted(emu.people) == [f"u{i:02d}" for i in range(1, 10)] + ["u11"]
    assert emu.people["u01"]["traits"]["plan"] == "enterprise"
    assert emu.people["u11"]["traits"]["email"] == "person11@example.com"
    assert [m["userId"] for m in emu.messages("track")] == ["u10"]
    assert emu.stats().duplicates == 0 and emu.stats().rejected == 0
    assert "batches whose counts do not add up: 0" in out
    assert ns["first"].totals["dead_lettered"] == 2


def test_01_calls_and_semantic_events(
    notebook_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = run_notebook(NOTEBOOKS / "01_calls_and_semantic_events.py")
    out = capsys.readouterr().out
    emu = ns["emu"]
    assert {m["type"] for m in emu.messages()} == {
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    }
    assert {m["event"] for m in emu.messages("track")} == {
        "Order Completed",
        "User Deleted",
        "User Suppressed",
        "User Unsuppressed",
        "Device Created or Updated",
        "Device Deleted",
        "Relationship Deleted",
        "Object Deleted",
        "Report Delivery Event",
        "Report Content Event",
    }
    stats = emu.stats()
    assert stats.rejected == 0 and stats.duplicates == 0
    assert "after delete + identify, back again: True" in out
    assert "after delete + suppress + identify: {'traits': {}, 'suppressed': True}" in out
    assert "1 request(s) for 50 calls" in out
    assert "userId: required" in out  # the invalid call was refused, not sent
    assert not emu.objects and not emu.relationships and not emu.devices.get("nb-demo-ada")
    assert not KEY_SHAPES.findall(out)
    assert "test-key" not in out


@pytest.mark.spark
def test_02_streams_start_stop(
    spark: Any, notebook_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = run_notebook(NOTEBOOKS / "02_streams_start_stop.py")
    _ran_clean(spark, ns, capsys.readouterr().out)
    counts = ns["emu"].message_id_counts()
    assert len(counts) == 40 and set(counts.values()) == {1}
    assert not ns["query"].isActive and not ns["ds_query"].isActive
    assert len(ns["writer"].history) >= 2  # the appends arrived in a later micro-batch
    assert sum(b["acked"] for b in ns["writer"].history) == 25
    assert sum(b["acked"] for b in ns["ingested"]) == 15
    lineage = ns["options"].ledger.read(spark, "lineage")
    assert lineage.where("rows_in <> acked + dead_lettered + parked + skipped").count() == 0
    assert {r.front_door for r in lineage.collect()} == {"foreachBatch", "datasource"}


@pytest.mark.spark
def test_03_backfill_safety(
    spark: Any, notebook_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = run_notebook(NOTEBOOKS / "03_backfill_safety.py")
    out = capsys.readouterr().out
    _ran_clean(spark, ns, out)
    assert ns["report"]["in_trigger_window"] == 6
    assert ns["report"]["dead_lettered"] == 2
    assert "requests Customer.io (emulator) received: 0" in out
    assert {k: ns["real"].totals[k] for k in ("acked", "parked", "dead_lettered")} == {
        "acked": 60,
        "parked": 6,
        "dead_lettered": 2,
    }
    assert ns["drained"]["acked"] == 6 and ns["drained"]["success_rate"] == 1.0
    counts = ns["emu"].message_id_counts()
    assert len(counts) == 66 and set(counts.values()) == {1}


@pytest.mark.spark
def test_10_monitoring(spark: Any, notebook_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_notebook(NOTEBOOKS / "10_monitoring.py")
    _ran_clean(spark, ns, capsys.readouterr().out)
    _png(notebook_env / "monitoring.png")
    assert ns["result"]["selected"] == 8  # the rows without a userId, not the malformed one
    assert ns["result"]["success_rate"] == 1.0
    counts = ns["emu"].message_id_counts()
    assert len(counts) == 160 - 1 and set(counts.values()) == {1}
    replayed = [m for m in ns["emu"].messages() if m["properties"].get("customer_ref")]
    assert all(m["userId"] == m["properties"]["customer_ref"] for m in replayed)
    assert ns["emu"].stats().max_requests_in_window <= 3 * 10  # 10/s budget, 3 s window


@pytest.mark.spark
def test_11_reporting(spark: Any, notebook_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_notebook(NOTEBOOKS / "11_reporting.py")
    _ran_clean(spark, ns, capsys.readouterr().out)
    _png(notebook_env / "campaign_metrics.png")
    assert ns["found"][0]["id"] == "nb-ada"
    assert ns["profile"]["attributes"]["plan"] == "pro"
    assert ns["export"]["status"] == "done"
    exported = {line.split(",")[0] for line in ns["csv_text"].splitlines()[1:]}
    assert {"nb-ada", "nb-alan"} <= exported and "nb-grace" not in exported
    assert len(ns["series"]["sent"]) == 14
