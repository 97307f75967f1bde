"""`landing serve --jwt-secret`: API Gateway's JWT authorizer played locally with one shared HS256 key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

DEFAULT_ISSUER = "landing-serve"


@dataclass(frozen=True, slots=True)
class JwtAuthorizer:
    """Checks a bearer token as an HTTP API JWT authorizer does (signature, issuer, expiry) and hands on
    its claims the way API Gateway puts them in requestContext.authorizer.jwt, so the function resolves
    the owner exactly as deployed. Locally the key is a shared secret instead of the issuer's JWKS."""

    secret: str
    issuer: str = DEFAULT_ISSUER

    def authorize(self, authorization: str | None) -> dict[str, Any] | None:
        """requestContext.authorizer for this Authorization header, or None: API Gateway's 401."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import OctKey

        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            decoded = jwt.decode(token.strip(), OctKey.import_key(self.secret), algorithms=["HS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer}, exp={"essential": True}
            ).validate(decoded.claims)
        except (JoseError, ValueError):
            return None
        claims = {name: _claim(value) for name, value in decoded.claims.items()}
        scopes = str(decoded.claims.get("scope") or "").split()
        return {"jwt": {"claims": claims, "scopes": scopes or None}}

    def token(self, claims: dict[str, Any]) -> str:
        """A token this authorizer accepts (tests, fuzzing, a developer's curl)."""
        from joserfc import jwt
        from joserfc.jwk import OctKey

        return jwt.encode({"alg": "HS256"}, {"iss": self.issuer, **claims}, OctKey.import_key(self.secret))


def _claim(value: object) -> str:
    # API Gateway passes every claim as a string; numbers and lists as their JSON text.
    return value if isinstance(value, str) else json.dumps(value)


def unauthorized() -> Response:
    """What API Gateway answers for a missing or invalid token (the function is not invoked)."""
    response = Response(json.dumps({"message": "Unauthorized"}), status=401, content_type="application/json")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response
