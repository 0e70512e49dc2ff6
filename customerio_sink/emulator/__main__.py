"""Command line: ``python -m customerio_sink.emulator --port 8765`` (also ``customerio-emulator``).

Prints the URL and the validation source, serves until Ctrl-C (or SIGTERM), then prints the
final stats as JSON.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import orjson

from customerio_sink.emulator.emulator import Emulator

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m customerio_sink.emulator",
        description=(
            "Run the Customer.io emulator: the Data Pipelines API (POST /v1/identify|track|page|"
            "screen|group|alias|batch) and a read-only App API (GET /v1/campaigns, ...) on one "
            "loopback port. Control endpoints: GET /_emulator/stats, GET /_emulator/messages, "
            "POST /_emulator/reset, POST /_emulator/faults (JSON body of fault settings)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port to bind; 0 picks a free one (default %(default)s)",
    )
    parser.add_argument(
        "--key",
        action="append",
        dest="keys",
        metavar="KEY",
        help="accepted Pipelines write key; repeat for several (default test-key)",
    )
    parser.add_argument(
        "--app-key",
        action="append",
        dest="app_keys",
        metavar="KEY",
        help="accepted App API key (Bearer); repeat for several (default app-key)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="benchmark mode: no schema validation or message recording; ids still counted",
    )
    parser.add_argument(
        "--strict", action="store_true", help="treat every request as X-Strict-Mode: 1"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=3000,
        help="requests per window per key (default %(default)s)",
    )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=3.0,
        help="rate window in seconds (default %(default)s)",
    )
    parser.add_argument(
        "--openapi",
        metavar="PATH",
        help="the Pipelines OpenAPI file (default: $CUSTOMERIO_OPENAPI_PATH, else the copy shipped "
        "in the package)",
    )
    parser.add_argument(
        "--builtin-rules",
        action="store_true",
        help="validate with the built-in rules only (do not look for the OpenAPI file)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    emulator = Emulator(
        keys=tuple(args.keys or ("test-key",)),
        host=args.host,
        port=args.port,
        fast=args.fast,
        strict_default=args.strict,
        rate_limit=args.rate_limit,
        rate_window_s=args.rate_window,
        openapi_path=args.openapi,
        builtin_rules_only=args.builtin_rules,
        app_api_keys=tuple(args.app_keys or ("app-key",)),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with emulator:
        print(f"Customer.io emulator listening on {emulator.url}", flush=True)
        print(f"validation: {emulator.validation_source}", flush=True)
        print("mode: fast" if args.fast else "mode: full", flush=True)
        while not stop.wait(0.5):
            pass
    stats = emulator.stats().as_dict()
    sys.stdout.write(orjson.dumps(stats, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
