"""Powertools Logger and Metrics shared by the handlers (structured JSON logs, EMF metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

from landing.settings import names

# Only the two names are read here: a handler's import must never fail on the rest of the settings.
_service, _namespace = names()
logger = Logger(service=_service)
metrics = Metrics(namespace=_namespace, service=_service)
