"""temporalflow: Temporal's durable-execution programming model as a reusable Django app.

Importing this package must not import Django: the authoring API
(``temporalflow.workflow``, ``temporalflow.activity``) and ``temporalflow.core``
are usable without a configured Django project.
"""

__version__ = "0.1.0"
