"""Run the Python snippets of README.md, so that what it shows stays true.

Every ```python block that defines a test (``def test_...``) goes, in order, into one test
module ``test_readme.py`` (so imports and names defined by one block serve the later ones)
and runs under pytest with the examples' pytest.ini. Every other ```python block runs as
a script, after the imports and names of the first block. The ```text block that follows
"`pytest -s` shows:" must appear verbatim in the output of the tests.

Blocks tagged otherwise (```py, ```ini, ```sh, ```text) are not run: use ```py for a
fragment that cannot run on its own.

Usage: python .ci/check_readme.py   (with the python of an environment that has the plugin)
"""

from __future__ import annotations

import collections
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> int:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.S | re.M)
    tests = [b for b in blocks if re.search(r"^(async )?def test_", b, re.M)]
    scripts = [b for b in blocks if b not in tests]
    names = re.findall(r"^(?:async )?def (test_\w+)", "\n".join(tests), re.M)
    problems = [f"two snippets define {n}" for n, c in collections.Counter(names).items() if c > 1]
    if not tests:
        problems.append("no test snippet found")
    header = re.split(r"^(?:@|def |async def )", tests[0], maxsplit=1, flags=re.M)[0] if tests else ""

    with tempfile.TemporaryDirectory(prefix="readme-") as tmp:
        work = pathlib.Path(tmp)
        shutil.copy(ROOT / "examples" / "pytest.ini", work)
        (work / "test_readme.py").write_text("\n\n".join(tests))
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", "-rfE", "test_readme.py"],
            cwd=work, capture_output=True, text=True, timeout=600,
        )
        if run.returncode != 0:
            problems.append(f"the test snippets failed (pytest exit {run.returncode}):\n{run.stdout[-4000:]}{run.stderr[-2000:]}")
        else:
            print(f"readme: {len(names)} test snippets: {run.stdout.strip().splitlines()[-1]}")
        shown = re.search(r"`pytest -s` shows:\n\n```text\n(.*?)^```", readme, re.S | re.M)
        if shown and shown.group(1).strip() not in run.stdout:
            problems.append("the timeline shown after '`pytest -s` shows:' is not what the snippet prints now")
        for i, script in enumerate(scripts):
            path = work / f"snippet_{i}.py"
            path.write_text(header + "\n\n" + script)
            done = subprocess.run([sys.executable, path.name], cwd=work, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                problems.append(f"script snippet {i + 1} failed:\n{script}\n{done.stderr[-3000:]}")
        print(f"readme: {len(scripts)} script snippet(s) run")
    for problem in problems:
        print(f"readme: FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
