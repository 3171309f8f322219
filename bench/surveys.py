"""Benchmark: surveys answered by SMS, and the results page, on SQLite (or PostgreSQL).

    .venv/bin/python bench/surveys.py [--sessions 10000] [--latency-sessions 400] [--responses 100000]
                                      [--members 20000] [--batch 50] [--database-url URL]

1. seeds ``--members`` members (bench/members.py, not timed) and opens a survey of four questions
   (single choice with a branch, multiple choice, rating 1-5, free text; 10 points for completing);
2. throughput: ``--sessions`` texters answer it at the same time. Their MOs are stored in the inbox
   round by round (not timed: every texter's start, then every texter's first answer, ...), about
   one in ten with an invalid answer first (and its re-ask), one in ten stopping after the first
   question, so all sessions are open together and every batch mixes them; then
   ``process_inbound_sms`` (the job of ``mcrm run``: claim, ``handle_inbound_sms``, the keyword
   engine, the reply to the outbox) runs in batches of ``--batch`` until the inbox is empty:
   MO/s, answers/s and CPU per MO;
3. latency: ``--latency-sessions`` more texters, round by round, each MO stored and then answered
   alone, timed from its commit to the inbox until the next question (or re-ask, or thanks) is
   committed to the outbox; after each, a plain keyword MO (``JF`` from a member: the baseline,
   the same path without a survey) timed the same way: p50/p99 of both and their ratio;
4. results: a second survey with ``--responses`` sessions and their answers (bulk inserted, not
   timed): ``survey_results`` (the service the page renders) and one GET of the results page
   through the test client, signed in, wall and CPU time.
Targets (issue 14): p99 stored MO → queued next question under 20 ms; the results page at 100,000
responses under 300 ms. With ``--database-url`` (or MCRM_BENCH_DATABASE_URL, or the
MCRM_TEST_DATABASE_URL of scripts/with-postgres.sh) it runs on that PostgreSQL database, whose
public schema it empties first.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from members import NOW, PASSWORD, analyze, msisdn, seed  # noqa: E402  (bench/members.py: the same seeded members)
from mcrm import create_app  # noqa: E402
from mcrm.auth.services import create_staff  # noqa: E402
from mcrm.extensions import db  # noqa: E402
from mcrm.jobs.tasks import process_inbound_sms  # noqa: E402
from mcrm.merchants.models import Merchant  # noqa: E402
from mcrm.merchants.services import create_merchant  # noqa: E402
from mcrm.messaging.models import InboundMessage, InboundStatus, OutboundMessage  # noqa: E402
from mcrm.messaging.services import store_inbound  # noqa: E402
from mcrm.settings import Settings  # noqa: E402
from mcrm.surveys.models import Survey, SurveyAnswer, SurveySession  # noqa: E402
from mcrm.surveys.services import add_question, create_survey, survey_results  # noqa: E402

QUESTIONS = [
    ("single", "1.菜品如何？A好吃 B一般 C难吃", ["好吃", "一般", "难吃"], "C=3"),
    ("multiple", "2.喜欢什么？A菜品 B环境 C服务（可多选）", ["菜品", "环境", "服务"], ""),
    ("rating5", "3.服务打几分？回复1-5", [], ""),
    ("text", "4.有什么建议？", [], ""),
]
SINGLE = ["A", "a", "Ａ", "1", "一", "好吃", "B", "2", "一般", "C", "难吃"]
MULTIPLE = ["A C", "AB", "菜品、服务", "b", "A,B,C", "2 3"]
RATING = ["5", "4分", "3", "五", "4"]
TEXTS = ["上菜快一点", "菜有点咸", "环境很好，下次再来", "停车不方便", "希望多些素菜"]


def script(rng: random.Random, code: str) -> list[str]:
    """One texter's MOs: the start, then the answers (an invalid one first now and then, the
    branch C=3 skipping question 2, one in ten stopping after question 1)."""
    texts = [rng.choice([f"DC {code}", f"调查 {code}", f"dc {code}"])]
    first = rng.choice(SINGLE)
    if rng.random() < 0.1:
        texts.append("还行吧")                                    # no option: asked again
    texts.append(first)
    if rng.random() < 0.1:
        return texts
    if first not in ("C", "难吃"):
        texts.append(rng.choice(MULTIPLE))
    if rng.random() < 0.05:
        texts.append("十分")                                      # a rating out of range: asked again
    texts += [rng.choice(RATING), rng.choice(TEXTS)]
    return texts


def rounds(scripts: list[tuple[str, list[str]]]):
    """(sender, text) interleaved: every texter's first MO, then every texter's second, ..."""
    for index in range(max(len(texts) for _sender, texts in scripts)):
        for sender, texts in scripts:
            if index < len(texts):
                yield sender, texts[index]


def store(merchant_id: int, sub_code: str, access_number: str, sender: str, text: str) -> None:
    store_inbound(source_addr=sender, destination_addr=access_number + sub_code, text=text, data_coding=8,
                  received_at=NOW, access_number=access_number)


def timed_mo(merchant_id, sub_code, access_number, sender, text) -> tuple[float, float]:
    """Store one MO and commit it, then answer it alone: (wall ms, CPU ms) from the commit to the
    reply's commit to the outbox."""
    store(merchant_id, sub_code, access_number, sender, text)
    db.session.commit()
    wall, cpu = time.perf_counter(), time.process_time()
    assert process_inbound_sms("bench", limit=1, now=NOW) == 1
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def quantiles(values: list[float]) -> str:
    p99 = statistics.quantiles(values, n=100)[98]
    return f"p50 {statistics.median(values):.1f} ms, p99 {p99:.1f} ms, max {max(values):.1f} ms"


