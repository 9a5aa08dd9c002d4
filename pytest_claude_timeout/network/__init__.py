"""The simulated network: :class:`SimulatedNetwork`, its virtual clock and its timeline."""
