"""Code written for Temporal's Python SDK (``import temporalio``), run on temporalflow unchanged.

:mod:`tests.integration.engine.temporalio_code.alias` maps every ``temporalio[.x.y]`` module to ``temporalflow[.x.y]``;
the modules here import only ``temporalio`` names, so a missing or misnamed symbol in
temporalflow fails them the way it would fail a user's port.
"""
