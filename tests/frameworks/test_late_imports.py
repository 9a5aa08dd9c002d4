"""A framework's first call made while the network is active, in a fresh interpreter, as
in a user's suite that imports nothing in advance: what the framework imports lazily at that
call (the SDK itself, pydantic models with datetime fields) works under the virtual clock."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

# What a test module imports (before any network), and the test's first call. (LangChain is
# not here: importing langchain_anthropic imports the SDK, and its first call imports no model.)
FIRST_CALLS = {
    "pydantic_ai": (
        "from pydantic_ai import Agent",
        'net.run(Agent("anthropic:claude-sonnet-4-6").run("hi"))',
    ),
    "litellm": (
        "import litellm",
        'litellm.completion(model="anthropic/claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])',
    ),
    "instructor": (
        "import instructor, pydantic\nclass City(pydantic.BaseModel):\n    name: str",
        'net.api.text = \'{"name": "Paris"}\'; instructor.from_provider("anthropic/claude-sonnet-4-6",'
        ' mode=instructor.Mode.JSON).create(response_model=City, max_tokens=100, messages=[{"role": "user", "content": "hi"}])',
    ),
    "llm_anthropic": (
        "import llm",
        'llm.get_model("claude-sonnet-4.5").prompt("hi", key="sk-ant-dummy").text()',
    ),
}
INSTALLED = [name for name in FIRST_CALLS if importlib.util.find_spec(name) is not None]


@pytest.mark.parametrize("framework", INSTALLED)
def test_first_call_under_the_network(framework: str) -> None:
    imports, call = FIRST_CALLS[framework]
    script = f"{imports}\nfrom pytest_claude_timeout import SimulatedNetwork\nwith SimulatedNetwork() as net:\n    {call}\n"
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-dummy", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
