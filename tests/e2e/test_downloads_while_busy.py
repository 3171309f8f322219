"""A CSV download streams for as long as the browser takes to read it: meanwhile the gateway, the
keyword loop, jobs and the console go on writing, on SQLite as on PostgreSQL."""
from __future__ import annotations

import csv
import io
import logging
import re
import threading
from datetime import datetime, UTC

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from mcrm.jobs.tasks import expire_points
from mcrm.members import csv_io
from mcrm.members.models import Member
from mcrm.messaging.models import MessageStatus, OutboundMessage
from mcrm.merchants.models import Merchant
from mcrm.points.services import SYSTEM, record_purchase
from tests.conftest import csrf_token
from tests.e2e.test_gateway_smsc import SERVICE_NUMBER, gateway, smsc  # noqa: F401  (fixtures)
from tests.e2e.test_keywords_smsc import STAFF_PHONE, fresh, running, texts_to  # noqa: F401  (fixtures)
from tests.mcrm.keywords_support import phone, switched_on_app  # noqa: F401  (fixture)
from tests.smsc_peer import wait_until

#: more than the export's batch of 1000 rows, so the file comes in several chunks
MEMBERS = 2500


def seed_members(db, merchant, total: int) -> None:
    rows = [(line, [f"1390000{n:04d}", f"会员{n}"]) for line, n in enumerate(range(total), start=2)]
    csv_io.import_batch(merchant, rows, mapping={"0": "msisdn", "1": "name"}, headers=["手机", "姓名"],
                        region="CN", actor=SYSTEM, now=datetime.now(UTC), source_label="test",
                        seen={})
    db.session.commit()


class SlowDownload(threading.Thread):
    """A browser reading a download one chunk at a time: after the first chunk it waits for ``go_on``.

    A thread of its own, as a web server's worker is: the request and the streamed body run in this
    thread's contexts, not in the test's."""

    def __init__(self, app, url: str, cookie: str):
        super().__init__(name="slow-download", daemon=True)
        self.app, self.url, self.cookie = app, url, cookie
        self.first_chunk, self.go_on = threading.Event(), threading.Event()
        self.body, self.error = b"", None

    def run(self):
        try:
            # Flask's own client: the console one clears flask.g, and this thread has no app context
            client = FlaskClient(self.app, self.app.response_class)
            client.set_cookie("session", self.cookie)
            response = client.get(self.url, buffered=False)
            chunks = response.iter_encoded()
            try:
                self.body = next(chunks)
                self.first_chunk.set()
                assert self.go_on.wait(60), "never told to go on"
                self.body += b"".join(chunks)
            finally:
                response.close()
        except BaseException as error:  # noqa: BLE001  reported by the test
            self.error = error
            self.first_chunk.set()


def test_writes_go_on_while_a_member_export_streams(app, db, client, merchant, login, make_staff, make_member, smsc,
                                                    running, caplog):
    caplog.set_level(logging.ERROR)
    make_staff("clerk", msisdn="+" + STAFF_PHONE)
    buyer = make_member(msisdn="+8613800138000", points=12)
    seed_members(db, merchant, MEMBERS)
    login("owner")
    db.session.rollback()  # SQLite: the test's own session holds no lock while the others run
    download = SlowDownload(app, "/members/export.csv", client.get_cookie("session").value)
    download.start()
    try:
        assert download.first_chunk.wait(30) and download.error is None, download.error
        # the export is half read and its transaction open: everything else must still write
        smsc.mo("8613900139999", SERVICE_NUMBER, "ZC 张三")           # the gateway stores, the loop enrols
        smsc.mo(STAFF_PHONE, SERVICE_NUMBER, "XF 13800138000 88")    # a purchase by SMS
        page = client.get(f"/members/{buyer.id}").get_data(as_text=True)       # a purchase at the counter
        request_id = re.search(r'name="request_id" type="hidden" value="(\w+)"', page).group(1)
        response = client.post(f"/members/{buyer.id}/purchase", data={
            "amount": "20", "request_id": request_id, "csrf_token": csrf_token(client, "/members/")})
        assert response.status_code == 302, response.get_data(as_text=True)
        db.session.rollback()
        with app.app_context():                                        # a job, as the scheduler runs it
            assert expire_points(now=datetime.now(UTC)) == 0
        texts_to(smsc, "8613900139999", 1)
        texts_to(smsc, STAFF_PHONE, 1)
        wait_until(lambda: fresh(db, sa.select(sa.func.count()).select_from(OutboundMessage)
                                 .where(OutboundMessage.status == MessageStatus.DELIVERED)) >= 3,
                   timeout=15, message="the replies delivered")
    finally:
        download.go_on.set()
        download.join(60)
    assert download.error is None, download.error
    lines = list(csv.reader(io.StringIO(download.body.decode("utf-8-sig"))))
    assert len(lines) == 1 + MEMBERS + 1   # header, the seeded members, the buyer (read before the join)
    assert fresh(db, sa.select(Member.points_balance).where(Member.id == buyer.id)) == 12 + 88 + 20
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def _member_export(db, merchant, phone):
    return "/members/export.csv?encoding=gb18030"


def _import_error_report(db, merchant, phone):
    job = csv_io.create_import(merchant, staff_id=None, filename="bad.csv", data="手机,姓名\n123,张三\n".encode())
    csv_io.start_import(job, job.mapping)
    db.session.commit()
    csv_io.run_import(job, merchant, actor=SYSTEM, region="CN", clock=lambda: datetime.now(UTC))
    return f"/members/import/{job.id}/errors.csv"


def _keyword_app_records(db, merchant, phone):
    vote = switched_on_app(merchant, "vote", "新菜", ["TP"], options=[["1", "红烧肉"], ["2", "糖醋鱼"]])
    phone.text("TP 2")
    return f"/keywords/apps/{vote.id}/records.csv"


@pytest.mark.parametrize("make_download", [_member_export, _import_error_report, _keyword_app_records])
def test_a_download_never_holds_up_a_writer(app, db, client, merchant, login, make_member, phone, make_download):
    """The short version, without the SMSC, for each download: while its body is half sent (its
    transaction still open, however few its lines), another connection records a purchase."""
    buyer_id, merchant_id = make_member(msisdn="+8613800138000").id, merchant.id
    url = make_download(db, merchant, phone)
    login("owner")
    db.session.rollback()  # SQLite: the test's own session holds no lock while the others run
    download = SlowDownload(app, url, client.get_cookie("session").value)
    download.start()
    wrote = threading.Event()

    def write():
        with app.app_context():  # its own session and connection, as another process has
            record_purchase(db.session.get(Member, buyer_id), db.session.get(Merchant, merchant_id), 30,
                            actor=SYSTEM, now=datetime.now(UTC))
            db.session.commit()
        wrote.set()

    writer = threading.Thread(target=write, daemon=True)
    try:
        assert download.first_chunk.wait(30) and download.error is None, download.error
        writer.start()
        assert wrote.wait(5), "a write waited for the download to end"
    finally:
        download.go_on.set()
        download.join(60)
        writer.join(60)
    assert download.error is None and download.body, download.error
