"""The fake Anthropic API: requests in, exchange steps out (``fake``), and the wire format
of its answers: JSON bodies, SSE events, error pages (``wire``)."""
