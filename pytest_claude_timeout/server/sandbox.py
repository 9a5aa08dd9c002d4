"""Run a command whose system resolver is the fault server's DNS stub, and nothing else.

DNS failures must be played to a real client through its real resolver library (glibc's
``getaddrinfo``, Node's ``dns.lookup``) without a single query leaving the machine. The
command runs in a new mount (and UTS) namespace where ``/etc/resolv.conf`` names only the
stub on loopback, ``/etc/nsswitch.conf`` says ``hosts: files dns`` (no systemd-resolved,
mDNS or other module that could ask elsewhere), ``/etc/hosts`` knows only localhost, and
nscd's socket is hidden. The files are checked after mounting; if anything is not as
written the command is not run.

``command(argv, resolver)`` builds the command line (``unshare`` from util-linux; root, or
unprivileged user namespaces with ``--user``); :func:`unavailable` says why it cannot run
here, if it cannot. Inside the namespace this module's ``main`` does the mounts, then
``exec``\\ s the command::

    unshare --mount --uts --propagation private python -m pytest_claude_timeout.server.sandbox \\
        --nameserver 127.0.53.4 --timeout 5 --attempts 2 -- CMD ...
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .resolver import Resolver

NSSWITCH = "hosts: files dns\n"
HOSTS = "127.0.0.1 localhost\n::1 localhost\n"
NSCD = ("/run/nscd", "/var/run/nscd", "/var/cache/nscd")
GLIBC_TIMEOUT, GLIBC_ATTEMPTS = 5, 2
"""glibc's defaults (resolv.conf(5)): 5 s per try, 2 tries."""


def resolv_conf(nameserver: str, timeout: int = GLIBC_TIMEOUT, attempts: int = GLIBC_ATTEMPTS) -> str:
    """Only the stub; no search list (the host's domain would add queries)."""
    return f"nameserver {nameserver}\noptions timeout:{timeout} attempts:{attempts}\n"


def command(
    argv: Sequence[str], resolver: Resolver | str, *, timeout: int = GLIBC_TIMEOUT, attempts: int = GLIBC_ATTEMPTS
) -> list[str]:
    """``argv`` wrapped to run with ``resolver`` (a Resolver or its address) as the only
    resolver. ``timeout`` / ``attempts``: the resolver library's settings (whole seconds;
    glibc's defaults), e.g. scaled down with the fault server's time scale."""
    address = resolver if isinstance(resolver, str) else resolver.address
    prefix = ["unshare", "--mount", "--uts", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    return [
        *prefix, sys.executable, "-m", "pytest_claude_timeout.server.sandbox",
        "--nameserver", address, "--timeout", str(timeout), "--attempts", str(attempts), "--", *argv,
    ]


def unavailable() -> str | None:
    """Why sandboxed commands cannot run on this machine (``None``: they can)."""
    if not sys.platform.startswith("linux"):
        return "needs Linux namespaces (unshare)"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "needs unshare and mount (util-linux)"
    probe = command(["true"], "127.0.0.1")
    try:
        done = subprocess.run([*probe[:probe.index(sys.executable)], "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if done.returncode != 0:
        return f"cannot create a mount namespace here: {done.stderr.decode(errors='replace').strip()}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.53.254", 53))
    except OSError as exc:
        return f"the DNS stub needs UDP port 53 on loopback (root): {exc}"
    finally:
        sock.close()
    return None


def _mount(source: str, target: str) -> None:
    subprocess.run(["mount", "--bind", source, target], check=True, capture_output=True)


def enter(nameserver: str, timeout: int, attempts: int) -> None:
    """Inside the new namespaces: make the stub the only resolver, and check it."""
    folder = tempfile.mkdtemp(prefix="claude-fault-sandbox-")
    files = {
        "/etc/resolv.conf": resolv_conf(nameserver, timeout, attempts),
        "/etc/nsswitch.conf": NSSWITCH,
        "/etc/hosts": HOSTS,
    }
    for target, text in files.items():
        source = os.path.join(folder, os.path.basename(target))
        with open(source, "w") as f:
            f.write(text)
        if not os.path.exists(target):
            raise SystemExit(f"sandbox: {target} does not exist: cannot replace it")
        _mount(source, target)
    for path in NSCD:
        if os.path.isdir(path):
            subprocess.run(["mount", "-t", "tmpfs", "tmpfs", path], check=True, capture_output=True)
    for target, text in files.items():
        with open(target) as f:
            if f.read() != text:
                raise SystemExit(f"sandbox: {target} is not the sandbox's own: refusing to run")
    socket.sethostname("sandbox")  # no domain part: glibc adds no search domain


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_claude_timeout.server.sandbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nameserver", required=True)
    parser.add_argument("--timeout", type=int, default=GLIBC_TIMEOUT)
    parser.add_argument("--attempts", type=int, default=GLIBC_ATTEMPTS)
    parser.add_argument("argv", nargs="+")
    args = parser.parse_args(argv)
    if not args.nameserver.startswith("127."):
        raise SystemExit("sandbox: the nameserver must be on loopback")
    enter(args.nameserver, args.timeout, args.attempts)
    os.execvp(args.argv[0], args.argv)
    return 127  # unreachable


if __name__ == "__main__":
    sys.exit(main())
