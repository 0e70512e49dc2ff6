"""The Databricks Asset Bundle (databricks.yml), checked without a workspace.

``databricks bundle validate`` needs the Databricks CLI (a Go binary that the package registries
this project reaches do not carry) and a workspace; these tests check what can be checked here:
the YAML's structure; every job, schema, volume and the cluster against Databricks' own typed
models (``databricks-bundles``: unknown fields and bad enum values fail) once the bundle's
``${...}`` references are filled in with the target's values; that every task's entry point is
the package's console script; that every job it names exists; and that its parameters parse with
that job's own flag parser.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streaming_jobs import JOBS, OPS

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = yaml.safe_load((ROOT / "databricks.yml").read_text(encoding="utf-8"))
TARGETS = ("dev", "prod")
STREAMS = ("sync_people", "sync_events", "sync_objects", "sync_devices")
# Top-level keys the bundle schema knows (a misspelt one fails `bundle validate`).
BUNDLE_KEYS = {
    "bundle",
    "artifacts",
    "variables",
    "resources",
    "targets",
    "include",
    "workspace",
    "sync",
    "permissions",
    "run_as",
    "presets",
    "experimental",
    "scripts",
}
REFERENCE = re.compile(r"\$\{([^}]+)\}")
JOB_PARAMETER = re.compile(r"\{\{job\.parameters\.([A-Za-z0-9_]+)\}\}")


def _setup_call() -> dict[str, Any]:
    """The literal keyword arguments of setup.py's ``setup(...)`` call."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            found = {}
            for kw in node.keywords:
                try:
                    found[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    continue
            return found
    raise AssertionError("no setup() call in setup.py")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _console_scripts() -> dict[str, str]:
    scripts = _setup_call()["entry_points"]["console_scripts"]
    return dict(line.replace(" ", "").split("=", 1) for line in scripts)


class Resolver:
    """Fills ``${...}`` references the way the bundle does for one target."""

    def __init__(self, target: str) -> None:
        self.target = target
        variables = {
            name: spec.get("default") for name, spec in BUNDLE.get("variables", {}).items()
        }
        overrides = BUNDLE["targets"][target].get("variables") or {}
        variables.update(overrides)
        self.variables = variables

    def lookup(self, ref: str) -> Any:
        parts = ref.split(".")
        if parts[0] == "var":
            assert parts[1] in self.variables, f"${{{ref}}}: no such variable"
            value = self.variables[parts[1]]
            assert value is not None, f"${{{ref}}} has no default and no value in {self.target}"
            return value
        if ref == "bundle.target":
            return self.target
        if ref == "bundle.name":
            return BUNDLE["bundle"]["name"]
        if ref.startswith("bundle.git."):
            return "0123abc"
        if parts[0] == "resources":
            node: Any = BUNDLE["resources"]
            for part in parts[1:]:
                assert part in node, f"${{{ref}}}: no such resource field"
                node = node[part]
            return node
        raise AssertionError(f"unknown reference ${{{ref}}}")

    def fill(self, value: Any, depth: int = 0) -> Any:
        assert depth < 10, f"references loop in {value!r}"
        if isinstance(value, str):
            whole = REFERENCE.fullmatch(value)
            if whole:
                value = self.lookup(whole.group(1))
                return self.fill(value, depth + 1)
            if REFERENCE.search(value):
                text = REFERENCE.sub(lambda m: str(self.lookup(m.group(1))), value)
                return self.fill(text, depth + 1)
            return value
        if isinstance(value, list):
            return [self.fill(v, depth) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v, depth) for k, v in value.items()}
        return value


def _tasks() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (name, job, task)
        for name, job in BUNDLE["resources"]["jobs"].items()
        for task in job["tasks"]
    ]


def _job_parameters(job: dict[str, Any], params: list[str]) -> list[str]:
    """Fill ``{{job.parameters.x}}`` with the job parameter's default (what a bare run uses)."""
    defaults = {p["name"]: str(p["default"]) for p in job.get("parameters", [])}

    def one(match: re.Match[str]) -> str:
        assert match.group(1) in defaults, f"{{{{job.parameters.{match.group(1)}}}}} undefined"
        return defaults[match.group(1)]

    return [JOB_PARAMETER.sub(one, p) for p in params]


def _parameters(target: str, name: str) -> list[str]:
    job = BUNDLE["resources"]["jobs"][name]
    [task] = job["tasks"]
    raw = [str(p) for p in task["python_wheel_task"]["parameters"]]
    return _job_parameters(job, [str(p) for p in Resolver(target).fill(raw)])


