"""The engine without pytest: examples/without_pytest.py runs as a plain script."""

import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).with_name("without_pytest.py")


def test_the_script_runs_and_prints_its_timelines():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True, timeout=120).stdout

    assert out.startswith("gave up after 3 attempts, 181.3 virtual seconds\n")
    assert "=> ReadTimeout (read timeout 60 s) in headers" in out
    assert out.rstrip().endswith("after 45 virtual seconds")
