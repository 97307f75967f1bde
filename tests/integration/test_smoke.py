"""The packaged sample events go through the ingest handler into rows."""

from landing.handlers.ingest import handler
from tests.conftest import rows
from tests.support.events import load


def test_sample_put_event_becomes_an_object_row(clean_db, s3, lambda_context):
    result = handler(load("s3-put.json"), lambda_context)

    assert result["journalled"] == 1
    (obj,) = rows("SELECT key, size, e_tag, is_deleted FROM objects")
    assert obj == {
        "key": "reports/2026/q1 summary+final.pdf",
        "size": 1305107,
        "e_tag": "b21b84d653bb07b05b1e6b33684dc11b",
        "is_deleted": False,
    }
