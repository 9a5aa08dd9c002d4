"""pytest loads the plugin in every run of every suite: importing it must stay cheap."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("anthropic", "httpx", "httpx2", "respx", "freezegun", "looptime", "aiohttp")

SCRIPT = f"""
import json, sys
import pytest_claude_timeout.plugin
heavy = {HEAVY!r}
print(json.dumps({{
    "plugin": "pytest_claude_timeout.plugin" in sys.modules,
    "imported": sorted(m for m in sys.modules if m.split(".")[0] in heavy),
}}))
"""


def test_importing_the_plugin_imports_no_heavy_module() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert found["plugin"] is True
    assert found["imported"] == []


def test_a_network_imports_aiohttp_only_when_the_code_under_test_does() -> None:
    # (anthropic itself imports aiohttp when its `aiohttp` extra is installed: not used here)
    script = (
        "import sys, pytest_claude_timeout as pct\n"
        "with pct.SimulatedNetwork():\n"
        "    before = 'aiohttp' in sys.modules\n"
        "    import aiohttp.connector\n"
        "    patched = aiohttp.connector.TCPConnector._create_connection.__module__\n"
        "print(before, patched, aiohttp.connector.TCPConnector._create_connection.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip().splitlines()[-1] == "False pytest_claude_timeout.transports.aiohttp_mock aiohttp.connector"
