"""A survey end to end through the real SMSC peer: an invitation campaign to a segment reaches its
members (not the opted-out one, not the man outside it), their replies go MO → gateway → keyword
loop → outbox → gateway → SMSC, invalid answers are asked again (then skipped), a branch skips a
question, one member times out, the reward (points and a coupon) comes with the thanks, and the
results page, fetched as staff read it, shows exactly the tallies of the answers given."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from mcrm.campaigns import services as campaigns
from mcrm.campaigns.models import Campaign
from mcrm.keywords.apps.custom import add_pool_codes
from mcrm.keywords.services import create_keyword_app, set_app_config
from mcrm.members.models import Member
from mcrm.segments.services import save_segment
from mcrm.surveys.models import SurveyAnswer, SurveySession
from mcrm.surveys.services import add_question, create_survey
from tests.e2e.test_gateway_smsc import SERVICE_NUMBER, count, gateway, smsc  # noqa: F401  (fixtures)
from tests.e2e.test_keywords_smsc import running, texts_to  # noqa: F401  (fixture)

WOMEN = [f"861380000000{n}" for n in range(4)]
MAN, OPTED_OUT = "8613800000008", "8613800000009"
INTRO = "调查3题"
Q1, Q2, Q3 = "1.口味？A好 B一般 C差", "2.服务打几分？1-5", "3.建议？"
REASK = f"【小王烧烤】回复无法识别，请按提示作答：\n{Q1}"
COUPON = re.compile(r"赠送优惠券SV0\d，\d{4}-\d{2}-\d{2}前有效。$")


def setup(db, merchant, make_member):
    merchant.send_window_start, merchant.send_window_end = (datetime.min.time(),
                                                            datetime.max.time().replace(microsecond=0))
    for n, msisdn in enumerate(WOMEN):
        make_member(msisdn="+" + msisdn, name=f"会员{n}", gender="f")
    make_member(msisdn="+" + MAN, gender="m")
    make_member(msisdn="+" + OPTED_OUT, gender="f", opted_out=True)
    app = create_keyword_app(merchant, kind="coupon", name="调查礼券")
    set_app_config(app, source="pool", valid_days=7)
    add_pool_codes(app, ["SV01", "SV02", "SV03", "SV04"])
    survey = create_survey(merchant, code="K1", title="口味", intro=INTRO, thanks="谢谢！", is_active=True,
                           max_reasks=1, timeout_hours=1, reward_points=10, reward_coupon_app_id=app.id)
    add_question(survey, kind="single", text=Q1, options=["好", "一般", "差"], branches="C=3")
    add_question(survey, kind="rating5", text=Q2)
    add_question(survey, kind="text", text=Q3)
    women = save_segment(merchant.id, name="女士", now=datetime.now(UTC),
                         definition={"op": "and", "items": [{"type": "gender", "genders": ["f"]}]})
    now = datetime.now(UTC)
    campaign = campaigns.create_campaign(merchant, name="口味调查", body="请参加调查", segment_id=women.id,
                                         survey_id=survey.id, now=now)
    campaigns.launch_campaign(campaign, now=now)
    db.session.commit()
    return survey.id, campaign.id


def say(smsc, number: str, text: str, replies_so_far: int) -> str:
    """The member texts; the reply that reaches their phone."""
    smsc.mo(number, SERVICE_NUMBER, text)
    return texts_to(smsc, number, replies_so_far + 1)[-1]


def tallies(page: str) -> dict:
    """Question number → ({label: count} from its chart, skipped, free texts), as the page shows them."""
    found = {}
    for number, section in re.findall(r'<section class="card" data-question="(\d+)">(.*?)</section>', page, re.S):
        bars = dict((label, int(value)) for label, value in re.findall(
            r'<text x="0" [^>]*>([^<]*)</text><rect [^>]*/><text [^>]*>(\d+)</text>', section))
        skipped = re.search(r"Skipped: (\d+)", section)
        texts = re.findall(r"<li>([^<]*)</li>", section)
        found[int(number)] = ({k: v for k, v in bars.items() if v}, int(skipped.group(1)) if skipped else 0, texts)
    return found


def test_a_survey_by_invitation_answered_through_the_smsc(app, db, merchant, make_member, smsc, running, client,
                                                         login):
    survey_id, campaign_id = setup(db, merchant, make_member)
    assert campaigns.dispatch_due(now=datetime.now(UTC)) == 5
    invitation = "【小王烧烤】请参加调查\n" + f"{INTRO}\n{Q1}回T退订"
    for number in WOMEN:
        assert texts_to(smsc, number, 1) == [invitation]
    assert not [r for r in smsc.records("message") if r["destination_addr"] in (MAN, OPTED_OUT)]
    first, second, third, fourth = WOMEN

    # an invalid answer is asked again; the valid one moves on; the last answer gets the reward
    assert say(smsc, first, "还行吧", 1) == REASK
    assert say(smsc, first, "A", 2) == f"【小王烧烤】{Q2}"
    assert say(smsc, first, "5分", 3) == f"【小王烧烤】{Q3}"
    thanks = say(smsc, first, "上菜快一点", 4)
    assert thanks.startswith("【小王烧烤】谢谢！已赠送您10积分。") and COUPON.search(thanks)
    # C branches past question 2
    assert say(smsc, second, "c", 1) == f"【小王烧烤】{Q3}"
    assert COUPON.search(say(smsc, second, "太咸", 2))
    # twice invalid (one re-ask allowed): skipped, and the survey goes on
    assert say(smsc, fourth, "嗯", 1) == REASK
    assert say(smsc, fourth, "不知道", 2) == f"【小王烧烤】{Q2}"
    assert say(smsc, fourth, "三", 3) == f"【小王烧烤】{Q3}"
    assert COUPON.search(say(smsc, fourth, "没有", 4))
    # the third answers two questions, then lets the survey time out: a later text is no answer
    assert say(smsc, third, "Ｂ", 1) == f"【小王烧烤】{Q2}"
    assert say(smsc, third, "4", 2) == f"【小王烧烤】{Q3}"
    db.session.execute(sa.update(SurveySession).where(SurveySession.msisdn == "+" + third)
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()                 # an hour passes: the session is over
    late = say(smsc, third, "很好吃", 3)
    assert Q1 not in late and "谢谢！" not in late
    assert count(db, SurveyAnswer.text == "很好吃", model=SurveyAnswer) == 0

    rewarded = dict(db.session.execute(sa.select(Member.msisdn, Member.points_balance)
                                       .where(Member.points_balance > 0)).all())
    db.session.rollback()
    assert rewarded == {"+" + first: 10, "+" + second: 10, "+" + fourth: 10}
    campaigns.dispatch_due(now=datetime.now(UTC))
    report = campaigns.campaign_report(db.session.get(Campaign, campaign_id), now=datetime.now(UTC))
    db.session.rollback()
    assert (report.survey_invited, report.survey_responses, report.survey_completions) == (4, 4, 3)
    assert report.suppressed == {"opted out": 1}

    login("clerk")
    page = client.get(f"/surveys/{survey_id}/results").get_data(as_text=True)
    assert 'data-figure="started">4<' in page and 'data-figure="answered">4 (100.0%)' in page
    assert 'data-figure="completed">3 (75.0%)' in page
    assert tallies(page) == {1: ({"A 好": 1, "B 一般": 1, "C 差": 1}, 1, []),
                             2: ({"5": 1, "4": 1, "3": 1}, 0, []),
                             3: ({}, 0, ["没有", "太咸", "上菜快一点"])}
