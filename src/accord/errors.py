"""Accord's errors: one definition, two faces (an RFC 9457 problem for the API, a line for the CLI).

Every refusal Accord makes is an `AccordError` subclass with a stable `slug` (the problem `type`),
a title, the HTTP status, the field at fault and what would have been accepted. Pure: imports
nothing from Accord.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://accord.dev/problems/"


class AccordError(Exception):
    """Base of every error Accord reports to a user."""

    slug: ClassVar[str] = "error"
    title: ClassVar[str] = "Accord error"
    status: ClassVar[int] = 400

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        accepted: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.accepted = accepted
        self.extra = dict(extra or {})

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem object, with `field` and `accepted` as extension members."""
        out: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            out["field"] = self.field
        if self.accepted is not None:
            out["accepted"] = self.accepted
        out.update(self.extra)
        return out

    def diagnostics(self) -> str:
        """One or two lines for a terminal."""
        where = f" [{self.field}]" if self.field else ""
        text = f"{self.title}{where}: {self.detail}"
        if self.accepted:
            text += f"\n  accepted: {self.accepted}"
        return text


def from_problem(problem: dict[str, Any]) -> AccordError:
    """Rebuild the AccordError an RFC 9457 problem was made from (a client's view of it)."""
    slug = str(problem.get("type", "")).removeprefix(PROBLEM_BASE)
    kinds: list[type[AccordError]] = [AccordError]
    found: type[AccordError] = AccordError
    while kinds:
        k = kinds.pop()
        if k.slug == slug:
            found = k
            break
        kinds.extend(k.__subclasses__())
    extra = {k: v for k, v in problem.items()
             if k not in ("type", "title", "status", "detail", "field", "accepted")}
    err = found(str(problem.get("detail", "")), field=problem.get("field"),
                accepted=problem.get("accepted"), extra=extra)
    if found is AccordError:  # a problem this client does not know: keep what it said
        err.slug, err.title = slug or "error", str(problem.get("title", "Error"))  # type: ignore[misc]
    err.status = int(problem.get("status", err.status))  # type: ignore[misc]
    return err


class InvalidInput(AccordError):
    slug = "invalid-input"
    title = "Invalid input"


class InvalidGeometry(InvalidInput):
    slug = "invalid-geometry"
    title = "Invalid geometry"


class InvalidTime(InvalidInput):
    slug = "invalid-time"
    title = "Invalid time"


class LimitExceeded(InvalidInput):
    slug = "limit-exceeded"
    title = "Limit exceeded"
    status = 413


class UnknownParty(AccordError):
    slug = "unknown-party"
    title = "Unknown party"
    status = 403


class UnknownKind(InvalidInput):
    slug = "unknown-kind"
    title = "Unknown activity kind"


class NotFound(AccordError):
    slug = "not-found"
    title = "Not found"
    status = 404


class BadSignature(AccordError):
    slug = "bad-signature"
    title = "Bad signature"
    status = 401


class ReplayedSeq(AccordError):
    slug = "replayed-seq"
    title = "Replayed or reordered event"
    status = 409


class StaleVersion(AccordError):
    slug = "stale-version"
    title = "Stale version"
    status = 409


class Conflict(AccordError):
    """The request is well formed but contradicts the current state (e.g. a duplicate id)."""

    slug = "state-conflict"
    title = "Conflicts with the current state"
    status = 409


class RuleBreach(AccordError):
    """A notice breaks an agreement rule whose action is `reject`."""

    slug = "rule-breach"
    title = "Rejected by the agreement"
    status = 422


class NoAgreement(AccordError):
    slug = "no-agreement"
    title = "No agreement in force"
    status = 409


class ProofError(AccordError):
    """A Merkle proof, signed note or receipt does not verify."""

    slug = "proof-invalid"
    title = "Proof does not verify"
    status = 422


class VerificationFailed(AccordError):
    """The stored record is not what the log proves: tampering, corruption or a bug."""

    slug = "verification-failed"
    title = "Verification failed"
    status = 500


class DeploymentError(AccordError):
    slug = "deployment"
    title = "Deployment problem"
    status = 500


class TooDeep(InvalidInput):
    """JSON nested deeper than `accord.limits.MAX_DEPTH`: refused before anything recurses."""

    slug = "too-deep"
    title = "Nested too deeply"


class Unauthorized(AccordError):
    """No credential, or one the service does not know (HTTP)."""

    slug = "unauthorized"
    title = "Credential missing or not valid"
    status = 401


class Forbidden(AccordError):
    """A valid credential that may not do this: another party's event, or a party no longer
    in the agreement in force (HTTP)."""

    slug = "forbidden"
    title = "Not allowed for this party"
    status = 403


class RateLimited(AccordError):
    """Over a per-party rate or count (requests, open streams); `retry_after_s` says when
    (HTTP)."""

    slug = "rate-limited"
    title = "Too many requests"
    status = 429


class Unavailable(AccordError):
    """The service cannot take the request now (starting, stopping, or the writer is not
    answering); the detail says whether anything was written."""

    slug = "unavailable"
    title = "Service not ready"
    status = 503


class NotWriter(Unavailable):
    """This `accord serve` process does not hold the writer's seat (several share one
    PostgreSQL database); `writer` (and the Location header) names the one that does, when
    one does."""

    slug = "not-the-writer"
    title = "Not the writer"


class WriteFailed(AccordError):
    """The writer failed on one command for a reason that is not the command's fault (a bug or
    a store error). The command was rolled back: nothing of it was written."""

    slug = "write-failed"
    title = "The write failed"
    status = 500


class WrongLog(InvalidInput):
    slug = "wrong-log"
    title = "Signed for another log"


class UnknownLog(NotFound):
    """A witness was asked to cosign a checkpoint of a log it was not configured for."""

    slug = "unknown-log"
    title = "Unknown log"


class NotSignedByLog(AccordError):
    """A checkpoint without a valid signature of the log's key (tlog-witness: 403)."""

    slug = "not-signed-by-log"
    title = "Checkpoint not signed by the log"
    status = 403


class SizeMismatch(AccordError):
    """The old size a log sent is not the size of the witness's latest cosigned checkpoint
    (tlog-witness: 409, and the body is that size)."""

    slug = "old-size-mismatch"
    title = "Old size does not match the witness's latest checkpoint"
    status = 409

    def __init__(self, detail: str, *, size: int = 0, field: str | None = "old",
                 accepted: str | None = None, extra: dict[str, Any] | None = None) -> None:
        size = int((extra or {}).get("size", size))
        super().__init__(detail, field=field, accepted=accepted, extra={"size": size})
        self.size = size
