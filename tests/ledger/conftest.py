"""Fixtures of the ledger's tests: an operator, a funded wallet."""

from __future__ import annotations

from typing import Any

import pytest

from qianshu.core.actor import Actor
from tests.factories import Factories


@pytest.fixture
def operator(make: Factories) -> Actor:
    return make.actor(make.operator())


@pytest.fixture
def org_admin(make: Factories) -> Any:
    return make.user(org_role="admin")
