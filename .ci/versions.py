"""Print the SDK line a tox environment runs, and check it is the one the env asks for.

Usage: python .ci/versions.py 0|1   (0: anthropic 0.x on httpx; 1: anthropic >= 1 on httpx2)
       python .ci/versions.py frameworks   (any line: the one the frameworks pin; lists them too)
"""

import importlib.util
import platform
import sys
from importlib.metadata import PackageNotFoundError, version


def v(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


line = sys.argv[1] if len(sys.argv) > 1 else None
sdk = v("anthropic")
major = int(sdk.split(".")[0])
stack = "httpx2" if major >= 1 else "httpx"
print(
    f"versions: anthropic {sdk} on {stack} {v(stack)} (httpcore {v('httpcore')}, httpcore2 {v('httpcore2')}); "
    f"respx {v('respx')}, pytest {v('pytest')}, pytest-asyncio {v('pytest-asyncio')}, "
    f"freezegun {v('freezegun')}; python {platform.python_version()}"
)
FRAMEWORKS = ("langchain-anthropic", "langchain-core", "pydantic-ai-slim", "litellm", "instructor", "llm", "llm-anthropic")
if line == "frameworks":
    installed = [f"{name} {v(name)}" for name in FRAMEWORKS if v(name) != "-"]
    print(f"versions: frameworks: {', '.join(installed) or 'none'}; httpx {v('httpx')}, aiohttp {v('aiohttp')}")
    line = None
if importlib.util.find_spec(stack) is None:
    sys.exit(f"versions: anthropic {sdk} needs {stack}, which is not importable")
if line is not None and (major >= 1) != (line == "1"):
    sys.exit(f"versions: this environment should run SDK line {line}, but anthropic is {sdk}")
