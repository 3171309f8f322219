"""Fixtures of the API tests: tokens of a merchant and a client that sends one."""
import pytest

from mcrm.api import services
from mcrm.core.clock import now_utc


@pytest.fixture
def make_token(db, merchant, make_staff):
    """make_token(scope="write", merchant=…) → the secret of a new token of that merchant."""
    def make(scope="write", merchant=merchant, name="front till"):
        owner = make_staff("owner", merchant=merchant)
        _token, secret = services.create_token(merchant, name=name, scope=scope, actor=owner, now=now_utc())
        db.session.commit()
        return secret
    return make


class Api:
    """The test client with a Bearer token: ``api.get("/members")`` calls /api/v1/members."""

    def __init__(self, client, secret):
        self.client, self.secret = client, secret

    def call(self, method, path, *, headers=None, **kwargs):
        headers = {"Authorization": f"Bearer {self.secret}", **(headers or {})}
        return self.client.open("/api/v1" + path, method=method, headers=headers, **kwargs)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.call("PATCH", path, **kwargs)


@pytest.fixture
def api(client, make_token):
    return Api(client, make_token("write"))


@pytest.fixture
def read_api(client, make_token):
    return Api(client, make_token("read"))


@pytest.fixture
def make_campaign_for(db):
    """make_campaign_for(merchant) → the id of a new draft campaign of that merchant."""
    from mcrm.campaigns.services import create_campaign

    def make(merchant):
        campaign = create_campaign(merchant, name="别家活动", body="{name}您好", actor_label="test", now=now_utc())
        db.session.commit()
        return campaign.id
    return make
