"""The notebooks: their shape, checked statically, and every one executed top to bottom.

Execution is real Jupyter: one IPython kernel (``ipykernel``) runs every notebook in turn through
``nbclient``, against a local Spark + Delta session (one JVM for all of them, started by the
first notebook and left running by each cleanup cell) and the embedded emulator each notebook
starts. Between notebooks the kernel's namespace is reset (``%reset -f``). The work dir is the
``work_dir`` widget, set through ``NB_WORK_DIR`` to a pytest temp dir; the secrets are random
keys in ``CIO_SECRET_*`` variables, and no output may contain them. Each notebook asserts its own
results in its cells (what the emulator received, the ledger rows); a failing cell fails the
test, after the notebook's cleanup cell has run.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupyter_client
import nbclient
import nbformat
import pytest


ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = ROOT / "customerio_sink"
SUITE = [
    "00_setup_and_configuration",
    "01_authentication_and_utilities",
    "02_people_management",
    "03_events_and_tracking",
    "04_objects_and_relationships",
    "05_device_management",
    "06_batch_operations",
    "07_semantic_events_ecommerce",
    "08_semantic_events_email",
    "09_semantic_events_mobile",
    "10_semantic_events_video",
    "11_reporting_and_analytics",
    "12_data_migration_patterns",
    "examples/ecommerce_integration",
    "examples/user_lifecycle_automation",
    "examples/bulk_data_sync",
]
EMULATOR_KEYS = {"test-key", "app-key"}  # the emulator's default Pipelines and App API keys
KEY_SHAPES = re.compile(
    r"\b(?:pk|sk)_(?:us|eu)_\w+"  # Customer.io region-prefixed keys
    r"|\bsa_live_\w+"  # service-account tokens
    r"|\b(?:Basic|Bearer)\s+[A-Za-z0-9+/=_-]{12,}"  # auth headers
    r"|\b[0-9a-f]{20,}\b"  # classic hex keys / site ids
)
HEADER_SECTIONS = ("## Purpose", "## Prerequisites", "## Usage", "## Key Concepts")
PREREQUISITES = ("Packages", "Credentials", "Delta tables", "Cluster")
COMMON_WIDGETS = ("work_dir", "job", "secret_scope", "secret_key", "region")


def load(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def code_cells(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def python_source(cell: Any) -> str:
    """A code cell's source as Python (IPython magics would not parse; the notebooks have none)."""
    return str(cell.source)


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


# -- static checks ---------------------------------------------------------------------------


def test_the_suite_is_there() -> None:
    found = sorted(
        p.relative_to(NOTEBOOKS).with_suffix("").as_posix() for p in NOTEBOOKS.rglob("*.ipynb")
    )
    assert found == sorted(SUITE)
    assert not list(NOTEBOOKS.rglob("*.py")), "the notebooks are .ipynb now"


@pytest.mark.parametrize("name", SUITE)
def test_header_sections(name: str) -> None:
    first = load(name).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    positions = [first.source.find(section) for section in HEADER_SECTIONS]
    assert -1 not in positions and positions == sorted(positions), f"{name}: {positions}"
    prerequisites = first.source[positions[1] : positions[2]]
    for item in PREREQUISITES:
        assert f"**{item}:**" in prerequisites, f"{name}: Prerequisites lack {item}"


@pytest.mark.parametrize("name", SUITE)
def test_install_widgets_secrets_and_cleanup_cells(name: str) -> None:
    nb = load(name)
    code = code_cells(nb)
    install, widgets, setup = code[0], code[1], code[2]
    assert install.metadata.get("tags") == ["install"]
    assert 'run_line_magic("pip", "install customerio-sink' in install.source
    assert 'if os.environ.get("DATABRICKS_RUNTIME_VERSION"):' in install.source
    assert "dbutils = local_dbutils()" in widgets.source
    for widget in COMMON_WIDGETS:
        assert re.search(rf'dbutils\.widgets\.\w+\("{widget}"', widgets.source), (name, widget)
    assert "setup_notebook(" in setup.source and "dbutils" in setup.source  # reads the secret
    cleanup = code[-1]
    assert cleanup.metadata.get("tags") == ["cleanup"]
    assert "nb.cleanup()" in cleanup.source
    before = nb.cells[nb.cells.index(cleanup) - 1]
    assert before.cell_type == "markdown" and before.source.startswith("## Cleanup")


@pytest.mark.parametrize("name", SUITE)
def test_every_code_cell_is_explained_first(name: str) -> None:
    cells = load(name).cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "code":
            assert cells[index - 1].cell_type == "markdown", f"{name}: cell {index}"


