"""Random segment definitions: the one compiled query counts exactly the members that a plain Python
reading of the same definition picks from a small, varied member set (SQLite and PostgreSQL)."""
import random
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings, strategies as st
from lunardate import LunarDate

from mcrm.extensions import db
from mcrm.members.services import opt_out
from mcrm.points.services import SYSTEM, record_purchase
from mcrm.segments.services import count_members, member_ids_select

TIERS = ["金卡", "银卡", "普通", ""]
TAGS = ["常客", "VIP", "新客"]
CITIES = ["北京", "上海", "Beijing"]


def seed(make_member, merchant, now, rng):
    """~30 members spread over every value the strategies below ask about; returns their purchases."""
    purchases = {}
    for _ in range(30):
        birthday = rng.choice([None, f"19{rng.randint(60, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
                               f"农历{rng.randint(1, 12):02d}{rng.randint(1, 30):02d}",
                               (now.date() + timedelta(days=rng.randint(-3, 20))).strftime("1990%m%d")])
        fields = {"gender": rng.choice("fmu"), "tags": rng.sample(TAGS, rng.randint(0, 3)),
                  "custom_fields": {"城市": rng.choice(CITIES)} if rng.random() < 0.6 else {},
                  "joined_at": now - timedelta(days=rng.randint(0, 400))}
        if birthday:
            fields["birthday"] = birthday
        member = make_member(points=rng.choice([0, 50, 200, 800]), **fields)
        member.tier = rng.choice(TIERS)
        if rng.random() < 0.2:
            opt_out(member, now=now)
        days = sorted((rng.randint(1, 90) for _ in range(rng.choice([0, 0, 1, 2, 3]))), reverse=True)
        purchases[member.id] = []
        for days_ago in days:  # oldest first: the last one recorded is the last visit
            amount = rng.choice([30, 100, 250])
            record_purchase(member, merchant, amount, actor=SYSTEM, now=now - timedelta(days=days_ago))
            purchases[member.id].append((now - timedelta(days=days_ago), Decimal(amount)))
    db.session.commit()
    return purchases


# -- definitions ----------------------------------------------------------------------------------

def _range(low, high):
    return st.tuples(st.one_of(st.none(), low), st.one_of(st.none(), high)).filter(
        lambda t: t != (None, None) and (None in t or t[0] <= t[1])).map(
        lambda t: {k: v for k, v in (("min", t[0]), ("max", t[1])) if v is not None})


CONDITIONS = st.one_of(
    st.builds(lambda tiers: {"type": "tier", "tiers": tiers}, st.lists(st.sampled_from(TIERS[:3]), min_size=1)),
    st.builds(lambda g: {"type": "gender", "genders": g}, st.lists(st.sampled_from("fmu"), min_size=1)),
    st.builds(lambda tags, match: {"type": "tags", "tags": tags, "match": match},
              st.lists(st.sampled_from(TAGS), min_size=1), st.sampled_from(["any", "all", "none"])),
    st.builds(lambda op, value: {"type": "custom_field", "name": "城市", "op": op,
                                 **({"value": value} if op in ("eq", "ne", "contains") else {})},
              st.sampled_from(["eq", "ne", "contains", "set", "unset"]), st.sampled_from(CITIES + ["jing", "京"])),
    _range(st.integers(0, 1000), st.integers(0, 1000)).map(lambda r: {"type": "points", **r}),
    st.builds(lambda v: {"type": "opted_out", "value": v}, st.booleans()),
    st.builds(lambda m, c: {"type": "birthday_month", "month": m, "calendar": c},
              st.integers(1, 12), st.sampled_from(["any", "solar", "lunar"])),
    st.builds(lambda d: {"type": "birthday_soon", "days": d}, st.integers(0, 40)),
    st.builds(lambda op, d: {"type": "last_visit", "op": op, "days": d},
              st.sampled_from(["within", "not_within"]), st.integers(1, 100)),
    st.builds(lambda r, d: {"type": "visits", **r, **({"period": {"days": d}} if d else {})},
              _range(st.integers(0, 3), st.integers(0, 3)), st.one_of(st.none(), st.integers(1, 100))),
    st.builds(lambda r: {"type": "spend", **r}, _range(st.sampled_from(["0", "100", "250.5", "400"]),
                                                       st.sampled_from(["0", "100", "250.5", "400"]))
              .filter(lambda r: "min" not in r or "max" not in r or Decimal(r["min"]) <= Decimal(r["max"]))),
    st.builds(lambda d: {"type": "joined", "period": {"days": d}}, st.integers(1, 400)),
)
DEFINITIONS = st.recursive(CONDITIONS, lambda children: st.builds(
    lambda op, items: {"op": op, "items": items}, st.sampled_from(["and", "or", "not"]),
    st.lists(children, min_size=1, max_size=3)), max_leaves=6).map(
    lambda d: d if "type" not in d else {"op": "and", "items": [d]})


