#!/usr/bin/env bash
# Validate and deploy the Databricks Asset Bundle (databricks.yml) to one target.
#
#   scripts/deploy.sh dev                    # validate + deploy to dev (builds the wheel)
#   scripts/deploy.sh prod --confirm-prod    # prod: only from a release tag vX.Y.Z = the version
#   scripts/deploy.sh dev --validate-only    # bundle validate only
#
# Needs the Databricks CLI with bundle support (v0.218 or later; not the legacy `databricks-cli`
# from PyPI) and workspace credentials (DATABRICKS_HOST plus a token or OAuth, or a profile).
# Bundle variables come from the environment: BUNDLE_VAR_service_principal=<app id> for prod.
# Exit codes: 0 deployed (or validated), 2 refused (bad arguments, prod not confirmed, not a
# release tag), 3 no usable Databricks CLI, other: the CLI's own failure.
set -euo pipefail

usage() {
  echo "usage: scripts/deploy.sh <dev|prod> [--confirm-prod] [--validate-only]" >&2
  exit 2
}

target="${1:-}"
[[ "$target" == "dev" || "$target" == "prod" ]] || usage
shift
confirm=no
validate_only=no
for arg in "$@"; do
  case "$arg" in
    --confirm-prod) confirm=yes ;;
    --validate-only) validate_only=yes ;;
    *) echo "deploy: unknown option $arg" >&2; usage ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [[ "$target" == "prod" && "$validate_only" == "no" ]]; then
  if [[ "$confirm" != "yes" ]]; then
    echo "deploy: refusing to deploy to prod without --confirm-prod" >&2
    exit 2
  fi
  version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' customerio_sink/__version__.py)"
  tag="$(git describe --tags --exact-match HEAD 2>/dev/null || true)"
  if [[ "$tag" != "v$version" ]]; then
    echo "deploy: refusing to deploy to prod: HEAD is not the release tag v$version" \
      "(found: ${tag:-no tag}); see docs/deployment.md, 'Releases'" >&2
    exit 2
  fi
  if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    echo "deploy: refusing to deploy to prod from a checkout with uncommitted changes" >&2
    exit 2
  fi
fi

if ! command -v databricks >/dev/null 2>&1 || ! databricks bundle --help >/dev/null 2>&1; then
  echo "deploy: no Databricks CLI with 'bundle' on PATH (the PyPI package databricks-cli is the" \
    "legacy CLI without it); install it as docs/deployment.md says" >&2
  exit 3
fi

echo "deploy: databricks bundle validate -t $target"
databricks bundle validate -t "$target"
if [[ "$validate_only" == "yes" ]]; then
  exit 0
fi
echo "deploy: databricks bundle deploy -t $target"
databricks bundle deploy -t "$target"
