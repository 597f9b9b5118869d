"""Example applications built on temporalflow: an order saga, an ETL pipeline, a multi-level approval.

Each example is a plain package (``workflows.py``, ``activities.py``, and the data types and
service interfaces they share) that a Worker registers directly; see ``examples/README.md``.
"""