# -- the Python reading -----------------------------------------------------------------------------

def birthday_within(member, today, days):
    end = today + timedelta(days=days)
    if member.birthday_is_lunar:
        for year in (today.year - 1, today.year, today.year + 1):
            for day in (member.birthday_lunar_day, member.birthday_lunar_day - 1):
                try:
                    solar = LunarDate(year, member.birthday_lunar_month, day).to_solar_date()
                except ValueError:
                    continue
                if today <= solar <= end:
                    return True
                break
        return False
    if member.birthday is None:
        return False
    for year in (today.year, today.year + 1):
        month, day = member.birthday.month, member.birthday.day
        try:
            solar = date(year, month, day)
        except ValueError:  # 29 February in a common year is kept on the 28th
            solar = date(year, 2, 28)
        if today <= solar <= end:
            return True
    return False


def matches(node, member, purchases, now, today) -> bool:
    if "type" not in node:
        results = [matches(item, member, purchases, now, today) for item in node["items"]]
        return all(results) if node["op"] == "and" else any(results) if node["op"] == "or" else not any(results)
    kind, tags = node["type"], set(member.tag_names)
    custom = member.custom_fields.get("城市", "")

    def within(low, high, value):
        return (low is None or value >= low) and (high is None or value <= high)

    if kind == "tier":
        return member.tier in node["tiers"]
    if kind == "gender":
        return member.gender in node["genders"]
    if kind == "tags":
        wanted = set(node["tags"])
        return {"any": bool(wanted & tags), "all": wanted <= tags, "none": not wanted & tags}[node["match"]]
    if kind == "custom_field":
        value = node.get("value", "")
        return {"eq": custom == value, "ne": custom != value, "contains": value.lower() in custom.lower(),
                "set": custom != "", "unset": custom == ""}[node["op"]]
    if kind == "points":
        return within(node.get("min"), node.get("max"), member.points_balance)
    if kind == "opted_out":
        return member.opted_out == node["value"]
    if kind == "birthday_month":
        calendar_ok = {"any": True, "solar": not member.birthday_is_lunar,
                       "lunar": member.birthday_is_lunar}[node["calendar"]]
        return calendar_ok and member.birthday_month == node["month"]
    if kind == "birthday_soon":
        return birthday_within(member, today, node["days"])
    if kind == "last_visit":
        recent = member.last_visit_at is not None and member.last_visit_at >= now - timedelta(days=node["days"])
        return recent if node["op"] == "within" else not recent
    if kind == "visits":
        since = now - timedelta(days=node["period"]["days"]) if "period" in node else None
        count = sum(1 for moment, _amount in purchases[member.id] if since is None or moment >= since)
        return within(node.get("min"), node.get("max"), count)
    if kind == "spend":
        low, high = (Decimal(node[k]) if k in node else None for k in ("min", "max"))
        return within(low, high, Decimal(member.total_spend))
    if kind == "joined":
        return member.joined_at >= now - timedelta(days=node["period"]["days"])
    raise AssertionError(kind)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_compiled_segment_counts_what_a_python_reading_picks(merchant, make_member, now, data):
    if not hasattr(merchant, "_seeded"):
        merchant._seeded = seed(make_member, merchant, now, random.Random(12))
    purchases = merchant._seeded
    from mcrm.members.models import Member
    members = db.session.scalars(db.select(Member).where(Member.merchant_id == merchant.id)).all()
    today = now.astimezone(ZoneInfo(merchant.timezone)).date()
    definition = data.draw(DEFINITIONS)
    expected = {m.id for m in members if matches(definition, m, purchases, now, today)}
    assert set(db.session.scalars(member_ids_select(merchant.id, definition, now=now))) == expected, definition
    assert count_members(merchant.id, definition, now=now) == len(expected)
