"""From a GB18030 CSV to a signed certificate, through the real pipeline and services."""

from __future__ import annotations

from qianshu.core.signing import load_signer
from qianshu.registry import certificate, review, schemas, service
from tests.registry.helpers import DECLARATION, process


def test_gb18030_to_certificate(database, db, settings, make, merchant, reviewer, operator, gb_csv) -> None:
    m, rv, op = make.actor(merchant), make.actor(reviewer), make.actor(operator)
    reg = process(database, db, settings, m, [gb_csv])
    assert reg.status == "ready", reg.pipeline_error
    assert reg.files[0].detected_encoding == "GB18030"
    assert reg.row_count == 300
    assert reg.column_count == 7
    kinds = service.pii_columns(db, reg.id)
    assert kinds["身份证号"] == "resident_id"
    assert kinds["手机号"] == "mobile"
    assert kinds["姓名"] == "name"
    findings = service.pii_findings(db, m, reg.id)
    assert all("*" in f.masked_example for f in findings)
    assert reg.suggested_personal_info == "sensitive"
    assert len(service.quality_report(db, reg.id)) == 6
    service.update_declaration(db, m, reg.id, DECLARATION)
    review.submit(db, m, reg.id)
    review.take(db, rv, reg.id)
    review.approve(db, rv, settings, reg.id, schemas.Approval(reason="ok"))
    assert reg.status == "public_notice"
    signer = load_signer(settings.key_dir)
    import datetime as dt
    later = reg.notice_ends_at + dt.timedelta(seconds=1)
    cert = review.issue_certificate(db, op, settings, signer, reg.id, now=later)
    assert cert.number.startswith(f"QS-DR-{later.year}-")
    signed = {"certificate": cert.document, "signature": {"algorithm": "Ed25519", "key_id": cert.key_id,
                                                          "value": cert.signature}}
    assert certificate.verify_certificate(signed, signer.public_key()).valid
    signed["certificate"]["data"]["rows"] = 1
    assert not certificate.verify_certificate(signed, signer.public_key()).valid


def test_a_utf8_csv_with_a_byte_order_mark_registers(database, db, settings, make, merchant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What Excel's "CSV UTF-8" save (and the exchange's own CSV for Excel) writes: the BOM is no part of
    the first column's name, and the Chinese reads as Chinese."""
    from tests.registry.conftest import people_rows, write_csv

    bom = write_csv(tmp_path / "居民-excel.csv", people_rows(120), encoding="utf-8-sig")
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    reg = process(database, db, settings, make.actor(merchant), [bom])
    assert reg.status == "ready", reg.pipeline_error
    assert reg.files[0].detected_encoding == "UTF-8 (BOM)"
    assert reg.row_count == 120
    names = [c.name for c in service.column_profiles(db, reg.id)]
    assert names[0] == "姓名"
    assert not any("\ufeff" in n for n in names)
    assert service.pii_columns(db, reg.id)["身份证号"] == "resident_id"
