"""The peer comparison's parsing and report (bench/peers/compare.py), without running anything."""

from __future__ import annotations

import pytest

from bench.peers import compare

FACTS = {"nproc": "2", "cpu": "AMD EPYC", "kernel": "6.1", "round_trip_ms": "0.210", "commit_ms": "0.360",
         "python_loop_ms": "31.6", "pg_server_version": "15.20", "pg_fsync": "on",
         "pg_synchronous_commit": "on", "pg_shared_buffers": "128MB", "python": "3.11.7", "django": "5.2",
         "psycopg": "3.3.9"}


def test_figures_come_from_the_last_marked_line():
    out = ("bench: worker logs in /tmp/x\n  B run 1/1 (load 1.0 0.5 0.2): B.p50=9.50, B.p99=20.00, B.cpu_total=-1.5\n"
           "B 100 sequential start->result p50: 9.50 ms\n")
    assert compare._figures(out, " run 1/1 ") == {"B.p50": 9.5, "B.p99": 20.0, "B.cpu_total": -1.5}


def test_output_without_figures_is_an_error_that_shows_the_output():
    with pytest.raises(RuntimeError, match="Traceback"):
        compare._figures("Traceback (most recent call last):\n  boom", " run 1/1 ")


def test_report_has_medians_ranges_and_dashes_for_missing_systems(tmp_path):
    results = {("temporalflow", "B"): {"B.p50": [9.0, 11.0, 10.0]},
               ("dbos-inproc", "B"): {"B.p50": [8.0, 8.5, 9.0]}}
    path = tmp_path / "PEERS.md"
    compare.write_peers(path, FACTS, results, 3, "python bench/peers/compare.py")
    text = path.read_text()
    assert "| B | B.p50 | 10.0 (9.0–11.0) | 8.5 (8.0–9.0) | — |" in text
    assert "B.p99" not in text  # no system measured it: no row
    assert "round trip 0.210 ms" in text
