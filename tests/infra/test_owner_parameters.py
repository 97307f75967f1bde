"""The operator's list of roles whose sessions are people reaches the API function as one setting."""

from __future__ import annotations

from landing import settings
from tests.infra.test_security import deploy, uploads_environment

STAFF = "arn:aws:iam::123456789012:role/people/staff"
SSO = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Uploader_0123456789abcdef"


def test_personal_session_roles_is_a_template_parameter_the_api_function_reads():
    assert uploads_environment(deploy())["PERSONAL_SESSION_ROLES"] == ""
    listed = uploads_environment(deploy(PersonalSessionRoles=f"{STAFF},{SSO}"))["PERSONAL_SESSION_ROLES"]

    loaded = settings.load({"PERSONAL_SESSION_ROLES": listed})

    assert loaded.personal_role_sessions == {
        "arn:aws:sts::123456789012:assumed-role/staff",
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Uploader_0123456789abcdef",
    }
