"""``python -m pytest_claude_timeout serve``: the fault server from the command line.

For clients the in-process simulation cannot reach (another process, a service under
test, another language's SDK): it prints the base URL, serves until Ctrl-C or SIGTERM,
then prints what it saw (the attempts' timeline) and exits 0::

    python -m pytest_claude_timeout serve --scenario proxy_cutoff:60 --time-scale 0.01
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Sequence

from .api.responders import recorded
from .server.fault_server import DEFAULT_TIME_SCALE, FaultServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_claude_timeout", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the fake Anthropic API with scenarios on loopback",
        description="Serve the fake Anthropic API on loopback, playing scenarios in scaled real time.",
    )
    serve.add_argument(
        "--scenario", "-s", action="append", default=[], metavar="SPEC",
        help="a scenario: name, name:number (its main parameter) or name:key=value,key=value; repeatable",
    )
    serve.add_argument(
        "--time-scale", type=_time_scale, default=DEFAULT_TIME_SCALE, metavar="F",
        help=f"real seconds per scenario second (default {DEFAULT_TIME_SCALE:g}: 1 scenario second = "
        f"{DEFAULT_TIME_SCALE * 1000:g} ms); scale the client's timeouts by the same factor",
    )
    serve.add_argument(
        "--reply", action="append", default=[], metavar="FILE",
        help="answer Messages calls with a recorded response (an SSE transcript, or a Message as .json); "
        "repeatable: one file per successive call",
    )
    serve.add_argument("--port", type=_port, default=0, help="TCP port on loopback (default: any free port)")
    serve.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1); others are refused")
    serve.add_argument(
        "--resolver", action="store_true",
        help="also serve a DNS stub on loopback (port 53, needs root) to play connect-phase scenarios",
    )
    return parser


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 0 (any free port) to 65535, not {text!r}")
    return int(text)


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number of real seconds per scenario second, not {text!r}")
    return value


def serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        replies = [recorded(path) for path in args.reply] or None
        server = FaultServer(
            *args.scenario, time_scale=args.time_scale, host=args.host, port=args.port, resolver=args.resolver, respond=replies
        )
        with server:
            print(server.base_url, flush=True)
            described = ", ".join(s.describe() for s in server.scenarios) or "healthy network"
            print(f"serving the fake Anthropic API: {described}; time scale {server.time_scale:g}", file=sys.stderr)
            if server.resolver is not None:
                import shlex

                from .server.sandbox import command

                print(f"resolver: {server.resolver.describe()}", file=sys.stderr)
                print(
                    "run the client with the stub as its only resolver, pointed at "
                    f"{server.resolver.url}:\n  {shlex.join(command(['CMD', '...'], server.resolver))}",
                    file=sys.stderr,
                )
            print("Ctrl-C to stop", file=sys.stderr, flush=True)
            while not stop.wait(0.5):
                pass
        print(server.timeline(), file=sys.stderr, flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return serve(args)
    except (ValueError, OSError) as exc:  # a bad scenario, a non-loopback host, a busy port
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
