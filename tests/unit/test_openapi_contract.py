"""The OpenAPI document states what the server accepts (issue 29): for generated request bodies, the
document's schema (read by jsonschema-rs, the ECMA-262 reading Schemathesis uses) and the server's
parse_intent agree in both directions, with the default settings the document spells out."""

from __future__ import annotations

import jsonschema_rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landing.settings import DEFAULT_CONTENT_TYPES, load
from landing.uploads import browse, validation
from landing.uploads.errors import UploadError
from landing_local.apigw import OPENAPI
from tests.support.openapi import content_type_pattern

SETTINGS = load({"BUCKET_NAME": "example-bucket"})
SCHEMAS = OPENAPI["components"]["schemas"]
REQUEST = jsonschema_rs.Draft202012Validator(
    {"$ref": "#/components/schemas/UploadRequest", "components": OPENAPI["components"]}
)


def accepted(body: object) -> bool:
    try:
        validation.parse_intent(body, SETTINGS)
    except UploadError:
        return False
    return True


def test_the_document_spells_the_servers_rules():
    put = SCHEMAS["PutUploadRequest"]["properties"]
    assert put["content_type"]["pattern"] == content_type_pattern(DEFAULT_CONTENT_TYPES)
    assert put["filename"]["pattern"] == validation.FILENAME_VISIBLE.pattern
    assert put["filename"]["maxLength"] == validation.MAX_FILENAME_CHARS
    assert put["size"]["maximum"] == SETTINGS.multipart_threshold
    assert SCHEMAS["PostUploadRequest"]["properties"]["size"]["maximum"] == SETTINGS.upload_max_size
    metadata = SCHEMAS["Metadata"]
    assert metadata["maxProperties"] == validation.MAX_METADATA_ENTRIES
    assert metadata["additionalProperties"]["maxLength"] == validation.MAX_METADATA_VALUE_CHARS
    for path in ("/uploads", "/objects"):
        (limit,) = (p for p in OPENAPI["paths"][path]["get"]["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == browse.MAX_LIMIT


CHECKSUM = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
fields = {
    "filename": st.one_of(
        st.text(max_size=8), st.sampled_from([" ", "\u3000", "\ufeff", "\x1c", "a", "\x85"])
    ),
    "content_type": st.one_of(
        st.sampled_from(
            ["text/plain", "TEXT/Plain", " image/png ", "text/plain; charset=utf-8", 'text/csv;charset="x"']
        ),
        st.from_regex(content_type_pattern(DEFAULT_CONTENT_TYPES), fullmatch=True),
        st.text(max_size=20),
    ),
    "size": st.one_of(
        st.integers(min_value=-1, max_value=6 * 1024**3),
        st.sampled_from([100 * 1024**2, 100 * 1024**2 + 1, 5 * 1024**3, 5 * 1024**3 + 1, 5.0, 2.5]),
    ),
    "method": st.sampled_from(["POST", "PUT", "post", "", None]),
    "checksum_sha256": st.sampled_from([CHECKSUM, "", CHECKSUM[:-1], None]),
    "metadata": st.one_of(
        st.dictionaries(
            st.one_of(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,5}", fullmatch=True), st.just("upload-id")),
            st.one_of(
                st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=130), st.integers()
            ),
            max_size=11,
        ),
        st.none(),
    ),
}


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.fixed_dictionaries({}, optional=fields))
def test_document_and_server_agree_on_every_generated_body(body):
    assert REQUEST.is_valid(body) == accepted(body), repr(body)
