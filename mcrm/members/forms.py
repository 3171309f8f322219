from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional
from wtforms.validators import ValidationError as FieldError

from mcrm.core.errors import ValidationError
from mcrm.core.msisdn import normalize_mobile, normalize_msisdn
from mcrm.members.birthdays import parse_birthday
from mcrm.members.models import Gender
from mcrm.members.queries import SORTS, MemberFilter
from mcrm.members.services import parse_tags

GENDER_CHOICES = [SelectChoice(Gender.UNKNOWN, _l("Not given")), SelectChoice(Gender.FEMALE, _l("Female")),
                  SelectChoice(Gender.MALE, _l("Male"))]
SORT_LABELS = {"newest": _l("Newest"), "name": _l("Name"), "points": _l("Points"),
               "last_visit": _l("Last visit"), "spend": _l("Total spend")}
#: what each import field is called on the mapping page
IMPORT_FIELD_LABELS = {"msisdn": _l("Mobile number"), "name": _l("Name"), "gender": _l("Gender"),
                       "birthday": _l("Birthday"), "tags": _l("Tags"), "points": _l("Points balance"),
                       "opted_out": _l("Opted out"), "custom": _l("Custom field (named after the column)"),
                       "ignore": _l("Do not import")}


def _domain_check(parse):
    """A field validator from a domain parser: its ValidationError becomes the field's error."""
    def check(form, field):
        if field.data:
            try:
                parse(field.data)
            except ValidationError as error:
                raise FieldError(error.translated()) from None
    return check


class MemberFilterForm(FlaskForm):
    """The list's search box, filters and sort; read from the query string."""
    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=64)],
                    render_kw={"type": "search",
                               "placeholder": _l("Last digits of the number, a name, or the member number")})
    tier = SelectField(_l("Tier"), choices=[], validate_choice=False, default="")
    tag = StringField(_l("Tag"), validators=[Optional(), Length(max=32)])
    opted_out = SelectField(_l("Marketing"), choices=[SelectChoice("", _l("All")),
                                                      SelectChoice("no", _l("Reachable")),
                                                      SelectChoice("yes", _l("Opted out"))], default="")
    birthday_month = SelectField(_l("Birthday month"), coerce=lambda v: int(v) if v else None,
                                 choices=[SelectChoice("", _l("Any"))]
                                 + [SelectChoice(str(m), str(m)) for m in range(1, 13)])
    sort = SelectField(_l("Sort"), choices=[SelectChoice(k, v) for k, v in SORT_LABELS.items()],
                       default="newest")

    def __init__(self, *args, tiers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.tier.choices = [SelectChoice("", _l("All"))] + [SelectChoice(t, t) for t in tiers]

    def to_filter(self) -> MemberFilter:
        """The filter asked for; anything invalid falls back to its default rather than failing."""
        self.validate()
        value = {name: field.data for name, field in self._fields.items() if not field.errors}
        return MemberFilter(q=(value.get("q") or "").strip(), tier=value.get("tier") or "",
                            tag=(value.get("tag") or "").strip(), opted_out=value.get("opted_out") or "",
                            birthday_month=value.get("birthday_month"),
                            sort=value.get("sort") if value.get("sort") in SORTS else "newest")


class MemberForm(FlaskForm):
    msisdn = StringField(_l("Mobile number"), validators=[_domain_check(normalize_mobile)],
                         render_kw={"type": "tel", "autocomplete": "off"})
    name = StringField(_l("Name"), validators=[Optional(), Length(max=64)])
    gender = SelectField(_l("Gender"), choices=GENDER_CHOICES, default=Gender.UNKNOWN)
    birthday = StringField(_l("Birthday"), validators=[Optional(), _domain_check(parse_birthday)],
                           description=_l("1990-03-15, 19900315, 0315 without a year, "
                                          "or 农历0815 for a lunar date"))
    tags = StringField(_l("Tags"), validators=[Optional(), Length(max=400)],
                       description=_l("Separated by commas or spaces"))
    custom_fields = TextAreaField(_l("Custom fields"), validators=[Optional(), Length(max=2000)],
                                  description=_l("One per line, as name: value"), render_kw={"rows": 3})
    opted_out = BooleanField(_l("Opted out of marketing messages"))

    def validate_msisdn(self, field):
        if not (field.data or "").strip():
            raise FieldError(_l("Enter the mobile number"))

    def validate_custom_fields(self, field):
        for line in (field.data or "").splitlines():
            if line.strip() and not _split_custom(line):
                raise FieldError(_l("Write each custom field as name: value"))

    def member_fields(self) -> dict:
        return {"name": self.name.data or "", "gender": self.gender.data,
                "birthday": self.birthday.data or None, "tags": parse_tags(self.tags.data or ""),
                "custom_fields": parse_custom_fields(self.custom_fields.data)}


class MemberEditForm(MemberForm):
    msisdn = None  # a member's number is who they are: changing it means a new member


def _split_custom(line: str) -> tuple[str, str] | None:
    for separator in (":", "：", "="):
        if separator in line:
            name, value = line.split(separator, 1)
            return (name.strip(), value.strip()) if name.strip() else None
    return None


def parse_custom_fields(text: str | None) -> dict:
    return dict(pair for pair in (_split_custom(line) for line in (text or "").splitlines()) if pair)


def format_custom_fields(fields: dict | None) -> str:
    return "\n".join(f"{name}: {value}" for name, value in (fields or {}).items())


class ImportUploadForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file"))],
                     description=_l("Saved from Excel (GBK) or as UTF-8; "
                                    "the first line holds the column names"),
                     render_kw={"accept": ".csv,.txt,text/csv"})
    first_line_is_data = BooleanField(_l("The first line is a member"),
                                      description=_l("Tick this when the file has no line of column names"))


class OptOutForm(FlaskForm):
    """A number that asked for no more marketing by other means (a call, at the counter)."""
    msisdn = StringField(_l("Mobile number"), validators=[_domain_check(normalize_msisdn)],
                         render_kw={"type": "tel", "autocomplete": "off"})
    note = StringField(_l("Note"), validators=[Optional(), Length(max=100)],
                       description=_l("How the request came, for the record (for example: by phone)"))

    def validate_msisdn(self, field):
        if not (field.data or "").strip():
            raise FieldError(_l("Enter the mobile number"))
