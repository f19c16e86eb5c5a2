"""What services report when a request cannot be carried out; the API maps each to a status."""


class ServiceError(Exception):
    """Base of the errors below; the message is fit for a client."""


class NotFound(ServiceError):
    """No such thing, or not one the caller may see (its existence is not revealed)."""


class Forbidden(ServiceError):
    """The caller may see this but may not do that."""


class StaleRevision(ServiceError):
    """The client's If-Match names a revision that is no longer current."""


class IdempotencyConflict(ServiceError):
    """The same Idempotency-Key is in flight in another request."""


class IdempotencyMismatch(ServiceError):
    """The Idempotency-Key was used before with a different body."""

    problem_slug = "idempotency-key-reused"


class Invalid(ServiceError):
    """The request is well-formed but breaks a rule of the domain.

    `errors` pairs each offending field's JSON pointer with what is wrong there; by default,
    the one `pointer` with the message.
    """

    def __init__(self, message: str, *, pointer: str = "", errors: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.errors = errors if errors is not None else [(pointer, message)]
