"""Form parts every feature may use."""
import uuid

from flask_wtf import FlaskForm
from wtforms import HiddenField


class OncePerSubmitForm(FlaskForm):
    """A fresh key per rendered form: a double click or a resent POST carries the same key, so the
    service it is passed to does the thing once."""
    request_id = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.request_id.data:
            self.request_id.data = uuid.uuid4().hex

    @property
    def idempotency_key(self) -> str:
        return f"console:{self.request_id.data[:64]}"
