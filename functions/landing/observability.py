"""Powertools Logger and Metrics shared by the handlers (structured JSON logs, EMF metrics)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="landing")
metrics = Metrics(namespace="Landing", service="landing")
