"""Built-in keywords and reply texts: the Chinese defaults of docs/keywords.md and per-merchant overrides.

Overrides live in ``Merchant.texts``: ``{"keywords": {"join": ["ZC", ...]}, "replies": {"points": "..."},
"unknown": "help" | "feedback" | "nothing", "unknown_per_hour": 3}``. Anything not overridden falls back to the default here.
"""
from flask_babel import lazy_gettext as _l

from mcrm.core.templates import check_template
from mcrm.core.text import fold
from mcrm.keywords.fields import MEMBER_FIELDS
from mcrm.messaging.texts import check_length

#: built-in app → default keywords (Chinese first, English aliases after), docs/keywords.md
DEFAULT_KEYWORDS = {
    "join": ["ZC", "注册", "JOIN"],
    "points": ["JF", "积分", "POINTS"],
    "stop": ["TD", "T", "退订", "STOP", "N", "QX", "取消"],
    "start": ["DY", "订阅", "START"],
    "help": ["BZ", "帮助", "HELP", "?", "？"],
    "suggestion": ["YJ", "意见", "JY", "建议"],
    "complaint": ["TS", "投诉"],
    "praise": ["BY", "表扬"],
    "survey": ["DC", "调查"],
}

BUILTIN_LABELS = {
    "join": _l("Join"), "points": _l("Points balance"), "stop": _l("Stop marketing"),
    "start": _l("Subscribe again"), "help": _l("Help"), "suggestion": _l("Suggestion"),
    "complaint": _l("Complaint"), "praise": _l("Praise"), "survey": _l("Survey"),
}

#: staff commands (from registered staff phones only); fixed, they are not shown to consumers
STAFF_COMMANDS = {"xf": "purchase", "dh": "redeem", "dl": "login_code", "hx": "coupon_redeem", "rc": "agenda_add",
                  "1": "agenda_confirm"}

#: what an unknown text gets outside a survey: the merchant's choice
UNKNOWN_ACTIONS = ("help", "feedback", "nothing")

#: automatic answers to texts not understood, per number and hour: an auto-responder on the other
#: side would otherwise ping-pong with the help text for ever, on the merchant's bill
DEFAULT_UNKNOWN_PER_HOUR = 3
UNKNOWN_PER_HOUR_RANGE = (1, 60)

#: extension digits after the service number → built-in app, unless the merchant sets others
DEFAULT_EXTENSIONS = {"9": "survey"}

#: reply id → (default text, placeholders it may use)
DEFAULT_REPLIES = {
    "join_welcome": ("{name}您好，欢迎加入会员！会员号{member_no}，赠送{gift_points}积分，当前积分{points}。回JF查积分。",
                     MEMBER_FIELDS + ("gift_points",)),
    "join_updated": ("{name}您好，您已是会员（会员号{member_no}），资料已更新。当前积分{points}，等级{tier}。", MEMBER_FIELDS),
    "join_back": ("{name}您好，欢迎回来！您已重新订阅，当前积分{points}。", MEMBER_FIELDS),
    "join_bad_birthday": ("生日格式不对，请发送：ZC 姓名 19900315，或 ZC 姓名 农历0815。", ("shop",)),
    "join_not_mobile": ("{shop}会员需用手机号注册，请用手机发送：ZC 姓名 生日。", ("shop",)),
    "points": ("{name}您好，当前积分{points}，等级{tier}，30天内将到期{expiring_points}分。", MEMBER_FIELDS),
    "not_member": ("您还不是{shop}会员，回复“ZC 姓名 生日”即可注册，立送{gift_points}积分。", ("shop", "gift_points")),
    "stop": ("您已退订{shop}的营销短信，回DY可重新订阅。", ("shop",)),
    "start": ("您已重新订阅{shop}的优惠信息，感谢支持！", ("shop",)),
    # one SMS with the signature and every built-in (keywords as help_keywords lists them)
    "help": ("回复{keywords}", ("shop", "keywords")),
    "feedback_received": ("感谢您的{kind}，工单号{ticket_no}，我们会尽快处理。", ("shop", "kind", "ticket_no")),
    "feedback_empty": ("请在关键词后写上内容，例如：YJ 菜品偏咸。", ("shop",)),
    "feedback_rated": ("感谢您的评价！", ("shop",)),
    "survey_none": ("{shop}目前没有进行中的调查，感谢关注。", ("shop",)),
    "survey_thanks": ("感谢您参与调查！", ("shop",)),
    "staff_purchase": ("已记录{msisdn}消费{amount}元，积分+{earned}，余额{points}。", ("msisdn", "amount", "earned", "points")),
    "member_purchase": ("{name}您好，本次消费{amount}元，获得{earned}积分，当前积分{points}。", MEMBER_FIELDS + ("amount", "earned")),
    "staff_redeem": ("已为{msisdn}兑换{redeemed}积分，余额{points}。", ("msisdn", "redeemed", "points")),
    "member_redeem": ("{name}您好，您已兑换{redeemed}积分，当前积分{points}。", MEMBER_FIELDS + ("redeemed",)),
    "member_purchase_voided": ("{name}您好，您{amount}元的消费记录已撤销，扣回{earned}积分，当前积分{points}。",
                               MEMBER_FIELDS + ("amount", "earned")),
    "member_redeem_voided": ("{name}您好，您兑换的{redeemed}积分已退回，当前积分{points}。", MEMBER_FIELDS + ("redeemed",)),
    "staff_short": ("积分不足：{msisdn}余额{points}，需要{redeemed}。", ("msisdn", "points", "redeemed")),
    "staff_no_member": ("{msisdn}不是会员。", ("msisdn",)),
    "staff_usage": ("格式：XF 手机号 金额 / DH 手机号 积分 [原因] / DL / HX 券码", ("shop",)),
    "staff_error": ("未执行：{error}", ("error",)),
    "login_code": ("您的后台登录验证码{code}，5分钟内有效，请勿告诉他人。", ("code",)),
    "coupon_redeemed": ("券码{code}已核销：{offer}。", ("code", "offer")),
    "staff_agenda_added": ("已记入日程：{when} {title}，提前{remind}分钟短信提醒。", ("when", "title", "remind")),
    "staff_agenda_confirmed": ("已确认：{items}", ("items",)),
}

