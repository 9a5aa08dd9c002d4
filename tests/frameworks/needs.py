"""What a framework test needs that has not landed yet: the reason of its strict xfail
(an xfail that starts passing fails the run, so each is removed once its piece lands)."""

ISSUE9_AIOHTTP = "issue 9 (aiohttp transport): aiohttp requests do not reach the simulated network"
ISSUE10_DEFAULTS = "issue 10 (schema-valid defaults): a forced tool or structured output gets a plain text answer"
ISSUE10_SCRIPT = "issue 10 (scripted responses): a test cannot script a tool call"
