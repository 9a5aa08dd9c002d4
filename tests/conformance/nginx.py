"""A real nginx on loopback, as the reverse proxy in front of the fault server.

The conformance suite checks the virtual proxy model (``ProxyCutoff``: ``cut_idle`` and
``error_page``) against what nginx really does. Each :class:`Nginx` runs its own nginx
process (one worker, no daemon, every path under a temporary folder, listening on
127.0.0.1 only), configured as people put nginx in front of a streaming API:
``proxy_buffering off``, HTTP/1.1 to the upstream, ``proxy_read_timeout`` as given
(nginx reads sub-second values such as ``300ms``, so the idle cutoff can be scaled).

Measured, and worth knowing when scaling time: nginx restarts a pending read timer only
when the new deadline is at least 300 ms past the old one (``NGX_TIMER_LAZY_DELAY`` in
its event timers), so reads less than 300 ms apart do not each restart
``proxy_read_timeout``: the cut can come up to 300 ms before "last read + timeout".
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType


def find_nginx() -> str | None:
    """The nginx binary: on ``PATH``, else Debian's ``/usr/sbin/nginx`` (not on every PATH)."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def nginx_version(binary: str) -> str:
    """``nginx/1.22.1``: what ``nginx -v`` prints (on stderr), without its prefix."""
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _duration(seconds: float) -> str:
    """nginx's time syntax, in milliseconds (``600ms``); at least 1 ms."""
    return f"{max(1, round(seconds * 1000))}ms"


class Nginx:
    """nginx proxying ``127.0.0.1:port`` to ``upstream`` (``http://127.0.0.1:PORT``).

    ``read_timeout``: ``proxy_read_timeout`` in real seconds, the longest wait between two
    reads from the upstream. ``keepalive_timeout``: how long a client connection may stay
    idle between requests.
    """

    def __init__(
        self,
        binary: str,
        upstream: str,
        workdir: Path,
        *,
        read_timeout: float,
        keepalive_timeout: float = 75.0,
        buffering: bool = False,
        gzip: bool = False,
    ) -> None:
        self.binary = binary
        self.upstream = upstream.rstrip("/")
        self.workdir = Path(workdir)
        self.read_timeout = read_timeout
        self.keepalive_timeout = keepalive_timeout
        self.buffering = buffering
        self.gzip = gzip
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    def config(self) -> str:
        d = self.workdir
        temp = "\n".join(f"    {kind}_temp_path {d / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return f"""\
# Written by tests/conformance/nginx.py: one process, loopback only, everything under {d}.
daemon off;
master_process off;
worker_processes 1;
pid {d / "nginx.pid"};
error_log {self.error_log} info;
events {{ worker_connections 256; }}
http {{
    access_log {d / "access.log"};
{temp}
    keepalive_timeout {_duration(self.keepalive_timeout)};
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass {self.upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering {"on" if self.buffering else "off"};{self._gzip()}
            proxy_request_buffering off;
            proxy_connect_timeout 5s;
            proxy_send_timeout 60s;
            proxy_read_timeout {_duration(self.read_timeout)};
        }}
    }}
}}
"""

    def _gzip(self) -> str:
        return "\n            gzip on;\n            gzip_types text/event-stream application/json;" if self.gzip else ""

    def start(self, attempts: int = 5) -> Nginx:
        """Start nginx on a free port and wait until it accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):  # another process may take the free port before nginx binds it
            self.port = free_port()
            conf = self.workdir / "nginx.conf"
            conf.write_text(self.config())
            self.process = subprocess.Popen(
                [self.binary, "-p", str(self.workdir), "-e", str(self.error_log), "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_listening(timeout=10.0):
                return self
            self.stop()
        raise RuntimeError(f"nginx did not start; its error log ends with:\n{self.log_tail()}")

    def _wait_listening(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.01)
        return False

    def stop(self) -> None:
        """Fast shutdown (SIGTERM), then SIGKILL if nginx has not exited within 5 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.error_log.read_text().splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
