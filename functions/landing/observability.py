"""Powertools Logger and Metrics shared by the handlers (structured JSON logs, EMF metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

from landing.settings import get_settings

_settings = get_settings()
logger = Logger(service=_settings.service_name)
metrics = Metrics(namespace=_settings.metrics_namespace, service=_settings.service_name)