@pytest.mark.parametrize("name", SUITE)
def test_outputs_are_stripped(name: str) -> None:
    """Valid nbformat 4 as stored (every cell with its id), no outputs, no execution counts."""
    raw = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    # Checked on the stored JSON: nbformat's reads() and validate() make up missing ids.
    missing = [index for index, cell in enumerate(raw["cells"]) if not cell.get("id")]
    assert not missing, f"{name}: cells without an id: {missing}"
    assert (raw["nbformat"], raw["nbformat_minor"]) >= (4, 5), "cell ids need nbformat 4.5"
    nbformat.validate(raw)
    for cell in code_cells(load(name)):
        assert cell.outputs == [] and cell.execution_count is None, f"{name}: {cell.id}"


@pytest.mark.parametrize("name", SUITE)
def test_no_functions_classes_or_local_paths(name: str) -> None:
    """All logic lives in the package: a notebook defines no function, lambda or class, and
    names no directory of one machine."""
    source = "\n".join(python_source(c) for c in code_cells(load(name)))
    tree = ast.parse(source)
    defined = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
    assert not [type(n).__name__ for n in ast.walk(tree) if isinstance(n, defined)]
    assert "customerio_sink" in source
    assert not re.search(r"""["'](?:/tmp|/home|/Users|/work|[A-Z]:\\)""", source), name


