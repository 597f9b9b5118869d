"""Optional integrations, as ``temporalio.contrib`` (each needs its own extra installed)."""
