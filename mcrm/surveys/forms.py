"""The survey form (code, texts, dates, limits, reward, extension) and the question form."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mcrm.core.urls import optional_id
from mcrm.surveys.flow import QuestionKind
from mcrm.surveys.services import MAX_REASKS

KIND_LABELS = {QuestionKind.SINGLE: _l("Single choice"), QuestionKind.MULTIPLE: _l("Multiple choice"),
               QuestionKind.RATING_5: _l("Rating 1-5"), QuestionKind.RATING_10: _l("Rating 0-10"),
               QuestionKind.NUMBER: _l("Number"), QuestionKind.TEXT: _l("Free text")}
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class SurveyForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)],
                       description=_l("Customers text DC and this code to start the survey, for example DC Q1"),
                       render_kw={"autocomplete": "off"})
    title = StringField(_l("Title"), validators=[Optional(), Length(max=100)])
    intro = TextAreaField(_l("Opening text"), validators=[DataRequired(), Length(max=500)],
                          description=_l("Sent with the first question"), render_kw={"rows": 2})
    thanks = TextAreaField(_l("Thank-you text"), validators=[Optional(), Length(max=500)],
                           description=_l("Sent after the last answer; empty: the shop's usual thanks"),
                           render_kw={"rows": 2})
    opens_at = DateTimeLocalField(_l("Opens (local time)"), format=LOCAL_FORMATS, validators=[Optional()],
                                  description=_l("Empty: as soon as it is open"))
    closes_at = DateTimeLocalField(_l("Closes (local time)"), format=LOCAL_FORMATS, validators=[Optional()],
                                   description=_l("Empty: until it is closed"))
    timeout_hours = IntegerField(_l("An unanswered survey ends after (hours)"), default=24,
                                 validators=[NumberRange(1, 720)])
    max_reasks = IntegerField(_l("Re-asks of an invalid answer before skipping"), default=2,
                              validators=[NumberRange(0, MAX_REASKS)])
    reward_points = IntegerField(_l("Reward points for completing"), default=0, validators=[NumberRange(0)],
                                 description=_l("Once per member; 0: no reward"))
    reward_coupon_app_id = SelectField(_l("Reward coupon for completing"), coerce=optional_id,
                                       validate_choice=False,
                                       description=_l("Once per member: a code of this coupon app comes with "
                                                      "the thanks"))
    extension = StringField(_l("Extension"), validators=[Optional(), Length(max=6)],
                            description=_l("Digits after the service number that start this survey "
                                           "without a keyword; empty: none"))

    def __init__(self, *args, coupon_apps=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.reward_coupon_app_id.choices = [SelectChoice("", _l("No coupon"))] + [
            SelectChoice(app.id, app.name) for app in coupon_apps]


class QuestionForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()],
                       default=QuestionKind.SINGLE.value)
    text = TextAreaField(_l("SMS wording"), validators=[DataRequired(), Length(max=500)], render_kw={"rows": 3},
                         description=_l("Show the options as customers should answer, for example "
                                        "“口味如何？A好 B一般 C差”"))
    options = TextAreaField(_l("Options, one a line (choice questions)"), validators=[Optional()],
                            render_kw={"rows": 4},
                            description=_l("A, a, Ａ, 1, 一 and the option's word all choose the first one"))
    branches = TextAreaField(_l("Branches (single choice)"), validators=[Optional()], render_kw={"rows": 2},
                             description=_l("One a line: C=4 sends answer C to question 4"))
    reask_text = TextAreaField(_l("Re-ask text for an invalid answer"), validators=[Optional(), Length(max=500)],
                               render_kw={"rows": 2}, description=_l("Empty: a standard re-ask and the question again"))

    def option_list(self) -> list[str]:
        return [line.strip() for line in (self.options.data or "").splitlines() if line.strip()]
