"""Domain errors: raised by services, shown to staff by views (flash or form error)."""


class DomainError(Exception):
    """A rule of the domain refused the operation; the message is for the user."""

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationError(DomainError):
    """Input that can never be accepted as given (bad phone number, date, amount)."""


class NotFoundError(DomainError):
    """The thing does not exist for this merchant (views answer 404)."""


class ConflictError(DomainError):
    """The operation clashes with existing data (duplicate msisdn, keyword, sub-code)."""


class InsufficientPointsError(DomainError):
    """A redeem asked for more points than the balance holds."""
