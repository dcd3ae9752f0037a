"""The manifests are the one place a capability is declared; a manifest that lies fails loudly."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import pytest

from qianshu import capabilities
from qianshu.core.capability import JobKind, Manifest, Periodic, Subscription
from qianshu.core.events import Event


def test_every_manifest_matches_its_folder_and_imports() -> None:
    assert capabilities.check() == []


def test_every_capability_folder_is_listed() -> None:
    folders = {p.parent.name for p in capabilities.PACKAGE_ROOT.glob("*/manifest.py")}
    assert folders == set(capabilities.CAPABILITIES)


@dataclass(frozen=True)
class JobCrashedToo(Event):
    name: ClassVar[str] = "job.crashed"


def _check_with(monkeypatch: pytest.MonkeyPatch, name: str, **changes: object) -> list[str]:
    found = tuple(replace(m, **changes) if m.name == name else m for m in capabilities.manifests())
    monkeypatch.setattr(capabilities, "manifests", lambda: found)
    return capabilities.check()


@pytest.mark.parametrize(("name", "changes", "expected"), [
    ("catalog", {"cli": True}, "catalog: declares cli but has no cli.py"),
    ("registry", {"api": False}, "registry: has api.py but its manifest does not declare api"),
    ("translog", {"static": False}, "translog: has static but its manifest does not declare static"),
    ("accounts", {"static": True}, "accounts: declares static but has no static"),
    ("registry", {"uses": ("catalog",)}, "registry: uses 'catalog', which is not a capability listed before it"),
    ("catalog", {"subscriptions": {"listing.sold": "qianshu.catalog.hooks:on_registration_revoked"}},
     "catalog: subscribes to 'listing.sold', which no manifest declares"),
    ("registry", {"events": ("qianshu.registry.hooks:on_job_crashed",)},
     "registry: the event 'qianshu.registry.hooks:on_job_crashed' must be a frozen dataclass derived from "
     "core.events.Event with a name"),
    ("registry", {"events": ("qianshu.registry.events:RegistrationRevoked", "tests.test_manifests:JobCrashedToo")},
     "registry: the event name 'job.crashed' is taken by core's qianshu.core.jobs:JobCrashed"),
    ("registry", {"events": ("qianshu.registry.nowhere:Revoked",)},
     "registry: declares the event 'qianshu.registry.nowhere:Revoked', whose module does not exist"),
    ("catalog", {"subscriptions": {"registration.revoked": 42}},
     "catalog: the subscription to 'registration.revoked' must be a 'module:handler' string, a Subscription, "
     "or a tuple of them"),
    ("registry", {"periodic": {"x": Periodic(1.0, "qianshu.registry.nowhere:task")}},
     "registry: refers to 'qianshu.registry.nowhere:task', whose module does not exist"),
    ("registry", {"jobs": {}, "periodic": {}, "demo": None},
     "registry: has jobs.py but its manifest refers to nothing in it"),
    ("registry", {"jobs": {"registry.pipeline": JobKind("qianshu.registry.nowhere:run", concurrency=2)}},
     "registry: refers to 'qianshu.registry.nowhere:run', whose module does not exist"),
    ("registry", {"jobs": {"registry.pipeline": JobKind("qianshu.registry.jobs:run_registration_pipeline",
                                                        concurrency=0)}},
     "registry: job kind 'registry.pipeline' has concurrency 0; it must be a whole number of at least 1"),
    ("registry", {"jobs": {"registry.pipeline": 42}},
     "registry: job kind 'registry.pipeline' must be a 'module:handler' string or a JobKind"),
    ("delivery", {"contract_panel": "qianshu.delivery.nowhere:contract_panel"},
     "delivery: refers to 'qianshu.delivery.nowhere:contract_panel', whose module does not exist"),
    ("registry", {"settings": None}, "registry: has settings.py but its manifest refers to nothing in it"),
    ("catalog", {"settings": "qianshu.registry.settings:RegistrySettings"},
     "catalog: its settings section is named 'registry', not 'catalog'"),
    ("catalog", {"settings": "qianshu.catalog.policy:Policy"},
     "catalog: its settings 'qianshu.catalog.policy:Policy' cannot be read: module 'qianshu.catalog.policy' "
     "has no attribute 'Policy'"),
])
def test_a_manifest_that_does_not_match_its_folder_is_named(monkeypatch: pytest.MonkeyPatch, name: str,
                                                            changes: dict[str, object], expected: str) -> None:
    assert expected in _check_with(monkeypatch, name, **changes)


def test_an_import_of_an_undeclared_capability_is_named_with_file_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = _check_with(monkeypatch, "catalog", uses=())
    assert any(p.startswith("catalog: qianshu/catalog/") and "imports qianshu.registry" in p
               and "does not declare uses='registry'" in p for p in problems), problems


def test_start_up_refuses_a_manifest_that_lies(monkeypatch: pytest.MonkeyPatch) -> None:
    found = tuple(replace(m, cli=True) if m.name == "catalog" else m for m in capabilities.manifests())
    monkeypatch.setattr(capabilities, "manifests", lambda: found)
    with pytest.raises(capabilities.ManifestError, match=r"catalog: declares cli but has no cli\.py"):
        capabilities.check_or_fail()


def test_publishing_an_undeclared_event_fails(db) -> None:  # type: ignore[no-untyped-def]
    from qianshu.core.events import publish

    with pytest.raises(LookupError, match=r"listing\.sold"):
        publish(db, "listing.sold", listing_id=1)


def test_an_event_may_have_several_subscribers_in_one_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    both = {"registration.revoked": (Subscription("qianshu.catalog.hooks:on_registration_revoked", in_transaction=True),
                                     "qianshu.catalog.hooks:on_registration_revoked")}
    assert _check_with(monkeypatch, "catalog", subscriptions=both) == []
    assert [(s.capability, s.in_transaction) for s in capabilities.subscribers()["registration.revoked"]] == [
        ("catalog", True), ("catalog", False), ("finance", True)]


def test_the_parts_are_read_from_the_manifests() -> None:
    assert "registry.pipeline" in capabilities.job_handlers()
    assert capabilities.job_concurrency()["registry.pipeline"] == 2  # declared as a JobKind


def test_a_job_kind_may_be_a_plain_string_without_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = {"registry.pipeline": "qianshu.registry.jobs:run_registration_pipeline"}
    assert _check_with(monkeypatch, "registry", jobs=plain) == []
    assert capabilities.job_handlers()["registry.pipeline"].__name__ == "run_registration_pipeline"
    assert "registry.pipeline" not in capabilities.job_concurrency()
    assert "registry.issue_due" in capabilities.periodic_tasks()
    assert [h.__name__ for h in capabilities.subscriptions()["registration.revoked"]] == ["on_registration_revoked"] * 2
    assert {f.parent.name for f in capabilities.template_folders()} == {"accounts", "translog", "registry", "catalog",
                                                                     "ledger", "exchange", "delivery", "finance",
                                                                     "vouchers", "sharing", "monitoring"}
    assert [item.href for item in capabilities.nav_items()][:2] == ["/catalog", "/demands"]
    assert isinstance(capabilities.manifest("registry"), Manifest)
