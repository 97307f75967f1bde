"""Who owns a call: built from what API Gateway vouched for and the caller could not choose."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from landing.settings import Settings
from landing.uploads.errors import Unauthorized
from landing.uploads.keys import ANONYMOUS, checked_owner

_PARTITION = r"aws(?:-[a-z]+)*"
_ACCOUNT = r"\d{12}"
# IAM's own patterns: role and user names, RoleSessionName / federated user Name; paths are
# printable ASCII between slashes (not part of an assumed-role ARN).
_NAME = r"[\w+=,.@-]{1,64}"
_SESSION = r"[\w+=,.@-]{2,64}"
_FEDERATED = r"[\w+=,.@-]{2,32}"
_PATH = r"(?:/[!-~]*)?/"
IAM_USER = re.compile(rf"arn:{_PARTITION}:iam::{_ACCOUNT}:(?:root|user{_PATH}{_NAME})", re.ASCII)
ASSUMED_ROLE = re.compile(
    rf"(?P<role>arn:{_PARTITION}:sts::{_ACCOUNT}:assumed-role/{_NAME})/(?P<session>{_SESSION})", re.ASCII
)
FEDERATED_USER = re.compile(
    rf"(?P<principal>arn:{_PARTITION}:sts::{_ACCOUNT}:federated-user)/{_FEDERATED}", re.ASCII
)
# Cognito identity and identity pool ids: "<region>:<uuid>".
_COGNITO_ID = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.ASCII)
COGNITO_PREFIX = "cognito-identity:"
UNAUTHENTICATED = "unauthenticated"


def _unusable(what: str) -> Unauthorized:
    return Unauthorized("unauthorized", f"the caller's {what} is not usable as an owner")


def of_jwt(sub: str) -> str:
    """A JWT caller is its `sub`, as before: the HTTP API's JWT authorizer accepts one issuer only
    (JwtConfiguration.Issuer), so within a deployment issuer + sub and sub name the same person.

    A `sub` spelled like another kind of owner (an ARN, a Cognito identity, "anonymous") is refused:
    an identity provider that lets users pick their subject (a username) must not hand them the
    uploads an IAM or anonymous caller of the same deployment left, e.g. before a switch to JWT.
    """
    if sub == ANONYMOUS or sub.startswith(("arn:", COGNITO_PREFIX)):
        raise _unusable("JWT sub, spelled like an IAM, Cognito or anonymous owner,")
    return checked_owner(sub)


def _cognito(identity: Mapping[str, Any]) -> str:
    """An identity pool caller: its identityId, under its pool. Guests (amr "unauthenticated") can
    mint a new identity at will, so all guests of a pool are one owner, like the anonymous one."""
    pool, identity_id, amr = identity.get("identityPoolId"), identity.get("identityId"), identity.get("amr")
    if not isinstance(pool, str) or not _COGNITO_ID.fullmatch(pool):
        raise _unusable("Cognito identity pool id")
    if not isinstance(amr, list) or not all(isinstance(value, str) for value in amr):
        raise _unusable("Cognito authentication methods (amr)")
    if UNAUTHENTICATED in amr:
        return f"{COGNITO_PREFIX}{pool}/{UNAUTHENTICATED}"
    if not isinstance(identity_id, str) or not _COGNITO_ID.fullmatch(identity_id):
        raise _unusable("Cognito identity id")
    return f"{COGNITO_PREFIX}{pool}/{identity_id}"


def of_iam(context: Mapping[str, Any], personal_roles: Iterable[str]) -> str:
    """A SigV4 caller (API Gateway's `authorizer.iam` context, payload 2.0).

    IAM user (or root): its ARN. Cognito identity pool credentials: the identity (see _cognito).
    Assumed role: the role, all sessions one owner, since whoever may call sts:AssumeRole picks the
    session name; only a role the operator lists in `personal_roles` (its trust policy pins the
    session name to the person) keeps one owner per session. Federated user (GetFederationToken,
    whose Name the calling IAM user picks and no policy condition pins): the account's federated
    principal. Anything else is refused.
    """
    cognito = context.get("cognitoIdentity")
    if cognito is not None:
        if not isinstance(cognito, Mapping):
            raise _unusable("Cognito identity")
        return _cognito(cognito)
    arn = context.get("userArn")
    if not isinstance(arn, str) or not arn:
        raise _unusable("IAM principal")
    if IAM_USER.fullmatch(arn):
        return arn
    if role := ASSUMED_ROLE.fullmatch(arn):
        return arn if role["role"] in set(personal_roles) else role["role"]
    if federated := FEDERATED_USER.fullmatch(arn):
        return federated["principal"]
    raise _unusable("IAM principal")


def of_request(authorizer: Mapping[str, Any], settings: Settings) -> str:
    """Who calls, as API Gateway vouched for it (``requestContext.authorizer``): the JWT authorizer's `sub`
    claim, else the IAM context of a SigV4-signed request (AWS_IAM routes); "anonymous" only when that is
    allowed."""
    jwt = authorizer.get("jwt") or {}  # null or absent without a JWT authorizer
    jwt_sub = (jwt.get("claims") or {}).get("sub") if isinstance(jwt, Mapping) else None
    iam = authorizer.get("iam")
    if isinstance(jwt_sub, str) and jwt_sub:
        return of_jwt(jwt_sub)
    if iam:
        if not isinstance(iam, Mapping):
            raise _unusable("IAM context")
        return of_iam(iam, settings.personal_role_sessions)
    if settings.uploads_allow_anonymous:
        return ANONYMOUS
    raise Unauthorized("unauthorized", "a JWT with a sub claim (or a SigV4-signed request) is required")
