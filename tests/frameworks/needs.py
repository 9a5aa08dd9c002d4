"""What a framework test needs that has not landed yet: the reason of its strict xfail
(an xfail that starts passing fails the run, so each is removed once its piece lands)."""

# Modules the frameworks import lazily, at their first call. Imported while the simulated
# network is active, a pydantic model with a datetime field fails on freezegun's FakeDatetime
# (FACTS.md; issue 8, "imports during a test"). Until that lands, conftest imports them
# before any network starts; test_late_imports.py shows the failure (xfail, strict).
LATE_IMPORTS = ("anthropic", "litellm.proxy.openai_files_endpoints.common_utils")

ISSUE8_IMPORTS = "issue 8 (imports during a test): a pydantic model with a datetime field first imported under the network fails on freezegun's FakeDatetime"
ISSUE8_THREADS = "issue 8 (threads): worker threads' waits add up on one clock instead of running side by side"
ISSUE8_LOOPS = "issue 8 (event loops): a loop the test did not make (asyncio.run, Agent.run_sync) is refused"
ISSUE9_AIOHTTP = "issue 9 (aiohttp transport): aiohttp requests do not reach the simulated network"
ISSUE10_DEFAULTS = "issue 10 (schema-valid defaults): a forced tool or structured output gets a plain text answer"
ISSUE10_SCRIPT = "issue 10 (scripted responses): a test cannot script a tool call"
