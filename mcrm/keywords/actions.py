"""The app registry: built-in app name or wizard app kind → its handler (RapidPro ``TYPES_BY_CODE``)."""
from mcrm.keywords.apps import custom, members, service
from mcrm.keywords.context import Context
from mcrm.keywords.models import KeywordApp

BUILTIN_APPS = {
    "join": members.join,
    "points": members.points,
    "stop": members.stop,
    "start": members.start,
    "help": service.help_app,
    "suggestion": service.suggestion,
    "complaint": service.complaint,
    "praise": service.praise,
    "survey": service.survey,
}

#: wizard app kind → handler(ctx, app)
CUSTOM_KINDS = custom.KINDS


def run_builtin(name: str, ctx: Context, *, apps=(), **options) -> None:
    if name == "help":
        service.help_app(ctx, custom_apps=apps)
    else:
        BUILTIN_APPS[name](ctx, **options)


def run_custom(app: KeywordApp, ctx: Context) -> None:
    custom.run(app, ctx)


def run_survey_answer(ctx: Context, session) -> None:
    service.survey_answer(ctx, session)


def run_survey_extension(ctx: Context, chosen=None) -> None:
    service.survey_by_extension(ctx, chosen)
