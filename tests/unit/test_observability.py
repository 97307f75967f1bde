"""The template's Powertools parameters reach the Logger and Metrics objects."""

from landing.settings import load


def test_metrics_namespace_and_service_come_from_powertools_variables():
    settings = load({"POWERTOOLS_METRICS_NAMESPACE": "Acme/Landing", "POWERTOOLS_SERVICE_NAME": "ingest"})
    assert (settings.metrics_namespace, settings.service_name) == ("Acme/Landing", "ingest")


def test_defaults_without_powertools_variables():
    settings = load({})
    assert (settings.metrics_namespace, settings.service_name) == ("Landing", "landing")
