"""Who a request acts for, and whether it may: the one authorization policy of the HTTP API.

Every path under `/v1/` needs a bearer token of a party to the agreement in force; only the
health probes, the API's own documents and the console's page and files are open (`OPEN`,
`OPEN_PREFIXES`: they hold no data; the console reads the API with a token). The token is
checked before the body is read, so a stranger never makes the service parse anything large.
A party removed by an amendment is refused at once, even though its token is still in the
table; a revoked token is refused within `Service.TOKEN_TTL_S`.

The first agreement is never adopted over HTTP: with no agreement in force no token can exist,
and the operator adopts it on the deployment's own machine (`accord agreement adopt`) before
serving. Amendments over HTTP need a token of a party in force, and (checked by the fold)
the signature of every party of the old and the new agreement.
"""

from __future__ import annotations

from typing import Any

from accord.errors import AccordError, Forbidden, NoAgreement, RateLimited, Unauthorized

# Paths anyone who reaches the port may read: health, the API's own description, and the
# console's page and static files (no data: the page reads the API with the party's token).
OPEN = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/"})
OPEN_PREFIXES = ("/console/",)

ADOPT_FIRST = ("adopt the first agreement on the deployment's own machine before serving: "
               "`accord agreement adopt SIGNED.json --dir DIR`")
TOKEN_HINT = "Authorization: Bearer <a token from `accord party token PARTY`>"
__all__ = ["ADOPT_FIRST", "OPEN", "OPEN_PREFIXES", "Forbidden", "RateLimited", "Unauthorized",
           "authenticate", "bearer", "is_open", "party_in_force", "still_allowed"]


def is_open(path: str) -> bool:
    """May anyone who reaches the port request `path`, without a credential?"""
    return path in OPEN or path.startswith(OPEN_PREFIXES)


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; the scheme in any case
    (RFC 9110 §11.1). None when there is no bearer credential."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def party_in_force(s: Any, party: str) -> None:
    """Refuse a party that is not in the agreement in force (removed by an amendment)."""
    agreement = s.published.agreement
    if agreement is None:
        raise NoAgreement("no agreement is in force, so no party can act yet",
                          field="Authorization", accepted=ADOPT_FIRST)
    if party not in agreement.party_ids:
        raise Forbidden(f"{party} is not a party to the agreement in force",
                        field="Authorization",
                        accepted="a token of a party to the agreement in force")


def authenticate(authorization: str | None, s: Any, *, limit: bool = True) -> str:
    """The party a request acts for, from its bearer token; refused unless that party is in
    the agreement in force; rate-limited per party (unless `limit` is False: re-checks)."""
    token = bearer(authorization)
    p: str | None = None if token is None else s.party_for_token(token)
    if p is None:
        if s.published.agreement is None:  # no party exists yet, so no token can
            raise Unauthorized("no agreement is in force yet, so no party can act",
                               field="Authorization", accepted=ADOPT_FIRST)
        raise Unauthorized("send Authorization: Bearer <token>" if token is None
                           else "unknown or revoked token", field="Authorization",
                           accepted=TOKEN_HINT)
    party_in_force(s, p)
    if limit:
        wait = s.limiter.allow(p)
        if wait > 0:
            raise RateLimited(f"{p} is over its request rate", field="Authorization",
                              accepted=f"at most {s.config.rate_per_second:g} requests a "
                                       "second", extra={"retry_after_s": round(wait, 3)})
    return p


def still_allowed(authorization: str | None, s: Any, party: str) -> bool:
    """For a long-lived response (the stream): is the credential still good for `party`?
    False once the token is revoked or the party left the agreement."""
    try:
        return authenticate(authorization, s, limit=False) == party
    except AccordError:
        return False
