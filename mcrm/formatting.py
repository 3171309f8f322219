"""Template filters: local times in the merchant's zone, money, masked numbers."""
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, g

from mcrm.core.msisdn import mask_msisdn


def local_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    merchant = getattr(g, "merchant", None)
    zone = ZoneInfo(merchant.timezone if merchant is not None else "Asia/Shanghai")
    return value.astimezone(zone).strftime(fmt)


def money(value) -> str:
    if value is None:
        return ""
    value = Decimal(value)
    return f"{'-' if value < 0 else ''}¥{abs(value):,.2f}"  # -¥880.00 (a voided purchase), not ¥-880.00


def register(app: Flask) -> None:
    app.jinja_env.filters["localdt"] = local_datetime
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["mask"] = mask_msisdn
