"""``runworker`` and friends."""