def _flag(params: list[str], flag: str) -> str:
    return params[params.index(flag) + 1]


# -- structure -------------------------------------------------------------------------------


def test_top_level_structure() -> None:
    assert set(BUNDLE) <= BUNDLE_KEYS, set(BUNDLE) - BUNDLE_KEYS
    assert BUNDLE["bundle"]["name"] == "customerio-sink"
    assert set(BUNDLE["targets"]) == set(TARGETS)
    assert BUNDLE["targets"]["dev"]["mode"] == "development"
    assert BUNDLE["targets"]["dev"].get("default") is True
    prod = BUNDLE["targets"]["prod"]
    assert prod["mode"] == "production"
    assert prod["run_as"]["service_principal_name"] == "${var.service_principal}"
    for target in TARGETS:
        unknown = set(BUNDLE["targets"][target].get("variables") or {}) - set(BUNDLE["variables"])
        assert not unknown, f"{target} sets undeclared variables {unknown}"


def test_wheel_artefact_is_built_by_make_wheel_and_used_by_every_task() -> None:
    [artefact] = BUNDLE["artifacts"].values()
    assert artefact["type"] == "whl" and artefact["build"] == "make wheel"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^wheel:", makefile, re.M), "make wheel is missing"
    [source] = [f["source"] for f in artefact["files"]]
    setup = _setup_call()
    version = re.search(
        r'__version__ = "([^"]+)"',
        (ROOT / "customerio_sink" / "__version__.py").read_text(encoding="utf-8"),
    )
    assert version
    built = f"./dist/{_normalise(setup['name'])}-{version.group(1)}-py3-none-any.whl"
    assert fnmatch.fnmatch(built, source), (built, source)
    for job_name, _, task in _tasks():
        assert task["libraries"] == [{"whl": source}], job_name


def test_every_task_calls_the_console_script() -> None:
    scripts = _console_scripts()
    setup_name = _normalise(_setup_call()["name"])
    for job_name, _, task in _tasks():
        wheel_task = task["python_wheel_task"]
        assert _normalise(wheel_task["package_name"]) == setup_name, job_name
        target = scripts.get(wheel_task["entry_point"])
        assert target, f"{job_name}: entry point {wheel_task['entry_point']!r} not in setup.py"
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target


def test_every_job_has_a_continuous_and_an_available_now_variant() -> None:
    jobs = BUNDLE["resources"]["jobs"]
    for stream in STREAMS:
        continuous, available_now = jobs[stream], jobs[f"{stream}_available_now"]
        assert continuous["continuous"]["pause_status"] == "${var.continuous_status}"
        assert "continuous" not in available_now and "schedule" in available_now
        assert available_now["max_concurrent_runs"] == 1
        for target in TARGETS:
            stream_params = _parameters(target, stream)
            assert _flag(stream_params, "--trigger") == "10 seconds"
            assert _flag(_parameters(target, f"{stream}_available_now"), "--trigger") == (
                "available-now"
            )
    assert {"replay_dead_letters", "drain_retry_queue"} <= set(jobs)
    assert set(OPS) <= set(jobs)  # erase, retention, maintenance, alerts


def test_clusters_come_from_the_recommended_settings() -> None:
    cluster = BUNDLE["variables"]["sink_cluster"]
    assert cluster["type"] == "complex"
    settings = cluster["default"]
    assert {"spark_version", "node_type_id", "num_workers", "data_security_mode"} <= set(settings)
    assert "spark.databricks.delta.commitInfo.userMetadata" in settings["spark_conf"]
    for name, job in BUNDLE["resources"]["jobs"].items():
        clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
        assert clusters == {"sink": "${var.sink_cluster}"}, name
        assert all(t["job_cluster_key"] == "sink" for t in job["tasks"]), name


@pytest.mark.parametrize("target", TARGETS)
def test_resources_fit_databricks_models(target: str) -> None:
    from databricks.bundles.jobs import ClusterSpec, Job
    from databricks.bundles.schemas import Schema
    from databricks.bundles.volumes import Volume

    resolver = Resolver(target)
    resources = resolver.fill(BUNDLE["resources"])
    assert set(resources) == {"jobs", "schemas", "volumes"}
    for name, job in resources["jobs"].items():
        try:
            Job.from_dict(job)
        except (ValueError, TypeError) as exc:
            pytest.fail(f"job {name} ({target}): {exc}")
    for schema in resources["schemas"].values():
        Schema.from_dict(schema)
    for volume in resources["volumes"].values():
        Volume.from_dict(volume)
    ClusterSpec.from_dict(resolver.fill("${var.sink_cluster}"))
    # The models are strict: a misspelt field is an error, not silently dropped.
    with pytest.raises(ValueError, match="Unexpected field"):
        Job.from_dict({**resources["jobs"]["sync_events"], "taskz": []})


