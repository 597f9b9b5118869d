"""Temporal's ``temporal.api.common`` messages, under the names temporalio user code imports.

Pure: nothing here imports Django or Django REST framework, so a codec module can
``from temporalflow.api.common.v1 import Payload`` without Django settings.
"""
