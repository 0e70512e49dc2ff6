"""Alert rules over the ``metrics`` table, fired alerts in an ``alerts`` table and a webhook.

:func:`evaluate_alerts` looks at the metrics rows of the last ``window_minutes`` per job and
fires when:

- ``success_rate``: acked / (acked + dead-lettered + parked) is below ``min_success_rate``;
- ``dead_letter_rate``: dead letters / rows in is above ``max_dead_letter_rate``;
- ``lag``: the largest ``lag_versions`` (source versions not yet read) is above
  ``max_lag_versions``;
- ``volume``: rows in differ from the trailing baseline (the mean of the ``baseline_windows``
  windows before, when that mean is at least ``min_baseline_rows``) by more than
  ``volume_ratio`` times (too few or too many).

A window without rows fires nothing (that is what ``volume`` is for). Each alert is one row in
``alerts`` and, with ``webhook_url``, one JSON ``POST`` (Slack-style ``{"text": ...}`` plus the
alert's fields); the webhook's status (or 0 when it could not be reached) is kept in the row.
Nothing in an alert names a person or a key.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from customerio_sink.spark.ops_tables import append_ops, ensure_ops_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from customerio_sink.spark.ledger import Ledger

__all__ = ["AlertRules", "evaluate_alerts", "post_webhook"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertRules:
    """Thresholds; ``None`` turns a rule off."""

    min_success_rate: float | None = 0.99
    max_dead_letter_rate: float | None = 0.01
    max_lag_versions: int | None = 100
    volume_ratio: float | None = 3.0
    baseline_windows: int = 24
    min_baseline_rows: int = 100
    window_minutes: int = 60


def post_webhook(url: str, alert: dict[str, Any], timeout_s: float = 10.0) -> int:
    """POST one alert as JSON; the HTTP status, or 0 when the hook could not be reached."""
    body = {"text": f"[customerio-sink] {alert['message']}", **alert}
    request = urllib.request.Request(
        url,
        data=json.dumps(body, default=str).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError as exc:
        log.warning("alert webhook not reached: %s", type(exc).__name__)
        return 0


def _fire(
    rule: str, job: str, value: float, threshold: float, message: str, start: Any, end: Any
) -> dict[str, Any]:
    return {
        "rule": rule,
        "job": job,
        "severity": "critical" if rule in ("success_rate", "lag") else "warning",
        "value": float(value),
        "threshold": float(threshold),
        "message": f"{job}: {message}",
        "window_start": start,
        "window_end": end,
    }


def evaluate_alerts(
    spark: SparkSession,
    ledger: Ledger,
    rules: AlertRules | None = None,
    *,
    now: datetime | None = None,
    webhook_url: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluate ``rules`` over the metrics table; append and return the alerts that fire."""
    rules = rules or AlertRules()
    now = now or datetime.now(timezone.utc)
    start = now - timedelta(minutes=rules.window_minutes)
    if not ledger._exists(spark, "metrics"):
        return []
    fired: list[dict[str, Any]] = []
    for r in _per_job(ledger.read(spark, "metrics"), rules, start, now):
        fired += _job_alerts(r, rules, start, now)
    for alert in fired:
        alert["fired_at"] = now
        alert["webhook_status"] = post_webhook(webhook_url, alert) if webhook_url else None
        log.warning("alert %s: %s", alert["rule"], alert["message"])
    if fired:
        ensure_ops_table(spark, ledger, "alerts")
        append_ops(spark, ledger, "alerts", fired)
    return fired