# -- parameters are the job's own flags -------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(BUNDLE["resources"]["jobs"]))
def test_parameters_parse_with_the_jobs_own_parser(target: str, name: str) -> None:
    params = _parameters(target, name)
    job = params[0]
    assert job in JOBS + OPS, f"{name}: first parameter {job!r} is not a job ({JOBS + OPS})"
    parser = importlib.import_module(f"streaming_jobs.{job}").build_parser()
    known = set(parser._option_string_actions)
    unknown = [p for p in params[1:] if p.startswith("--") and p not in known]
    assert not unknown, f"{name}: {unknown} are not flags of {job}"
    assert not [p for p in params if "${" in p or "{{" in p], params
    try:
        args = parser.parse_args(params[1:])
    except SystemExit as exc:  # argparse printed the one-line reason to stderr
        pytest.fail(f"{name} ({target}): {job} rejects its bundle parameters (exit {exc.code})")
    # The ledger lives in Unity Catalog.
    assert args.ledger_schema.endswith(".customerio_ledger")
    assert args.journal_dir.startswith("/Volumes/") and args.journal_dir.endswith(
        f"/{target}/journal"
    )
    if job in OPS and job != "erase":  # retention, maintenance, alerts send nothing
        return
    # The key is a Databricks secret, never a parameter.
    assert (args.secret_scope, args.secret_key) == ("customerio", "pipelines-api-key")
    assert args.region in ("us", "eu") and not args.dry_run


@pytest.mark.parametrize("target", TARGETS)
def test_one_checkpoint_per_query_on_the_volume(target: str) -> None:
    jobs = BUNDLE["resources"]["jobs"]
    seen: dict[str, str] = {}
    for stream in STREAMS:
        checkpoint = _flag(_parameters(target, stream), "--checkpoint")
        assert checkpoint.startswith("/Volumes/") and checkpoint.endswith(
            f"/{target}/{stream}/checkpoint"
        )
        assert checkpoint not in seen, f"{stream} and {seen.get(checkpoint)} share a checkpoint"
        seen[checkpoint] = stream
        # The available-now twin is the same query with another trigger: same checkpoint.
        twin = _flag(_parameters(target, f"{stream}_available_now"), "--checkpoint")
        assert twin == checkpoint
    for name in jobs:
        params = _parameters(target, name)
        if "--checkpoint" in params:
            assert _flag(params, "--checkpoint") in seen
    journals = {_flag(_parameters(target, name), "--journal-dir") for name in jobs}
    assert len(journals) == 1, journals


def test_the_default_replay_sends_nothing() -> None:
    params = _parameters("prod", "replay_dead_letters")
    assert _flag(params, "--where") == "1 = 0"
    drain = _parameters("prod", "drain_retry_queue")
    assert "--drain-retry-queue" in drain and int(_flag(drain, "--max-messages")) > 0


def test_rate_budgets_fit_customer_ios_workspace_budget() -> None:
    # rate_requests is the key's whole budget (Customer.io: 3000 requests per 3 s per
    # workspace): every sending job passes the same value and the same journal directory, so
    # they meet in one budget directory and split it instead of each taking it all.
    for target in TARGETS:
        budget = int(Resolver(target).fill("${var.rate_requests}"))
        assert 0 < budget <= 3000, (target, budget)
        senders = [
            _parameters(target, name)
            for name in BUNDLE["resources"]["jobs"]
            if "--rate-requests" in _parameters(target, name)
        ]
        assert len(senders) >= 2 * len(STREAMS)
        assert {int(_flag(p, "--rate-requests")) for p in senders} == {budget}
        assert len({_flag(p, "--journal-dir") for p in senders}) == 1, target


def test_every_sync_writes_metrics_when_the_alerts_job_reads_them() -> None:
    jobs = BUNDLE["resources"]["jobs"]
    if "alerts" not in jobs:
        return
    syncs = [name for name in jobs if _parameters("prod", name)[0] in STREAMS]
    assert len(syncs) == 2 * len(STREAMS), syncs  # continuous and available-now
    for target in TARGETS:
        missing = [name for name in syncs if "--metrics" not in _parameters(target, name)]
        assert not missing, f"{missing} lack --metrics: the alerts job would read no rows"
