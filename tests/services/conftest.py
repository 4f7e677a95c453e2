"""A node's commerce pieces over a real Redis (one key prefix per test) and a MemoryBroker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from livehub.backplane.memory import MemoryBroker
from livehub.config import load_festival
from livehub.domain.topology import Festival
from livehub.store.coupons import CouponStore
from livehub.store.keys import Keys
from livehub.store.sales import SaleStore
from livehub.store.scripts import Scripts
from livehub.store.stores import StoreIndex

SMALL = Path(__file__).resolve().parents[2] / "config" / "small.toml"


@dataclass
class Stores:
    festival: Festival
    broker: MemoryBroker
    scripts: Scripts
    coupons: CouponStore
    stores: StoreIndex
    sales: SaleStore


@pytest.fixture(scope="session")
def festival() -> Festival:
    return load_festival(SMALL)


@pytest.fixture
async def stores(redis: aioredis.Redis, keys: Keys, festival: Festival) -> AsyncIterator[Stores]:
    broker = MemoryBroker(1000)
    scripts = Scripts(redis)
    coupons = CouponStore(redis, keys, scripts)
    index = StoreIndex(redis, keys, scripts, festival)
    sales = SaleStore(redis, keys, scripts, stores=index, coupons=coupons)
    yield Stores(festival, broker, scripts, coupons, index, sales)
    await scripts.aclose()
