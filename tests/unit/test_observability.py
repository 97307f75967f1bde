"""The template's Powertools parameters reach the Logger and Metrics objects."""

from landing.settings import load


def test_metrics_namespace_and_service_come_from_powertools_variables():
    settings = load({"POWERTOOLS_METRICS_NAMESPACE": "Acme/Landing", "POWERTOOLS_SERVICE_NAME": "ingest"})
    assert (settings.metrics_namespace, settings.service_name) == ("Acme/Landing", "ingest")


def test_defaults_without_powertools_variables():
    settings = load({})
    assert (settings.metrics_namespace, settings.service_name) == ("Landing", "landing")


def _metrics(emf: dict) -> dict[str, tuple[str, list[float]]]:
    """What CloudWatch takes from an EMF document: each declared metric's unit and values (EMF
    allows a number or a list of numbers)."""
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    values = {
        name: emf[name] if isinstance(emf[name], list) else [emf[name]] for name in emf if name != "_aws"
    }
    return {m["Name"]: (m["Unit"], [float(v) for v in values[m["Name"]]]) for m in directive["Metrics"]} | {
        "dimensions": directive["Dimensions"],
        "namespace": directive["Namespace"],
    }


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

    assert _metrics(actual) == _metrics(expected)
    assert actual["service"] == expected["service"]


def test_a_count_recorded_once_is_a_bare_integer():
    import json

    from landing.observability import add_counts, metrics

    metrics.clear_metrics()
    try:
        add_counts(RecordsWritten=1, DuplicatesAbsorbed=0)
        emf = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()
    line = json.dumps(emf, separators=(",", ":"))
    assert '"RecordsWritten":1,' in line and '"DuplicatesAbsorbed":0' in line
