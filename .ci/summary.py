"""Read tox's --result-json and judge the CI run: every expected environment ran, every
pytest run collected and passed tests, and the counts add up.

Usage: python .ci/summary.py RESULT.json TOX_EXIT_CODE ENV [ENV ...]
Prints one line per environment and a closing line ``ci: N passed, N failed``; exits 1
when anything is wrong (tox failed, an environment is missing, a run collected no test).
"""

from __future__ import annotations

import json
import os
import re
import sys

SUMMARY = re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+|no tests ran) in [\d.]+s\b")
COUNT = re.compile(r"(\d+) ([a-z]+)")
NO_TESTS = 5  # pytest's exit code when it collected no test
STATIC_CHECKS = {"lint"}
"""Environments that run checkers (ruff, mypy), not pytest: they pass when every command does."""


def pytest_counts(output: str) -> dict[str, int] | None:
    """The counts of pytest's closing line in ``output`` (None if there is none)."""
    for line in reversed(output.splitlines()):
        match = SUMMARY.match(line.strip())
        if match:
            counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
            for number, word in COUNT.findall(match.group(1)):
                word = {"errors": "error", "warnings": "warning"}.get(word, word)
                counts[word] = counts.get(word, 0) + int(number)
            return counts
    return None


def main(path: str, tox_rc: int, expected: list[str]) -> int:
    problems: list[str] = []
    if tox_rc != 0:
        problems.append(f"tox exited with {tox_rc}")
    if not os.path.exists(path):
        print(f"ci: tox wrote no result file ({path}): it failed before running any environment")
        print("ci: 0 passed, 1 failed")
        return 1
    with open(path) as f:
        envs = json.load(f).get("testenvs", {})
    total = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    print("ci: ---- results by tox environment ----")
    for name in expected:
        env = envs.get(name)
        if env is None:
            problems.append(f"{name}: did not run (is it still in tox.ini's env_list?)")
            continue
        versions = "versions: ?"
        ran_pytest = False
        for command in env.get("test", []):
            argv, output, rc = command.get("command", []), command.get("output", ""), command.get("retcode")
            if output.startswith("versions:"):
                versions = output.strip()
            if not argv or not os.path.basename(argv[0]).startswith("pytest"):
                if rc != 0:
                    problems.append(f"{name}: {' '.join(argv)} exited with {rc}")
                continue
            ran_pytest = True
            counts = pytest_counts(output)
            shown = ", ".join(f"{n} {w}" for w, n in (counts or {}).items() if n) or "no tests"
            sdk = versions.removeprefix("versions: ").split(" (")[0]
            print(f"ci: {name:14} {shown:36} {sdk}")
            tests = sum(n for w, n in (counts or {}).items() if w not in ("warning", "deselected"))
            if rc == NO_TESTS or (counts is not None and tests == 0):
                problems.append(
                    f"{name}: pytest collected no tests (exit code 5) for `{' '.join(argv[1:])}`. "
                    "A run without tests proves nothing: check the paths, -k/-m filters and test file names."
                )
            elif rc != 0:
                problems.append(f"{name}: pytest exited with {rc}")
            if counts is not None:
                for word in total:
                    total[word] += counts.get(word, 0)
        if name in STATIC_CHECKS and env.get("test"):
            ok = all(c.get("retcode") == 0 for c in env["test"])
            print(f"ci: {name:14} {'clean' if ok else 'FAILED'}")
        elif not ran_pytest:
            problems.append(f"{name}: ran no pytest command" if env.get("test") else f"{name}: did not run")
    for problem in problems:
        print(f"ci: FAILED: {problem}")
    failed = total["failed"] + total["error"] + (1 if problems and not (total["failed"] + total["error"]) else 0)
    print(f"ci: {total['passed']} passed, {failed} failed" + (f", {total['skipped']} skipped" if total["skipped"] else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
