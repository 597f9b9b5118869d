"""The engine core: pure, standard library only (no Django, no I/O, no wall clock)."""