FEEDBACK_KIND_LABELS = {"suggestion": "建议", "complaint": "投诉", "praise": "表扬"}


def builtin_keywords(merchant) -> dict[str, list[str]]:
    """Built-in app → its keywords for this merchant (override or default)."""
    overrides = (merchant.texts or {}).get("keywords", {})
    return {app: list(overrides.get(app) or words) for app, words in DEFAULT_KEYWORDS.items()}


def reply_template(merchant, reply_id: str) -> str:
    override = (merchant.texts or {}).get("replies", {}).get(reply_id)
    return override or DEFAULT_REPLIES[reply_id][0]


def allowed_fields(reply_id: str) -> tuple[str, ...]:
    return DEFAULT_REPLIES[reply_id][1]


def check_reply(reply_id: str, template: str, *, signature: str) -> None:
    check_template(template, allowed_fields(reply_id))
    check_length(template, signature=signature)


def unknown_action(merchant) -> str:
    action = (merchant.texts or {}).get("unknown", "help")
    return action if action in UNKNOWN_ACTIONS else "help"


def unknown_per_hour(merchant) -> int:
    return int((merchant.texts or {}).get("unknown_per_hour") or DEFAULT_UNKNOWN_PER_HOUR)


def extensions(merchant) -> dict[str, str]:
    return dict((merchant.texts or {}).get("extensions") or DEFAULT_EXTENSIONS)


def is_staff_command(keyword: str) -> bool:
    return fold(keyword) in STAFF_COMMANDS

#: what each reply answers, for the console (built-in and wizard replies)
REPLY_LABELS = {
    "join_welcome": _l("Welcome on joining"), "join_updated": _l("Already a member: details updated"),
    "join_back": _l("Opted-out member joins again"), "join_bad_birthday": _l("Birthday not understood"),
    "join_not_mobile": _l("Join from a number that is no mobile"),
    "points": _l("Points balance"), "not_member": _l("Not a member yet"), "stop": _l("Opted out"),
    "start": _l("Subscribed again"), "help": _l("Help"), "feedback_received": _l("Feedback ticket opened"),
    "feedback_empty": _l("Feedback keyword without text"),
    "feedback_rated": _l("Satisfaction answer recorded"), "survey_none": _l("No survey running"),
    "survey_thanks": _l("Survey answered"), "staff_purchase": _l("Staff: purchase recorded"),
    "member_purchase": _l("Member: purchase recorded"), "staff_redeem": _l("Staff: points redeemed"),
    "member_redeem": _l("Member: points redeemed"),
    "member_purchase_voided": _l("Member: purchase voided"),
    "member_redeem_voided": _l("Member: redemption voided"),
    "staff_short": _l("Staff: balance too low"),
    "staff_no_member": _l("Staff: number is no member"), "staff_usage": _l("Staff: command formats"),
    "staff_error": _l("Staff: command refused"), "login_code": _l("Console login code"),
    "coupon_redeemed": _l("Staff: coupon redeemed"),
    "staff_agenda_added": _l("Staff: agenda item added by RC"),
    "staff_agenda_confirmed": _l("Staff: agenda reminders confirmed with 1"),
    "reply": _l("Reply"), "issued": _l("Coupon code issued"), "sold_out": _l("No coupons left"),
    "voted": _l("Vote recorded"), "already": _l("Already done (one per number)"),
    "options": _l("No valid option given"), "found": _l("Code found"), "not_found": _l("Code not found"),
    "usage": _l("No code given"), "confirmed": _l("Seat confirmed"), "waiting": _l("On the waiting list"),
    "too_many": _l("More seats asked for than one text may book"), "reminder": _l("Reminder before the event"),
    "promoted": _l("Moved up from the waiting list"),
    "cancelled": _l("Sign-up cancelled by the texter"), "not_signed_up": _l("Cancel from a number not signed up"),
    "limit": _l("Limit per number reached"),
}
