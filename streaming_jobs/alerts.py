"""Evaluate the alert rules over the metrics table; what fires goes to the alerts table and,
optionally, a webhook (its URL from an environment variable or a Databricks secret)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from customerio_sink.errors import ConfigError
from streaming_jobs import _common, _ops

NAME = "alerts"

EXAMPLES = """\
  # every 15 minutes: last hour against the day before, Slack webhook from a secret
  python -m streaming_jobs.alerts --ledger-schema main.customerio_ledger \\
      --journal-dir /Volumes/main/customerio/state/prod/journal \\
      --min-success-rate 0.99 --max-dead-letter-rate 0.01 --max-lag-versions 50 \\
      --webhook-secret customerio/alerts-webhook
"""


def build_parser() -> _common.JobParser:
    parser = _ops.ledger_parser(
        NAME, "Evaluate alert rules over the metrics table (written with --metrics).", EXAMPLES
    )
    rules = parser.add_argument_group("rules (0 or a negative number turns one off)")
    rules.add_argument("--window-minutes", type=_common.positive(int), default=60, metavar="M")
    rules.add_argument("--min-success-rate", type=float, default=0.99, metavar="X")
    rules.add_argument("--max-dead-letter-rate", type=float, default=0.01, metavar="Y")
    rules.add_argument("--max-lag-versions", type=int, default=100, metavar="Z")
    rules.add_argument(
        "--volume-ratio",
        type=float,
        default=3.0,
        metavar="R",
        help="fire when the window's rows are R times above or below the trailing mean",
    )
    rules.add_argument("--baseline-windows", type=_common.positive(int), default=24, metavar="N")
    rules.add_argument("--min-baseline-rows", type=int, default=100, metavar="N")
    hook = parser.add_argument_group("webhook (optional; the URL is a secret)")
    where = hook.add_mutually_exclusive_group()
    where.add_argument("--webhook-env", metavar="NAME", help="environment variable with the URL")
    where.add_argument("--webhook-secret", metavar="SCOPE/KEY", help="Databricks secret")
    hook.add_argument(
        "--webhook-optional",
        action="store_true",
        help="a webhook secret that cannot be read is reported and skipped: alerts still go "
        "to the alerts table (without it, an unreadable secret fails the job, exit 2)",
    )
    parser.add_argument(
        "--fail-on-alert",
        action="store_true",
        help="exit 1 when an alert fires (the job's own failure notification then tells)",
    )
    return parser


def _off(value: float) -> float | None:
    return None if value <= 0 else value


def _webhook_url(args: Any) -> str | None:
    """The webhook URL from ``--webhook-env`` / ``--webhook-secret`` (None: the table only)."""
    from customerio_sink.spark.keys import read_databricks_secret

    if args.webhook_env:
        return os.environ.get(args.webhook_env) or None
    if not args.webhook_secret:
        return None
    scope, _, key = args.webhook_secret.partition("/")
    try:
        return read_databricks_secret(scope, key) or None
    except Exception as exc:
        if not args.webhook_optional:
            raise ConfigError(
                f"--webhook-secret {args.webhook_secret}: cannot be read "
                f"({type(exc).__name__}); create it, or add --webhook-optional to send "
                "alerts to the alerts table only"
            ) from None
    _common.say(
        f"{NAME}: webhook secret {args.webhook_secret} not readable: alerts go to the "
        "alerts table only (--webhook-optional)"
    )
    return None


def main(argv: Sequence[str] | None = None, spark: Any = None) -> int:
    """Evaluate the rules; exit 0 (1 with --fail-on-alert when one fired; 2 bad arguments)."""
    args = _common.parse(build_parser(), argv)
    if isinstance(args, int):
        return args

    def work(session: Any, ledger: Any) -> list[dict[str, Any]]:
        from customerio_sink.spark.alerts import AlertRules, evaluate_alerts

        url = _webhook_url(args)
        lag = _off(args.max_lag_versions)
        rules = AlertRules(
            min_success_rate=_off(args.min_success_rate),
            max_dead_letter_rate=_off(args.max_dead_letter_rate),
            max_lag_versions=None if lag is None else int(lag),
            volume_ratio=_off(args.volume_ratio),
            baseline_windows=args.baseline_windows,
            min_baseline_rows=args.min_baseline_rows,
            window_minutes=args.window_minutes,
        )
        return evaluate_alerts(session, ledger, rules, webhook_url=url)

    code, fired = _ops.run_ops(NAME, args, work, spark)
    if code != _common.EXIT_OK:
        return code
    for alert in fired:
        _common.say(f"{NAME}: {alert['severity']}: {alert['rule']}: {alert['message']}")
    if not fired:
        _common.say(f"{NAME}: no alert in the last {args.window_minutes} minutes")
    return _common.EXIT_FAILED if fired and args.fail_on_alert else _common.EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
