"""The frameworks suite: real LangChain, pydantic-ai, litellm, instructor and `llm` under the
plugin's fixtures and marker. Each framework pins its own SDK line, so each runs in its own
tox environment (tox.ini: ``frameworks``, ``frameworks-instructor``, ``frameworks-llm``).

A test module is collected only where its framework is installed: the core environments
(sdk0, sdk1) do not install them and do not collect this folder's modules (the session
header says so). In a frameworks environment, ``CLAUDE_TIMEOUT_FRAMEWORKS`` names the
modules that must run: one whose framework is missing is an error there, never a skip.

No test reaches the real network: every request goes to the plugin's network, and the
API keys are dummies.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator

import pytest

# Set before any framework is imported: litellm downloads a price list at import, and the
# Anthropic beta-headers config on its first structured-output call, unless told to use its
# bundled copies (under the simulated network such a download fails with UnhandledRequest:
# nothing leaves the machine); `llm` keeps its keys and logs under LLM_USER_PATH.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["LITELLM_OFFLINE_MODE"] = "true"
os.environ["LLM_USER_PATH"] = tempfile.mkdtemp(prefix="claude-timeout-llm-")

FRAMEWORKS = {
    "test_langchain.py": "langchain_anthropic",
    "test_pydantic_ai.py": "pydantic_ai",
    "test_litellm.py": "litellm",
    "test_instructor.py": "instructor",
    "test_llm.py": "llm_anthropic",
}
"""Each test module and the module its framework provides."""

REQUIRED = {name.strip() for name in os.environ.get("CLAUDE_TIMEOUT_FRAMEWORKS", "").split(",") if name.strip()}

collect_ignore = [
    module for module, provider in FRAMEWORKS.items()
    if module.removesuffix(".py").removeprefix("test_") not in REQUIRED and importlib.util.find_spec(provider) is None
]
if len(collect_ignore) == len(FRAMEWORKS):  # no framework here: nothing to import late either
    collect_ignore.append("test_late_imports.py")


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not collect_ignore:
        return []
    names = ", ".join(FRAMEWORKS[m] for m in collect_ignore if m in FRAMEWORKS)
    return [f"claude-timeout frameworks suite: not installed here, not collected: {names} (tox -e frameworks ...)"]


@pytest.fixture(autouse=True)
def dummy_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dummy credentials only; no base URL from outside."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-dummy")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    yield
