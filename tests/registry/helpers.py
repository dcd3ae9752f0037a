"""Drive a registration through the real services and the real pipeline job."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core import jobs
from qianshu.core.actor import Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.db import Database
from qianshu.core.settings import Settings
from qianshu.registry import schemas, service
from qianshu.registry.jobs import HANDLERS
from qianshu.registry.models import Registration
from qianshu.registry.settings import RegistrySettings
from tests.factories import TEST_PASSWORD

DECLARATION = schemas.Declaration(
    title_zh="贵阳市居民样本数据", title_en="Guiyang residents sample",
    description_zh="测试用的居民数据，含身份证号与手机号。",
    description_en="Test data.", industry_code="I64", division_code="520102",
    time_coverage_start=dt.date(2025, 1, 1), time_coverage_end=dt.date(2025, 12, 31), update_frequency="monthly",
    source="own_collection", lawful_basis="自行采集，已取得授权", rights=["holding", "processing_use"])


def upload(db: Session, settings: Settings, actor: Actor, paths: list[Path], title: str = "测试") -> Registration:
    reg = service.create_registration(db, actor, schemas.RegistrationCreate(title_zh=title, title_en="Test"))
    store = open_blob_store(settings)
    for path in paths:
        limit = settings.section(RegistrySettings).upload_max_bytes
        digest, size = service.store_upload(store, [path.read_bytes()], limit)
        service.add_file(db, actor, reg.id, path.name, digest, size)
    service.start_processing(db, actor, settings, reg.id)
    db.commit()
    return reg


def process(database: Database, db: Session, settings: Settings, actor: Actor, paths: list[Path],
            title: str = "测试") -> Registration:
    reg = upload(db, settings, actor, paths, title)
    jobs.run_pending(jobs.JobContext.build(database, settings), HANDLERS)
    db.expire_all()
    return db.get_one(Registration, reg.id)


def csrf_of(page: Any) -> str:
    """The CSRF token a portal page embeds for its scripts and forms."""
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def sign_in(client: Any, user: Any) -> str:
    """Sign ``user`` in to the portal; returns the CSRF token of the session's pages."""
    r = client.post("/sign-in", data={"email": user.email, "password": TEST_PASSWORD,
                                      "csrf_token": csrf_of(client.get("/sign-in"))}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return csrf_of(client.get("/registry"))