def make_survey(merchant: Merchant, code: str) -> Survey:
    survey = create_survey(merchant, code=code, title="满意度", intro="小王烧烤满意度调查，共4题。",
                           thanks="谢谢参与！", is_active=True, reward_points=10)
    for kind, text, options, branches in QUESTIONS:
        add_question(survey, kind=kind, text=text, options=options, branches=branches)
    db.session.commit()
    return survey


def throughput(args, merchant: Merchant, access_number: str, rng: random.Random) -> None:
    survey = make_survey(merchant, "S1")
    scripts = [(msisdn(i), script(rng, "S1")) for i in range(args.sessions)]
    started = time.perf_counter()
    stored = 0
    for sender, text in rounds(scripts):
        store(merchant.id, merchant.sub_code, access_number, sender, text)
        stored += 1
        if stored % 1000 == 0:
            db.session.commit()
    db.session.commit()
    print(f"stored {stored:,} MOs of {args.sessions:,} texters in {time.perf_counter() - started:.1f} s "
          f"(not timed)", flush=True)
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    while process_inbound_sms("bench", limit=args.batch, now=NOW):
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    failed = db.session.scalar(sa.select(sa.func.count())
                               .where(InboundMessage.status == InboundStatus.FAILED))
    replies = db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage))
    answers = db.session.scalar(sa.select(sa.func.count()).select_from(SurveyAnswer))
    completed = db.session.scalar(sa.select(sa.func.count()).where(SurveySession.survey_id == survey.id,
                                                                   SurveySession.completed_at.is_not(None)))
    expected = sum(len(texts) - 1 - texts.count("还行吧") - texts.count("十分") for _s, texts in scripts)
    assert (failed, replies, answers) == (0, stored, expected), (failed, replies, stored, answers, expected)
    print(f"throughput (load {load:.1f} → {os.getloadavg()[0]:.1f}): {stored:,} MOs in {wall:.2f} s = "
          f"{stored / wall:,.0f} MO/s, {answers:,} answers stored = {answers / wall:,.0f} answers/s "
          f"({completed:,} sessions completed, {replies:,} replies queued, batches of {args.batch}); "
          f"CPU {cpu / stored * 1000:.2f} ms per MO = {stored / cpu:,.0f} MO/s of one core", flush=True)


def latency(args, merchant: Merchant, access_number: str, rng: random.Random) -> None:
    scripts = [(msisdn(args.sessions + i), script(rng, "S1")) for i in range(args.latency_sessions)]
    load = os.getloadavg()[0]
    survey_walls, survey_cpus, base_walls, base_cpus = [], [], [], []
    for sender, text in rounds(scripts):
        wall, cpu = timed_mo(merchant.id, merchant.sub_code, access_number, sender, text)
        survey_walls.append(wall)
        survey_cpus.append(cpu)
        member = msisdn(rng.randrange(args.sessions + args.latency_sessions, args.members))
        wall, cpu = timed_mo(merchant.id, merchant.sub_code, access_number, member, "JF")
        base_walls.append(wall)
        base_cpus.append(cpu)
    p99 = statistics.quantiles(survey_walls, n=100)[98]
    base_p99 = statistics.quantiles(base_walls, n=100)[98]
    print(f"latency (load {load:.1f} → {os.getloadavg()[0]:.1f}), stored MO → queued next question over "
          f"{len(survey_walls):,} survey MOs: {quantiles(survey_walls)} (CPU {quantiles(survey_cpus)})")
    print(f"baseline, a JF points query after each: {quantiles(base_walls)} (CPU {quantiles(base_cpus)})")
    print(f"survey / baseline: p50 {statistics.median(survey_walls) / statistics.median(base_walls):.2f}, "
          f"p99 {p99 / base_p99:.2f}; target p99 < 20 ms: {'met' if p99 < 20 else 'NOT met'}", flush=True)


