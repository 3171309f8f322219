"""Domain errors: raised by services, shown to staff by views (flash or form error)."""


class DomainError(Exception):
    """A rule of the domain refused the operation; the message is for the user.

    ``message`` is a literal English text with ``%(name)s`` placeholders filled from ``details``
    (write ``%%`` for a percent sign), never an f-string: the literal is what the translation catalog
    holds, so a view shows it in the staff's language with ``translated()``.
    """

    def __init__(self, message: str, **details):
        self.template = message
        self.details = details
        self.message = message % details if details else message
        super().__init__(self.message)

    def translated(self, locale: str | None = None) -> str:
        """The message in ``locale``, else in the language of the current request."""
        from flask_babel import force_locale, gettext
        if locale is None:
            return gettext(self.template, **self.details)
        with force_locale(locale):
            return gettext(self.template, **self.details)


class ValidationError(DomainError):
    """Input that can never be accepted as given (bad phone number, date, amount)."""


class NotFoundError(DomainError):
    """The thing does not exist for this merchant (views answer 404)."""


class ConflictError(DomainError):
    """The operation clashes with existing data (duplicate msisdn, keyword, sub-code)."""


class InsufficientPointsError(DomainError):
    """A redeem asked for more points than the balance holds."""


class ConfirmationRequiredError(DomainError):
    """Allowed, but unusual enough that staff must confirm it first (a purchase above the threshold)."""