def _per_job(metrics: DataFrame, rules: AlertRules, start: datetime, now: datetime) -> list[Any]:
    """One row per job of the metrics rows finished in the window (``start`` to ``now``) and
    the rows in of the ``baseline_windows`` windows before it."""
    from pyspark.sql import functions as F

    window = timedelta(minutes=rules.window_minutes)
    micros = int((now - window * (rules.baseline_windows + 1)).timestamp() * 1_000_000)
    recent = metrics.where(F.col("finished_at") >= F.timestamp_micros(F.lit(micros)))
    start_us = int(start.timestamp() * 1_000_000)
    now_us = int(now.timestamp() * 1_000_000)
    in_window = (F.col("finished_at") >= F.timestamp_micros(F.lit(start_us))) & (
        F.col("finished_at") <= F.timestamp_micros(F.lit(now_us))
    )
    return (
        recent.groupBy("job")
        .agg(
            F.sum(F.when(in_window, F.col("rows_in")).otherwise(0)).alias("rows_in"),
            F.sum(F.when(in_window, F.col("acked")).otherwise(0)).alias("acked"),
            F.sum(F.when(in_window, F.col("dead_lettered")).otherwise(0)).alias("dead"),
            F.sum(F.when(in_window, F.col("parked")).otherwise(0)).alias("parked"),
            F.max(F.when(in_window, F.col("lag_versions"))).alias("lag"),
            F.count(F.when(in_window, 1)).alias("batches"),
            F.sum(
                F.when(
                    (F.col("finished_at") < F.timestamp_micros(F.lit(start_us))), F.col("rows_in")
                ).otherwise(0)
            ).alias("baseline_rows"),
        )
        .collect()
    )


def _job_alerts(r: Any, rules: AlertRules, start: datetime, now: datetime) -> list[dict[str, Any]]:
    """The alerts one job's row of :func:`_per_job` fires: the window's rates and lag (when
    it has batches), then its volume against the baseline."""
    fired = _rate_alerts(r, rules, start, now) if r.batches else []
    rows_in = int(r.rows_in or 0)
    baseline = int(r.baseline_rows or 0) / rules.baseline_windows
    if (
        rules.volume_ratio is not None
        and baseline >= rules.min_baseline_rows
        and (rows_in * rules.volume_ratio < baseline or rows_in > baseline * rules.volume_ratio)
    ):
        fired.append(
            _fire(
                "volume",
                r.job,
                rows_in,
                baseline,
                f"{rows_in} rows in the last {rules.window_minutes} min against a trailing "
                f"mean of {baseline:.0f} (more than {rules.volume_ratio}x off)",
                start,
                now,
            )
        )
    return fired


def _rate_alerts(r: Any, rules: AlertRules, start: datetime, now: datetime) -> list[dict[str, Any]]:
    """The success-rate, dead-letter-rate and lag alerts of one job's window."""
    job = r.job
    final = int(r.acked or 0) + int(r.dead or 0) + int(r.parked or 0)
    rows_in = int(r.rows_in or 0)
    fired: list[dict[str, Any]] = []
    rate = int(r.acked or 0) / final if final else 1.0
    if rules.min_success_rate is not None and rate < rules.min_success_rate:
        fired.append(
            _fire(
                "success_rate",
                job,
                rate,
                rules.min_success_rate,
                f"success rate {rate:.2%} below {rules.min_success_rate:.2%}",
                start,
                now,
            )
        )
    dead_rate = int(r.dead or 0) / rows_in if rows_in else 0.0
    if rules.max_dead_letter_rate is not None and dead_rate > rules.max_dead_letter_rate:
        fired.append(
            _fire(
                "dead_letter_rate",
                job,
                dead_rate,
                rules.max_dead_letter_rate,
                f"dead-letter rate {dead_rate:.2%} above {rules.max_dead_letter_rate:.2%}",
                start,
                now,
            )
        )
    if rules.max_lag_versions is not None and r.lag is not None and r.lag > rules.max_lag_versions:
        fired.append(
            _fire(
                "lag",
                job,
                r.lag,
                rules.max_lag_versions,
                f"{r.lag} source versions behind (limit {rules.max_lag_versions})",
                start,
                now,
            )
        )
    return fired


def rules_from_dict(values: dict[str, Any]) -> AlertRules:
    """:class:`AlertRules` from a dict (unknown names are an error)."""
    known = set(asdict(AlertRules()))
    unknown = sorted(set(values) - known)
    if unknown:
        from customerio_sink.errors import ConfigError

        raise ConfigError(f"alert rules: unknown {', '.join(unknown)} (known: {sorted(known)})")
    return AlertRules(**values)
