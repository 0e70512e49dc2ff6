"""The GitHub Actions template: lint and test, build the wheel, validate the bundle, deploy to
dev from main and to prod from a release tag behind an approval environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
JOBS: dict[str, Any] = WORKFLOW["jobs"]


def _runs(job: str) -> str:
    return "\n".join(step.get("run", "") for step in JOBS[job]["steps"])


def _needs(job: str) -> list[str]:
    needs = JOBS[job].get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def test_triggers() -> None:
    on = WORKFLOW.get("on", WORKFLOW.get(True))  # YAML 1.1 reads a bare `on` as true
    assert on["push"]["branches"] == ["main"] and on["push"]["tags"] == ["v*"]
    assert "pull_request" in on


def test_pipeline_order() -> None:
    assert {"make lint", "make test"} <= set(_runs("test").splitlines())
    assert "make wheel" in _runs("wheel") and _needs("wheel") == ["test"]
    assert _needs("validate") == ["wheel"]
    assert "--validate-only" in _runs("validate")
    assert _needs("deploy-dev") == ["validate"] and _needs("deploy-prod") == ["validate"]


def test_dev_from_main_prod_from_tags_with_approval() -> None:
    dev, prod = JOBS["deploy-dev"], JOBS["deploy-prod"]
    assert "refs/heads/main" in dev["if"] and _runs("deploy-dev").strip() == (
        "scripts/deploy.sh dev"
    )
    assert "refs/tags/v" in prod["if"] and prod["environment"] == "production"
    assert _runs("deploy-prod").strip() == "scripts/deploy.sh prod --confirm-prod"
    for job in ("validate", "deploy-dev", "deploy-prod"):
        uses = [step.get("uses", "") for step in JOBS[job]["steps"]]
        assert any(u.startswith("databricks/setup-cli@") for u in uses), job
        assert "DATABRICKS_HOST" in JOBS[job]["env"], job
