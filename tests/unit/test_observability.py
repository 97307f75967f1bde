"""The template's Powertools parameters reach the Logger and Metrics objects."""

from landing.settings import load


def test_metrics_namespace_and_service_come_from_powertools_variables():
    settings = load({"POWERTOOLS_METRICS_NAMESPACE": "Acme/Landing", "POWERTOOLS_SERVICE_NAME": "ingest"})
    assert (settings.metrics_namespace, settings.service_name) == ("Acme/Landing", "ingest")


def test_defaults_without_powertools_variables():
    settings = load({})
    assert (settings.metrics_namespace, settings.service_name) == ("Landing", "landing")


def test_add_counts_records_what_add_metric_records():
    from aws_lambda_powertools.metrics import MetricUnit

    from landing.observability import add_counts, metrics

    metrics.clear_metrics()
    try:
        for name, value in (("RecordsWritten", 2), ("DuplicatesAbsorbed", 0), ("RecordsWritten", 1)):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        expected = metrics.serialize_metric_set()
        metrics.clear_metrics()

        add_counts(RecordsWritten=2, DuplicatesAbsorbed=0)
        add_counts(RecordsWritten=1)
        actual = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()

    for emf in (expected, actual):
        emf["_aws"].pop("Timestamp")
    assert actual == expected
