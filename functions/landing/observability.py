"""Powertools Logger and Metrics shared by the handlers (structured JSON logs, EMF metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

from landing.settings import names

# Only the two names are read here: a handler's import must never fail on the rest of the settings.
_service, _namespace = names()
logger = Logger(service=_service)
metrics = Metrics(namespace=_namespace, service=_service)


def add_counts(**counts: int) -> None:
    """Count metrics for this invocation, as ``metrics.add_metric(name=..., unit=Count, value=...)``
    records them (same names, unit, resolution and values), without its per-call work: it validates
    the name, unit and resolution and formats a debug message (even with debug off), about 7 µs a
    metric on a warm path that records three to five. A count recorded once is written as a bare
    integer (``"RecordsWritten":1``, which EMF allows) rather than Powertools' list of floats
    (``[1.0]``): the same metric, a few bytes less in the one log line every invocation pays for.
    Names given here are not also given to ``add_metric`` (it would append to an integer)."""
    metric_set = metrics.metric_set
    for name, value in counts.items():
        entry = metric_set.get(name)
        if entry is None:
            metric_set[name] = {"Unit": "Count", "StorageResolution": 60, "Value": value}
        elif isinstance(entry["Value"], list):
            entry["Value"].append(value)
        else:
            entry["Value"] = [entry["Value"], value]
