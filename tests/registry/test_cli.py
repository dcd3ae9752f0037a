"""The CLI: register a GB18030 CSV with progress; verify a certificate offline."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.core.settings import get_settings
from qianshu.core.signing import PUBLIC_KEY_FILE, load_signer
from qianshu.registry import review, schemas, service
from qianshu.registry.models import Registration
from tests.data_folder import make_data_folder
from tests.factories import OrganisationFactory, UserFactory
from tests.registry.helpers import DECLARATION, process

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, tmp_path, isolated_database):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("QIANSHU_DATA_DIR", str(make_data_folder(tmp_path / "cli-data")))
    monkeypatch.setenv("QIANSHU_DATABASE_URL", isolated_database.url)
    get_settings.cache_clear()
    yield isolated_database
    get_settings.cache_clear()


def test_register_from_the_cli(cli_env, gb_csv) -> None:
    with cli_env.unit_of_work() as db:
        OrganisationFactory._meta.sqlalchemy_session = db
        UserFactory._meta.sqlalchemy_session = db
        user = UserFactory(email="cli@example.cn", organisation=OrganisationFactory(org_type="data_merchant"))
        email = user.email
    result = runner.invoke(app, ["register", str(gb_csv), "--title", "居民", "--org-user", email])
    assert result.exit_code == 0, result.output
    assert "GB18030" in result.output
    assert "resident_id" in result.output
    with cli_env.unit_of_work(write=False) as db:
        assert db.query(Registration).one().status == "ready"


def test_register_refuses_a_bad_file(cli_env, tmp_path) -> None:
    with cli_env.unit_of_work() as db:
        OrganisationFactory._meta.sqlalchemy_session = db
        UserFactory._meta.sqlalchemy_session = db
        email = UserFactory(organisation=OrganisationFactory(org_type="data_merchant")).email
    bad = tmp_path / "bad.csv"
    bad.write_bytes(bytes(range(256)) * 10)
    result = runner.invoke(app, ["register", str(bad), "--title", "坏", "--org-user", email])
    assert result.exit_code == 1
    assert "二进制文件" in result.output
    assert "binary file" in result.output


def test_verify_offline(database, db, settings, make, merchant, reviewer, operator, gb_csv, tmp_path) -> None:
    m = make.actor(merchant)
    reg = process(database, db, settings, m, [gb_csv])
    service.update_declaration(db, m, reg.id, DECLARATION)
    review.submit(db, m, reg.id)
    review.approve(db, make.actor(reviewer), settings, reg.id, schemas.Approval())
    cert = review.issue_certificate(db, make.actor(operator), settings, load_signer(settings.key_dir), reg.id,
                                    now=reg.notice_ends_at + dt.timedelta(seconds=1))
    signed = {"certificate": cert.document,
              "signature": {"algorithm": "Ed25519", "key_id": cert.key_id, "value": cert.signature}}
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(signed, ensure_ascii=False), encoding="utf-8")
    key = settings.key_dir / PUBLIC_KEY_FILE
    ok = runner.invoke(app, ["certificate", "verify", str(path), "--public-key", str(key)])
    assert ok.exit_code == 0, ok.output
    assert cert.number in ok.output
    signed["certificate"]["holder"]["uscc"] = "91520100MA6DQ7JX0W"
    path.write_text(json.dumps(signed), encoding="utf-8")
    bad = runner.invoke(app, ["certificate", "verify", str(path), "--public-key", str(key)])
    assert bad.exit_code == 1
    assert "签名不匹配" in bad.output


def _merchant_email(database) -> str:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as db:
        OrganisationFactory._meta.sqlalchemy_session = db
        UserFactory._meta.sqlalchemy_session = db
        return str(UserFactory(organisation=OrganisationFactory(org_type="data_merchant")).email)


def _left_behind(database) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as db:
        drafts = db.query(Registration).count()
    blobs = [p.name for p in get_settings().blob_dir.rglob("*") if p.is_file() and p.parent.name != "tmp"]
    return drafts, blobs


def test_a_failed_cli_registration_leaves_no_draft_and_no_blob(cli_env, gb_csv, tmp_path) -> None:
    email = _merchant_email(cli_env)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    # the first file is stored, the second (empty) is refused when the files are recorded
    result = runner.invoke(app, ["register", str(gb_csv), str(empty), "--title", "空", "--org-user", email])
    assert result.exit_code == 1, result.output
    assert "文件为空" in result.output or "empty" in result.output
    assert _left_behind(cli_env) == (0, [])


def test_a_cli_registration_by_a_user_who_may_not_register_leaves_nothing(cli_env, gb_csv) -> None:
    with cli_env.unit_of_work() as db:
        OrganisationFactory._meta.sqlalchemy_session = db
        UserFactory._meta.sqlalchemy_session = db
        email = UserFactory(organisation=OrganisationFactory(org_type="buyer")).email
    result = runner.invoke(app, ["register", str(gb_csv), "--title", "买", "--org-user", email])
    assert result.exit_code == 1, result.output
    assert _left_behind(cli_env) == (0, [])


def test_a_file_name_over_the_limit_is_refused_not_cut(cli_env, gb_csv, tmp_path, monkeypatch) -> None:
    # Linux file systems allow 255 bytes, so no local name exceeds 255 characters: a lower limit
    # stands in for it here (tests/registry/test_api.py sends a 300-character name).
    monkeypatch.setattr(service, "FILE_NAME_MAX", 20)
    email = _merchant_email(cli_env)
    long_name = tmp_path / ("居民数据" * 5 + ".csv")
    long_name.write_bytes(gb_csv.read_bytes())
    result = runner.invoke(app, ["register", str(long_name), "--title", "长", "--org-user", email])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "文件名过长" in output
    assert "too long" in output
    assert _left_behind(cli_env) == (0, [])


@pytest.fixture
def folder(monkeypatch, tmp_path, isolated_database):  # type: ignore[no-untyped-def]
    """A data folder (its database is the test database) named only by --data-dir."""
    monkeypatch.setenv("QIANSHU_DATA_DIR", "unset")  # restored afterwards, even if a command sets it
    monkeypatch.delenv("QIANSHU_DATA_DIR")
    monkeypatch.setenv("QIANSHU_DATABASE_URL", isolated_database.url)
    get_settings.cache_clear()
    yield make_data_folder(tmp_path / "exchange")
    get_settings.cache_clear()


def test_every_registry_and_log_command_on_a_folder_with_a_certificate(folder, isolated_database, gb_csv,
                                                                     tmp_path) -> None:
    from qianshu.core.settings import Settings
    from tests.factories import Factories

    d = ["--data-dir", str(folder)]
    with isolated_database.unit_of_work() as db:
        make = Factories(db)
        merchant = make.user(email="merchant@example.cn", organisation=make.org(org_type="data_merchant"))
        reviewer, operator = make.operator(staff_role="reviewer"), make.operator(staff_role="operator")
        m, r, o = make.actor(merchant), make.actor(reviewer), make.actor(operator)
    registered = runner.invoke(app, ["register", str(gb_csv), "--title", "居民", "--org-user",
                                     "merchant@example.cn", "--json", *d])
    assert registered.exit_code == 0, registered.output
    found = json.loads(registered.stdout)
    assert found["rows"] == 300
    assert found["files"][0]["encoding"] == "GB18030"
    assert "resident_id" in {x["kind"] for x in found["personal_data"]}
    settings = Settings(data_dir=folder, database_url=isolated_database.url)
    with isolated_database.unit_of_work() as db:
        service.update_declaration(db, m, found["id"], DECLARATION)
        review.submit(db, m, found["id"])
        reg = review.approve(db, r, settings, found["id"], schemas.Approval())
        cert = review.issue_certificate(db, o, settings, load_signer(settings.key_dir), found["id"],
                                        now=reg.notice_ends_at + dt.timedelta(seconds=1))
        number = cert.number
    listed = json.loads(runner.invoke(app, ["registry", "list", "--status", "issued", "--json", *d]).stdout)
    assert [(x["id"], x["number"]) for x in listed] == [(found["id"], number)]
    shown = runner.invoke(app, ["certificate", "show", number, "--json", *d])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["status"] == {"revoked": False, "revoked_at": None, "revocation_reason": None}
    # what `certificate show --json` prints is what `certificate verify` reads
    saved = tmp_path / "cert.json"
    saved.write_text(shown.stdout, encoding="utf-8")
    verified = runner.invoke(app, ["certificate", "verify", str(saved), "--public-key",
                                   str(folder / "keys" / PUBLIC_KEY_FILE), "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["valid"] is True
    assert json.loads(runner.invoke(app, ["registry", "issue-due", "--json", *d]).stdout) == {"issued": 0}
    assert json.loads(runner.invoke(app, ["registry", "sweep-blobs", "--json", *d]).stdout) == {"removed": 0}
    head = json.loads(runner.invoke(app, ["log", "head", *d]).stdout)
    leaf = runner.invoke(app, ["log", "proof", "0", *d])
    assert leaf.exit_code == 0, leaf.output
    assert json.loads(leaf.stdout)["tree_size"] == head["tree_size"] >= 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(head), encoding="utf-8")
    new = tmp_path / "new.json"
    new.write_text(runner.invoke(app, ["log", "sign", *d]).stdout, encoding="utf-8")
    audit = json.loads(runner.invoke(app, ["log", "audit", str(old), str(new), "--json", *d]).stdout)
    assert audit["consistent"] is True
    verified_log = json.loads(runner.invoke(app, ["log", "verify", "--json", *d]).stdout)
    assert verified_log["ok"] is True
    exported = json.loads(runner.invoke(app, ["log", "export", str(tmp_path / "copy"), "--json", *d]).stdout)
    assert exported["leaves"] == head["tree_size"]
    assert json.loads(runner.invoke(app, ["jobs", "list", "--json", *d]).stdout) == []
    with isolated_database.unit_of_work() as db:
        review.revoke(db, o, found["id"], "测试撤销")
    revoked = json.loads(runner.invoke(app, ["certificate", "show", number, "--json", *d]).stdout)["status"]
    assert revoked["revoked"] is True