@pytest.mark.parametrize("name", SUITE)
def test_notebook_holds_no_api_key(name: str) -> None:
    text = (NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8")
    assert not KEY_SHAPES.findall(text), f"{name}: key-shaped text"
    for cell in code_cells(load(name)):
        assert not key_literals(python_source(cell)), f"{name} {cell.id}: read keys from secrets"


def _index(readme: Path, heading: str) -> list[str]:
    """The notebook names in the first column of the table under ``heading``."""
    text = readme.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([\w/]+)` \|", section, flags=re.M)


@pytest.mark.parametrize(
    ("readme", "heading"), [("README.md", "## Notebooks"), ("notebooks/README.md", "## The suite")]
)
def test_readme_indexes_every_notebook(readme: str, heading: str) -> None:
    """The README's notebook index: one line per notebook of the suite, in the suite's order."""
    assert _index(ROOT / readme, heading) == SUITE


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _derived(tree: ast.AST, seeds: set[str]) -> set[str]:
    """``seeds`` and every name assigned (or looped over) from an expression that uses one."""
    bound = [
        (node.targets, node.value) if isinstance(node, ast.Assign) else ([node.target], node.iter)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.For | ast.comprehension)
    ]
    names = set(seeds)
    while True:
        more = {
            n for targets, value in bound if _names(value) & names for t in targets for n in _names(t)
        }
        if more <= names:
            return names
        names |= more


def result_asserts(source: str) -> tuple[list[str], list[str]]:
    """The asserts of a notebook's code that check what the emulator received (they use ``emu``
    or a name derived from it) and those that check a ledger table (they use a name derived
    from a ``Ledger(...)``)."""
    tree = ast.parse(source)
    ledgers = {
        n.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "attr", getattr(node.value.func, "id", "")) == "Ledger"
        for t in node.targets
        for n in ast.walk(t)
        if isinstance(n, ast.Name)
    }
    emulator, ledger = _derived(tree, {"emu"}), _derived(tree, ledgers)
    asserts = [node for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    return (
        [ast.unparse(a.test) for a in asserts if _names(a.test) & emulator],
        [ast.unparse(a.test) for a in asserts if _names(a.test) & ledger],
    )


@pytest.mark.parametrize("name", SUITE)
def test_asserts_on_the_emulator_and_the_ledger(name: str) -> None:
    """Each notebook asserts at least one result the emulator received and one ledger table."""
    source = "\n".join(python_source(c) for c in code_cells(load(name)))
    on_emulator, on_ledger = result_asserts(source)
    assert on_emulator, f"{name}: no assert on what the emulator received"
    assert on_ledger, f"{name}: no assert on a ledger table"


def test_the_result_assert_check_tells_them_apart() -> None:
    source = (
        "ledger = cio.Ledger(path=LEDGER)\n"
        'dead = ledger.read(spark, "dead_letters")\n'
        "assert dead.count() == 1\n"
        "if emu is not None:\n"
        '    sent = [m["event"] for m in emu.messages("track")]\n'
        "    assert len(sent) == 3\n"
        'assert result.totals["acked"] == 3\n'
    )
    assert result_asserts(source) == (["len(sent) == 3"], ["dead.count() == 1"])


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


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _env_name_node(node: ast.AST) -> ast.AST | None:
    """The name argument of an environment read: ``os.environ.get/setdefault(X)``,
    ``os.getenv(X)``, ``os.environ[X]`` or ``X in os.environ``."""
    if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
        attr = node.func.attr
        if attr == "getenv" or (attr in ("get", "setdefault") and _is_environ(node.func.value)):
            return node.args[0]
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return node.slice
    if isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
        return node.left
    return None


def package_env_vars() -> set[str]:
    """Every environment variable the package reads by a fixed name: a literal, or a module
    constant holding one. Names built at run time (``NB_<NAME>``, ``CIO_SECRET_...``, a name the
    caller passes) are not fixed; their patterns are checked separately."""
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]
    constants = {
        target.id: node.value.value
        for tree in trees
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    # Constants that name a variable (``ENV_REMOTE``, ``DEFAULT_KEY_ENV``, ``OPENAPI_ENV_VAR``),
    # however they reach os.environ (some through a parameter's default).
    found = {v for k, v in constants.items() if re.fullmatch(r"(?:\w+_)?ENV(?:_\w+)?", k)}
    for tree in trees:
        for node in ast.walk(tree):
            arg = _env_name_node(node)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in constants:
                found.add(constants[arg.id])
    return found


def widget_names() -> set[str]:
    """Every widget any notebook declares or reads."""
    pattern = re.compile(r'dbutils\.widgets\.\w+\("(\w+)"')
    return {
        match
        for name in SUITE
        for cell in code_cells(load(name))
        for match in pattern.findall(cell.source)
    }


def documentation_cell() -> str:
    """Notebook 00's widgets, secrets and environment variables cell."""
    cells = [c for c in load(SUITE[0]).cells if c.cell_type == "markdown"]
    return next(c.source for c in cells if c.source.startswith("## Widgets and secrets"))


def test_notebook_00_documents_every_widget() -> None:
    names = widget_names()
    assert set(COMMON_WIDGETS) | {"trigger_interval", "people"} <= names  # the scan finds them
    doc = documentation_cell()
    assert not [n for n in sorted(names) if f"| `{n}` |" not in doc]


def test_notebook_00_documents_every_environment_variable() -> None:
    names = package_env_vars()
    assert {"SPARK_REMOTE", "CUSTOMERIO_OPENAPI_PATH", "CUSTOMERIO_API_KEY"} <= names
    doc = documentation_cell()
    assert not [n for n in sorted(names) if f"`{n}`" not in doc]
    for pattern in ("`NB_<WIDGET>`", "`CIO_SECRET_<SCOPE>_<KEY>`"):  # names built at run time
        assert pattern in doc


# -- the notebooks, run in one kernel --------------------------------------------------------


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, set[str]]]:
    """One IPython kernel for every notebook (one JVM); yields it, the work dir and the keys."""
    work = tmp_path_factory.mktemp("notebooks")
    keys = {f"nb-pipelines-{secrets.token_urlsafe(8)}", f"nb-app-{secrets.token_urlsafe(8)}"}
    pipelines, app = sorted(keys, key=lambda k: not k.startswith("nb-pipelines"))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("NB_", "CIO_SECRET_")) and name != "CUSTOMERIO_API_KEY"
    }
    env.update(
        NB_WORK_DIR=str(work),
        CIO_SECRET_CUSTOMERIO_PIPELINES_KEY=pipelines,
        CIO_SECRET_CUSTOMERIO_APP_API_KEY=app,
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        MPLBACKEND="Agg",
    )
    env.pop("DATABRICKS_RUNTIME_VERSION", None)
    manager = jupyter_client.KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(work))
    try:
        yield manager, work, keys
    finally:
        manager.shutdown_kernel(now=True)


def _run_code(manager: Any, code: str) -> None:
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(code, timeout=300, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()


def _outputs(nb: Any) -> str:
    parts = []
    for cell in code_cells(nb):
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts += [str(v) for v in output.get("data", {}).values()]
            parts += [str(output.get("evalue", "")), "\n".join(output.get("traceback", []))]
    return "\n".join(parts)


TIMES: dict[str, float] = {}


@pytest.mark.spark
@pytest.mark.parametrize("name", SUITE)
def test_notebook_runs(name: str, kernel: tuple[Any, Path, set[str]]) -> None:
    manager, work, keys = kernel
    nb = load(name)
    runner = nbclient.NotebookClient(
        nb, km=manager, timeout=600, kernel_name="python3", allow_errors=False
    )
    started = time.monotonic()
    try:
        runner.execute()
    except Exception:
        _run_code(manager, code_cells(nb)[-1].source)  # the cleanup cell, after a failure
        raise
    finally:
        TIMES[name] = time.monotonic() - started
        _run_code(manager, "%reset -f")
    output = _outputs(nb)
    assert "cleaned up" in output, "the cleanup cell ran"
    for key in keys | EMULATOR_KEYS:
        assert key not in output, f"{name}: a key reached the output"
    assert not KEY_SHAPES.findall(output), KEY_SHAPES.findall(output)
    _run_code(
        manager,
        "from pyspark.sql import SparkSession\n"
        "s = SparkSession.getActiveSession()\n"
        "assert s is None or not s.streams.active, [q.name for q in s.streams.active]\n"
        "del s, SparkSession",
    )
    print(f"{name}: {TIMES[name]:.1f} s")
