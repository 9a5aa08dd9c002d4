"""Where the simulation plugs in below the HTTP clients (``httpcore_mock``: the connection
pools of httpcore and httpcore2)."""