def seed_responses(merchant: Merchant, responses: int, rng: random.Random) -> Survey:
    """``responses`` sessions of a new survey with their answers, straight into the tables: the
    values the engine stores (``A``, ``A,C``, ``4``, the text), one in ten stopping after question 1,
    one in twenty answers skipped (an empty value)."""
    survey = make_survey(merchant, "R1")
    session_table, answer_table = SurveySession.__table__, SurveyAnswer.__table__
    first_id = (db.session.scalar(sa.select(sa.func.max(SurveySession.id))) or 0) + 1
    for start in range(0, responses, 10_000):
        sessions, answers = [], []
        for number in range(start, min(start + 10_000, responses)):
            at = NOW - timedelta(minutes=rng.randrange(60 * 24 * 30))
            values = [rng.choice(["A", "B", "C"])]
            if rng.random() >= 0.1:
                values += [] if values[0] == "C" else [rng.choice(["A", "B", "C", "A,C", "A,B,C", "B,C"])]
                values += [str(rng.randint(1, 5)), rng.choice(TEXTS)]
            positions = [1, 3, 4] if values[0] == "C" and len(values) == 3 else [1, 2, 3, 4][:len(values)]
            done = len(values) > 1
            sessions.append({"id": first_id + number, "merchant_id": merchant.id, "survey_id": survey.id,
                             "msisdn": f"+86139{number:08d}", "started_at": at, "position": positions[-1],
                             "expires_at": at + timedelta(hours=24), "reasks": 0,
                             "finished_at": at if done else None, "completed_at": at if done else None})
            answers += [{"session_id": first_id + number, "survey_id": survey.id, "position": position,
                         "text": value, "value": "" if rng.random() < 0.05 else value, "received_at": at}
                        for position, value in zip(positions, values, strict=True)]
        db.session.execute(session_table.insert(), sessions)
        db.session.execute(answer_table.insert(), answers)
        db.session.commit()
    analyze()
    return survey


def results(args, app, merchant_id: int, rng: random.Random) -> None:
    with app.app_context():
        merchant = db.session.get(Merchant, merchant_id)
        started = time.perf_counter()
        survey = seed_responses(merchant, args.responses, rng)
        survey_id = survey.id
        answers = db.session.scalar(sa.select(sa.func.count()).select_from(SurveyAnswer)
                                    .join(SurveySession).where(SurveySession.survey_id == survey_id))
        print(f"seeded {args.responses:,} responses ({answers:,} answers) in "
              f"{time.perf_counter() - started:.0f} s (not timed)", flush=True)
        load = os.getloadavg()[0]
        walls, cpus = [], []
        for _ in range(args.samples):
            db.session.expire_all()
            wall, cpu = time.perf_counter(), time.process_time()
            found = survey_results(db.session.get(Survey, survey_id))
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            db.session.rollback()
        assert found.started == args.responses, found.started
    print(f"survey_results at {args.responses:,} responses (load {load:.1f}), {args.samples} calls: "
          f"wall p50 {statistics.median(walls):.0f} ms, max {max(walls):.0f} ms; "
          f"CPU p50 {statistics.median(cpus):.0f} ms", flush=True)
    # no app context around the client: each request gets its own, as in production
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    assert client.post("/login", data={"username": "bench", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    walls, cpus = [], []
    for _ in range(args.samples):
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(f"/surveys/{survey_id}/results")
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        assert response.status_code == 200 and f">{args.responses}<" in response.get_data(as_text=True)
    print(f"GET /surveys/{survey_id}/results at {args.responses:,} responses "
          f"(load {os.getloadavg()[0]:.1f}), "
          f"{args.samples} requests: wall p50 {statistics.median(walls):.0f} ms, max {max(walls):.0f} ms; "
          f"CPU p50 {statistics.median(cpus):.0f} ms; target < 300 ms: "
          f"{'met' if max(walls) < 300 else 'NOT met'}", flush=True)


def run(args) -> None:
    rng = random.Random(20261206)
    folder = Path(tempfile.mkdtemp(prefix="mcrm-bench-surveys-"))
    url = args.database_url
    if url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    settings = Settings(env="test", instance_path=str(folder), secret_key="b" * 40,
                        database_url=url or f"sqlite:///{folder / 'bench.sqlite3'}",
                        login_rate_limit="1000 per minute").with_defaults()
    app = create_app(settings)
    with app.app_context():
        upgrade()
        merchant = create_merchant(name="小王烧烤", sub_code="01", signature="小王烧烤")
        create_staff(merchant, username="bench", password=PASSWORD, role="owner", display_name="王老板")
        db.session.commit()
        started = time.perf_counter()
        seed(merchant, 0, args.members, rng)
        print(f"{db.engine.dialect.name}: seeded {args.members:,} members in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        merchant = db.session.get(Merchant, merchant.id)
        merchant_id = merchant.id
        throughput(args, merchant, settings.access_number, rng)
        latency(args, db.session.get(Merchant, merchant_id), settings.access_number, rng)
    results(args, app, merchant_id, rng)
    shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--latency-sessions", type=int, default=400)
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("MCRM_BENCH_DATABASE_URL")
                        or os.environ.get("MCRM_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if args.members < args.sessions + args.latency_sessions + 100:
        parser.error("--members must exceed --sessions + --latency-sessions by 100: "
                     "the baseline texts from members")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    run(args)


if __name__ == "__main__":
    main()
