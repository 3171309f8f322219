"""How a view saves: one service call committed as a unit, or refused with nothing half-saved.

Every console view that changes data goes through ``saving()``, so the rule "a refused change keeps
nothing and says why" is written once (tests/test_one_place.py checks that views never commit or
roll back on their own).
"""
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import flash

from mcrm.core.errors import DomainError
from mcrm.extensions import db


@dataclass
class Outcome:
    """What became of a change: ``ok``, or the DomainError that refused it."""

    error: DomainError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@contextmanager
def saving(*, errors: list | None = None, quiet: bool = False, keep: bool = True,
           keep_refused: bool = False, reraise: bool = False) -> Iterator[Outcome]:
    """Run the block as one change: commit when it ends, roll back when a DomainError refuses it.

    The reason of a refusal is flashed as an error; or appended to ``errors`` (a form's
    ``form_errors`` or a field's ``errors``, so the form shows it beside what was typed); or, with
    ``quiet``, only kept in ``outcome.error`` for a page that shows it its own way.
    ``keep=False`` rolls back even a success: a try-out that must leave nothing behind.
    ``keep_refused=True`` commits what the service recorded before refusing (a failed sign-in
    counts towards the lock-out).
    ``reraise=True`` raises the refusal again after the rollback, for a caller that answers it its
    own way (the JSON API's error handler).
    """
    outcome = Outcome()
    try:
        yield outcome
    except DomainError as error:
        outcome.error = error
        if keep_refused:
            db.session.commit()
        else:
            db.session.rollback()
        if reraise:
            raise
        if quiet:
            return
        if errors is not None:
            errors.append(error.translated())
        else:
            flash(error.translated(), "error")
    else:
        if keep:
            db.session.commit()
        else:
            db.session.rollback()

