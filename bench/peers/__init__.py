"""Peer measurements: the same workloads on other durable-execution engines, on the same server."""
