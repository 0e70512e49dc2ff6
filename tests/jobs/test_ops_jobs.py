"""The operations jobs through the console script: erase, retention, maintenance, alerts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from customerio_sink.emulator import Emulator
from customerio_sink.spark.ledger import Ledger
from streaming_jobs import OPS, cli


@pytest.mark.parametrize("name", OPS)
def test_every_ops_job_has_help_and_is_listed(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"python -m streaming_jobs.{name}" in out and "examples:" in out
    assert cli.run(["--help"]) == 0
    assert name in capsys.readouterr().out


def test_bad_ops_arguments_are_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["retention", "--ledger-path", "/tmp/x"]) == 2
    assert "give --days" in capsys.readouterr().err
    assert cli.run(["retention", "--ledger-path", "/tmp/x", "--table-days", "acks"]) == 2
    assert "TABLE=DAYS" in capsys.readouterr().err


@pytest.mark.spark
def test_retention_alerts_and_erase_jobs_run(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    ledger_path = str(tmp_path / "ledger")
    ledger = Ledger(path=ledger_path)
    ledger.ensure_tables(spark)
    now = datetime.now(timezone.utc)
    rows = [
        {
            "job": "j",
            "run_id": "r",
            "batch_id": b,
            "endpoint": "/v1/batch",
            "status": 200,
            "attempts": 1,
            "latency_ms": 1.0,
            "request_bytes": 1,
            "message_count": 1,
            "error_class": None,
            "started_at": now - timedelta(days=age),
        }
        for b, age in ((0, 40), (1, 2))
    ]
    ledger.append_rows(spark, rows, "requests")
    from streaming_jobs import alerts, erase, retention

    argv = ["--ledger-path", ledger_path, "--days", "30", "--no-vacuum"]
    assert retention.main(argv, spark=spark) == 0
    assert "requests: 1 rows older than 30 days deleted" in capsys.readouterr().out
    assert [r.batch_id for r in ledger.read(spark, "requests").collect()] == [1]

    assert alerts.main(["--ledger-path", ledger_path, "--fail-on-alert"], spark=spark) == 0
    assert "no alert" in capsys.readouterr().out

    requests = str(tmp_path / "requests")
    spark.createDataFrame([("user-7", True)], "user_id STRING, suppress BOOLEAN").write.format(
        "delta"
    ).save(requests)
    monkeypatch.setenv("CIO_ERASE_TEST_KEY", "erase-job-key")
    monkeypatch.setenv("CIO_ERASE_HASH_KEY", "hash-key")
    with Emulator(keys=("erase-job-key",)) as emu:
        code = erase.main(
            [
                "--requests",
                requests,
                "--ledger-path",
                ledger_path,
                "--endpoint",
                emu.url,
                "--api-key-env",
                "CIO_ERASE_TEST_KEY",
                "--hash-key",
                "env:CIO_ERASE_HASH_KEY",
                "--rate-requests",
                "0",
            ],
            spark=spark,
        )
        sent = sorted(m["event"] for m in emu.messages("track"))
    out = capsys.readouterr().out
    assert code == 0, out
    assert sent == ["User Deleted", "User Suppressed"]
    assert "1 people erased, 0 not delivered" in out
    audit = ledger.read(spark, "erasure_audit").collect()
    assert [(a.erased_by, a.suppressed, a.delivery) for a in audit] == [("erase", True, "acked")]
    assert "erase-job-key" not in out and "user-7" not in str(audit[0].asDict())


@pytest.mark.spark
def test_alerts_without_a_webhook_secret_still_reach_the_table(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from customerio_sink.spark.ops_tables import append_ops, ensure_ops_table
    from streaming_jobs import alerts

    ledger_path = str(tmp_path / "ledger")
    ledger = Ledger(path=ledger_path)
    ensure_ops_table(spark, ledger, "metrics")
    now = datetime.now(timezone.utc)
    failing = {"job": "j", "run_id": "r", "batch_id": 0, "rows_in": 10, "acked": 5}
    failing.update(dead_lettered=5, parked=0, success_rate=0.5, dead_letter_rate=0.5)
    append_ops(spark, ledger, "metrics", [{**failing, "started_at": now, "finished_at": now}])
    # The secret does not exist here (no Databricks): the job says so in one line.
    argv = ["--ledger-path", ledger_path, "--webhook-secret", "customerio/alerts-webhook"]
    assert alerts.main(argv, spark=spark) == 2
    err = capsys.readouterr().err.strip()
    assert "--webhook-secret customerio/alerts-webhook" in err and "--webhook-optional" in err
    assert alerts.main([*argv, "--webhook-optional", "--fail-on-alert"], spark=spark) == 1
    out = capsys.readouterr().out
    assert "alerts table only" in out and "success_rate" in out
    stored = ledger.read(spark, "alerts").collect()
    assert sorted(a.rule for a in stored) == ["dead_letter_rate", "success_rate"]
    assert all(a.webhook_status is None for a in stored)
