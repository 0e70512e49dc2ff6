"""Packaging metadata. Tool configuration (ruff, mypy, pytest) lives in pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "customerio_sink" / "__version__.py").read_text()
).group(1)  # type: ignore[union-attr]

# On a cluster (Databricks runtimes ship pyspark, delta-spark, pyarrow and pandas) install the
# plain package, or [spark], whose floors every supported runtime already meets: nothing here
# replaces the runtime's own pyspark or delta-spark. [local] pins a pyspark/delta-spark pair whose
# Delta JARs resolve from Maven Central, for a laptop, the demo and CI.
SPARK = [
    "pyarrow>=12",
    "pandas>=1.5",
    # the sending engine finishes each batch's messageIds with numpy (engine/ids.py)
    "numpy>=1.22",
]
LOCAL = [
    "pyspark==4.0.1",
    "delta-spark==4.0.1",
    "pyarrow>=15",
    "pandas>=2.2,<3",
    "numpy>=1.22",
    # the Spark Connect client (tests run the sink against a local Connect server)
    "grpcio>=1.67",
    "grpcio-status>=1.67",
    "googleapis-common-protos>=1.65",
    "protobuf>=5.29.1",
    "zstandard>=0.23",
    # notebooks/11_reporting_and_analytics plots the dashboard (Databricks runtimes ship it).
    "matplotlib>=3.8",
]
# The matrix's Spark 3.5 leg (`make test-matrix`): the 3.5 line with the Delta release built for
# it, whose JARs (delta-spark_2.12) resolve from Maven Central.
SPARK35 = [
    "pyspark==3.5.7",
    "delta-spark==3.3.2",
    "pyarrow>=15",
    "pandas>=2.2,<3",
    "numpy>=1.22",
]
# The matrix's newest leg (`make test-matrix`): the newest pyspark/delta-spark pair that resolve
# together (delta-spark 4.4.0 allows pyspark <= 4.2.0; its JARs are delta-spark_4.2_2.13).
SPARK_NEWEST = [
    "pyspark==4.2.0",
    "delta-spark==4.4.0",
    "pyarrow>=15",
    "pandas>=2.2,<3",
    "numpy>=1.22",
]
# Optional PII protection of dead letters and the retry queue (customerio_sink.spark.protect): Fernet
# field encryption. Databricks runtimes already ship cryptography.
PROTECT = [
    "cryptography>=41",
]
DEV = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "chispa>=0.10",
    "ruff>=0.6",
    "mypy>=1.10",
    "hypothesis>=6.100",
    "types-requests",
    # Customer.io's official Data Pipelines client: the reference our payloads are compared to.
    "customerio-cdp-analytics==1.1.0",
    "matplotlib>=3.8",
    "pyinstrument>=4.6",
    # Build the wheel without reaching the package index (tests install it into a temp dir).
    "setuptools>=68",
    "wheel>=0.42",
    # tests/deploy reads the Databricks Asset Bundle (databricks.yml); the same floor as PROTECT
    # for tests/core/test_protect.py (plain strings: tests read these lists with literal_eval).
    "pyyaml>=6",
    "cryptography>=41",
    # Databricks' typed models of bundle resources (jobs, schemas, volumes): tests/deploy checks
    # databricks.yml's fields and enum values against them, without a workspace or the CLI.
    "databricks-bundles>=1.22,<2",
    # tests/notebooks runs every notebook in a real Jupyter kernel.
    "nbclient>=0.10",
    "nbformat>=5.10",
    "ipykernel>=6.29",
]

# The documentation site (mkdocs.yml, docs/): `make docs`, and `make test` builds it strictly.
DOCS = [
    "mkdocs>=1.6,<2",
    "mkdocs-material>=9.5",
    "mkdocstrings[python]>=1.0",
]

setup(
    name="customerio-sink",
    version=VERSION,
    description="Exactly-once Spark Structured Streaming sink from Delta Lake to Customer.io",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(
        include=["customerio_sink", "customerio_sink.*", "streaming_jobs", "checkpoints_template"]
    ),
    package_data={
        "customerio_sink": ["py.typed"],
        # Customer.io's Pipelines OpenAPI file: the emulator validates against it (data/README.md).
        "customerio_sink.emulator": ["data/*.json", "data/README.md"],
    },
    install_requires=[
        "requests>=2.31",
        "pydantic>=2.6,<3",
        "orjson>=3.9",
        "msgspec>=0.18",
        "jsonschema>=4.20",
    ],
    extras_require={
        "spark": SPARK,
        "local": LOCAL,
        "spark35": SPARK35,
        "spark_newest": SPARK_NEWEST,
        "protect": PROTECT,
        "dev": DEV,
        "docs": DOCS,
        "all": LOCAL + DEV + DOCS,
    },
    entry_points={
        "console_scripts": [
            "customerio-sink=streaming_jobs.cli:main",
            "customerio-emulator=customerio_sink.emulator.__main__:main",
        ],
    },
)
