"""A Delta Sharing server (the open REST protocol, delta-io/delta-sharing PROTOCOL.md) over the
watermarked data of a contract.

**One share per contract.** A contract whose delivery mode is ``delta_sharing`` has one share,
named after its number (``HT-2026-000042`` → ``ht_2026_000042``), with one schema ``product`` and
one table ``data``: the product's data. A bearer token belongs to one contract, so a profile file
names one share; a buyer with several contracts has one profile per contract (a leak of one token
exposes one contract). Tokens are shown once (in the profile file the buyer downloads), kept as
SHA-256, and die with the contract (``contract_is_active`` is asked on every request), at their
expiry (never past the contract's end), or when the buyer rotates or revokes them.

**Versions.** Each registration of the product's chain (the listing's registration, the ones it
replaced and the issued changes or renewals that replaced it) is one table version, numbered from 0
(oldest) with its time of issue as timestamp. ``version`` and ``timestamp`` queries read the chain.

**Files.** A query's files are Parquet parts of the version's data marked for the contract (the
same watermark as downloads), written once per contract and version in the data folder
(``delivery/sharing/<contract>/v<n>-<sha>/``), each with its statistics (rows, min, max, nulls) so
that ``limitHint`` and ``jsonPredicateHints`` skip files (hints are best effort, as the protocol
says: the client filters rows itself). Their URLs are pre-signed, expire, and are bound to the
token: a revoked token or an ended contract stops them too.

This module knows nothing of HTTP; ``pages.py`` holds the thin routes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from qianshu.catalog import service as catalog_service
from qianshu.core import audit
from qianshu.core.actor import SYSTEM, Actor
from qianshu.core.blobs import open_blob_store
from qianshu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from qianshu.core.i18n import N_
from qianshu.core.settings import Settings
from qianshu.core.timeutil import as_utc, utcnow
from qianshu.delivery import metering
from qianshu.delivery.decoys import DecoyModel, with_decoys
from qianshu.delivery.delta_tokens import PREFIX, Grant, grant_of_token
from qianshu.delivery.files import BATCH_ROWS
from qianshu.delivery.models import SharingToken, WatermarkedCopy
from qianshu.delivery.settings import DeliverySettings
from qianshu.delivery.watermark import WatermarkKey, WatermarkPlan, watermark_batches
from qianshu.registry import service as registry_service
from qianshu.translog.service import append_event

SCHEMA = "product"
TABLE = "data"
FILE_CONTEXT = b"qianshu/delta-sharing-file/v1"
FILE_NAME = re.compile(r"^part-\d{5}\.parquet$")
MAX_PAGE = 1000
MAX_CHAIN = 200
MAX_PREDICATE_CHARS = 64 * 1024
MAX_PREDICATE_NODES = 2000

NO_TABLE = N_("No such share, schema or table for this token.")


# --- listing shares, schemas and tables -------------------------------------------------------


def _page(items: list[dict[str, Any]], max_results: str | None, page_token: str | None) -> dict[str, Any]:
    """One page of ``items``: ``maxResults`` (0 … 1000) and the ``nextPageToken`` of the last page."""
    size = MAX_PAGE
    if max_results is not None:
        if not max_results.isdigit() or int(max_results) > 10**6:
            raise InvalidInput("maxResults must be a whole number of at least 0.", field="maxResults")
        size = min(int(max_results), MAX_PAGE)
    start = 0
    if page_token:
        if not re.fullmatch(r"p[0-9]{1,9}", page_token):
            raise InvalidInput("The page token is not one this server gave.", field="pageToken")
        start = int(page_token[1:])
    end = start + size
    body: dict[str, Any] = {"items": items[start:end]}
    if end < len(items) or (size == 0 and start < len(items)):
        body["nextPageToken"] = f"p{end}"
    return body


def _check_share(grant: Grant, share: str) -> None:
    if share.lower() != grant.share:
        raise NotFound(NO_TABLE, code="not_found")


def _check_table(grant: Grant, share: str, schema: str, table: str | None = None) -> None:
    _check_share(grant, share)
    if schema.lower() != SCHEMA or (table is not None and table.lower() != TABLE):
        raise NotFound(NO_TABLE, code="not_found")


def _table_item(grant: Grant) -> dict[str, Any]:
    return {"name": TABLE, "schema": SCHEMA, "share": grant.share, "shareId": _uuid(f"share:{grant.contract_id}"),
            "id": _uuid(f"table:{grant.contract_id}:{grant.listing_id}")}


def _uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qianshu:{name}"))


def list_shares(grant: Grant, max_results: str | None, page_token: str | None) -> dict[str, Any]:
    return _page([{"name": grant.share, "id": _uuid(f"share:{grant.contract_id}")}], max_results, page_token)


def get_share(grant: Grant, share: str) -> dict[str, Any]:
    _check_share(grant, share)
    return {"share": {"name": grant.share, "id": _uuid(f"share:{grant.contract_id}")}}


def list_schemas(grant: Grant, share: str, max_results: str | None, page_token: str | None) -> dict[str, Any]:
    _check_share(grant, share)
    return _page([{"name": SCHEMA, "share": grant.share}], max_results, page_token)


def list_tables(grant: Grant, share: str, schema: str | None, max_results: str | None,
                page_token: str | None) -> dict[str, Any]:
    if schema is None:
        _check_share(grant, share)
    else:
        _check_table(grant, share, schema)
    return _page([_table_item(grant)], max_results, page_token)


# --- versions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    number: int
    registration_id: int
    sha256: str  # the version's normalised Parquet
    at: datetime


def versions(db: Session, listing_id: int) -> list[Version]:
    """The product's table versions, oldest first (see the module's docstring)."""
    listing = catalog_service.get_listing(db, SYSTEM, listing_id)
    current = registry_service.load_registration(db, listing.registration_id)
    chain = [current]
    while chain[0].previous_id and len(chain) < MAX_CHAIN:
        previous = registry_service.find_registration(db, chain[0].previous_id)
        if previous is None:
            break
        chain.insert(0, previous)
    while len(chain) < MAX_CHAIN and (following := registry_service.successor_of(db, chain[-1].id)) is not None:
        chain.append(following)
    found: list[Version] = []
    for reg in chain:
        data = registry_service.find_registration(db, reg.data_from_id) if reg.data_from_id else reg
        if data is not None and data.parquet_sha256:
            found.append(Version(len(found), reg.id, data.parquet_sha256, as_utc(reg.issued_at or reg.created_at)))
    if not found:
        raise Conflict("This product has no data file yet.")
    return found


def parse_timestamp(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("{field} must be a time such as 2026-11-30T08:00:00Z.", field=field) from None
    return as_utc(moment) if moment.tzinfo else as_utc(moment.replace(tzinfo=utcnow().tzinfo))


def pick_version(found: list[Version], version: int | None = None, timestamp: str | None = None) -> Version:
    """The version asked for: by number, the one in force at a time, or the latest."""
    if version is not None:
        if version >= len(found):
            raise InvalidInput("The table has no version {version}; its latest is {latest}.", field="version",
                               version=version, latest=found[-1].number)
        return found[version]
    if timestamp is not None:
        moment = parse_timestamp(timestamp, "timestamp")
        earlier = [v for v in found if v.at <= moment]
        if not earlier:
            raise InvalidInput("The table did not exist yet at {time}.", field="timestamp", time=timestamp)
        return earlier[-1]
    return found[-1]


def version_since(found: list[Version], starting: str) -> Version:
    """The earliest version at or after ``startingTimestamp`` (the version endpoint)."""
    moment = parse_timestamp(starting, "startingTimestamp")
    later = [v for v in found if v.at >= moment]
    if not later:
        raise InvalidInput("No version of the table is as recent as {time}.", field="startingTimestamp",
                           time=starting)
    return later[0]


def table_version(db: Session, grant: Grant, share: str, schema: str, table: str,
                  starting: str | None = None) -> int:
    _check_table(grant, share, schema, table)
    found = versions(db, grant.listing_id)
    return (version_since(found, starting) if starting else found[-1]).number


# --- metadata ---------------------------------------------------------------------------------


def _delta_type(kind: pa.DataType) -> str | None:
    simple = {pa.bool_(): "boolean", pa.int8(): "byte", pa.int16(): "short", pa.int32(): "integer",
              pa.int64(): "long", pa.uint8(): "short", pa.uint16(): "integer", pa.uint32(): "long",
              pa.float16(): "float", pa.float32(): "float", pa.float64(): "double", pa.string(): "string",
              pa.large_string(): "string", pa.binary(): "binary", pa.large_binary(): "binary",
              pa.date32(): "date", pa.date64(): "date"}
    if kind in simple:
        return simple[kind]
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_decimal(kind):
        return f"decimal({kind.precision},{kind.scale})"
    return None


def served_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of the shared files: a column of a type Delta has no name for is served as text;
    unsigned 64-bit integers as text too (Delta's ``long`` is signed)."""
    fields = []
    for f in schema:
        fits = _delta_type(f.type) is not None and f.type != pa.uint64()
        fields.append(f if fits else pa.field(f.name, pa.string()))
    return pa.schema(fields)


def schema_string(schema: pa.Schema) -> str:
    return json.dumps({"type": "struct", "fields": [
        {"name": f.name, "type": _delta_type(f.type) or "string", "nullable": True, "metadata": {}}
        for f in schema]}, ensure_ascii=False)


def metadata_lines(grant: Grant, schema: pa.Schema, version: Version, *, files: int | None = None,
                   size: int | None = None) -> list[dict[str, Any]]:
    meta: dict[str, Any] = {"id": _uuid(f"table:{grant.contract_id}:{grant.listing_id}"),
                            "format": {"provider": "parquet"}, "schemaString": schema_string(schema),
                            "partitionColumns": [], "configuration": {}, "version": version.number}
    if files is not None:
        meta["numFiles"] = files
    if size is not None:
        meta["size"] = size
    return [{"protocol": {"minReaderVersion": 1}}, {"metaData": meta}]


def data_path(settings: Settings, version: Version) -> Path:
    return open_blob_store(settings).path(version.sha256)


def table_metadata(db: Session, settings: Settings, grant: Grant, share: str, schema: str,
                   table: str) -> tuple[int, list[dict[str, Any]]]:
    _check_table(grant, share, schema, table)
    version = versions(db, grant.listing_id)[-1]
    arrow = served_schema(pq.read_schema(data_path(settings, version)))
    return version.number, metadata_lines(grant, arrow, version)


# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRequest:
    limit: int | None = None
    version: int | None = None
    timestamp: str | None = None
    predicate: dict[str, Any] | None = None


def _whole(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidInput("{field} must be a whole number of at least 0.", field=name)
    return value


def parse_query(body: object) -> QueryRequest:
    """The request body of a query; hints that cannot be used are ignored (the protocol makes them
    best effort), values of the wrong kind are refused naming the field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.", field="body")
    if body.get("startingVersion") is not None or body.get("endingVersion") is not None:
        raise InvalidInput("Change data feed and streaming queries are not supported.", field="startingVersion")
    limit, version = _whole(body, "limitHint"), _whole(body, "version")
    timestamp = body.get("timestamp")
    if timestamp is not None and (not isinstance(timestamp, str) or len(timestamp) > 40):
        raise InvalidInput("{field} must be a time such as 2026-11-30T08:00:00Z.", field="timestamp")
    if version is not None and timestamp is not None:
        raise InvalidInput("Give a version or a timestamp, not both.", field="version")
    hints = body.get("jsonPredicateHints")
    if hints is not None and not isinstance(hints, str):
        raise InvalidInput("jsonPredicateHints must be a JSON text.", field="jsonPredicateHints")
    if hints is not None and len(hints) > MAX_PREDICATE_CHARS:
        raise InvalidInput("jsonPredicateHints is too long (at most {n} characters).", field="jsonPredicateHints",
                           n=MAX_PREDICATE_CHARS)
    hints_ = body.get("predicateHints")
    if hints_ is not None and not (isinstance(hints_, list) and all(isinstance(h, str) for h in hints_)):
        raise InvalidInput("predicateHints must be a list of texts.", field="predicateHints")
    predicate = None
    if hints:
        try:
            parsed = json.loads(hints)
        except ValueError:
            parsed = None
        predicate = parsed if isinstance(parsed, dict) and _small(parsed) else None
    return QueryRequest(limit, version, timestamp, predicate)


def _small(node: Any, budget: list[int] | None = None, depth: int = 0) -> bool:
    budget = budget if budget is not None else [MAX_PREDICATE_NODES]
    budget[0] -= 1
    if budget[0] < 0 or depth > 32:
        return False
    children = node.get("children", []) if isinstance(node, dict) else []
    return isinstance(children, list) and all(_small(c, budget, depth + 1) for c in children)


def _literal(node: dict[str, Any]) -> Any:
    value, kind = node.get("value"), str(node.get("valueType", "string"))
    if kind in ("int", "long", "short", "byte"):
        return int(str(value))
    if kind in ("float", "double"):
        return float(str(value))
    if kind in ("string", "date"):
        return str(value)
    raise ValueError(kind)


def may_match(node: Any, stats: dict[str, Any]) -> bool:
    """Whether a file with ``stats`` may hold rows that satisfy the JSON predicate (True when unsure)."""
    if not isinstance(node, dict):
        return True
    op, children = node.get("op"), node.get("children") or []
    try:
        if op == "and":
            return all(may_match(c, stats) for c in children)
        if op == "or":
            return any(may_match(c, stats) for c in children) if children else True
        if op == "isNull" and children and children[0].get("op") == "column":
            nulls = stats.get("nullCount", {}).get(children[0].get("name"))
            return nulls is None or nulls > 0
        if op in ("equal", "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual") and len(children) == 2:
            column, literal = children
            if column.get("op") != "column" or literal.get("op") != "literal":
                return True
            name, value = column.get("name"), _literal(literal)
            low, high = stats.get("minValues", {}).get(name), stats.get("maxValues", {}).get(name)
            if low is None or high is None or (type(low) is not type(value) and not (
                    isinstance(low, (int, float)) and isinstance(value, (int, float)))):
                return True
            return bool({"equal": low <= value <= high, "lessThan": low < value, "lessThanOrEqual": low <= value,
                         "greaterThan": high > value, "greaterThanOrEqual": high >= value}[op])
    except (ValueError, TypeError, AttributeError):
        return True
    return True  # not, in and anything else: the file may match


@dataclass(frozen=True)
class SharedFile:
    name: str
    rows: int
    size: int
    stats: dict[str, Any]


@dataclass(frozen=True)
class PreparedQuery:
    grant: Grant
    version: Version
    data: Path
    plan: WatermarkPlan
    key: WatermarkKey
    folder: Path
    request: QueryRequest
    decoys: DecoyModel | None = None


def copy_folder(settings: Settings, grant: Grant, version: Version) -> Path:
    folder = settings.data_dir / "delivery" / "sharing" / str(grant.contract_id)
    return folder / f"v{version.number}-{version.sha256[:16]}"


def prepare_query(db: Session, settings: Settings, grant: Grant, share: str, schema: str, table: str,
                  body: object) -> PreparedQuery:
    from qianshu.delivery.service import decoy_model_for, plan_for, watermark_policy

    _check_table(grant, share, schema, table)
    request = parse_query(body)
    version = pick_version(versions(db, grant.listing_id), request.version, request.timestamp)
    listing = catalog_service.get_listing(db, SYSTEM, grant.listing_id)
    data = data_path(settings, version)
    chosen = watermark_policy(db, settings, listing)
    plan = plan_for(data, chosen)
    key = WatermarkKey.for_contract(settings.secret_key, grant.contract_number, grant.contract_number)
    return PreparedQuery(grant, version, data, plan, key, copy_folder(settings, grant, version), request,
                         decoy_model_for(data, chosen, plan))


def _merge_stats(stats: dict[str, Any], batch: pa.RecordBatch) -> None:
    stats["numRecords"] += batch.num_rows
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        stats["nullCount"][name] = stats["nullCount"].get(name, 0) + column.null_count
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_string(kind)
                or pa.types.is_large_string(kind)) or column.null_count == len(column):
            continue
        found = pc.min_max(column).as_py()
        low, high = found["min"], found["max"]
        if isinstance(low, float) and (low != low or high != high):  # NaN: no usable bounds
            continue
        old_low, old_high = stats["minValues"].get(name), stats["maxValues"].get(name)
        stats["minValues"][name] = low if old_low is None else min(old_low, low)
        stats["maxValues"][name] = high if old_high is None else max(old_high, high)


def _fresh_stats() -> dict[str, Any]:
    return {"numRecords": 0, "minValues": {}, "maxValues": {}, "nullCount": {}}


def materialize(prepared: PreparedQuery, file_rows: int) -> tuple[list[SharedFile], bool]:
    """The version's marked Parquet parts for the contract, written once (no database; a
    concurrent writer's folder wins, ours is dropped). Returns the parts and whether we wrote them."""
    manifest = prepared.folder / "files.json"
    if manifest.exists():
        return _read_manifest(manifest), False
    prepared.folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = prepared.folder.parent / f".tmp-{uuid.uuid4().hex}"
    temporary.mkdir()
    try:
        parquet = pq.ParquetFile(prepared.data)
        schema = served_schema(parquet.schema_arrow)
        parts: list[SharedFile] = []
        writer: pq.ParquetWriter | None = None
        stats = _fresh_stats()

        def close() -> None:
            nonlocal writer, stats
            if writer is not None:
                writer.close()
                name = f"part-{len(parts):05d}.parquet"
                parts.append(SharedFile(name, stats["numRecords"], (temporary / name).stat().st_size, stats))
                writer, stats = None, _fresh_stats()

        marked = watermark_batches(parquet.iter_batches(batch_size=min(BATCH_ROWS, file_rows)),
                                   prepared.plan, prepared.key)
        if prepared.decoys is not None and prepared.decoys.count:
            marked = with_decoys(marked, prepared.decoys, prepared.key, parquet.metadata.num_rows)
        for batch in _served(marked, schema):
            offset = 0
            while offset < batch.num_rows:
                if writer is None:
                    writer = pq.ParquetWriter(temporary / f"part-{len(parts):05d}.parquet", schema)
                piece = batch.slice(offset, file_rows - stats["numRecords"])
                writer.write_batch(piece)
                _merge_stats(stats, piece)
                offset += piece.num_rows
                if stats["numRecords"] >= file_rows:
                    close()
        close()
        if not parts:  # an empty table still has one (empty) file
            pq.write_table(schema.empty_table(), temporary / "part-00000.parquet")
            parts.append(SharedFile("part-00000.parquet", 0, (temporary / "part-00000.parquet").stat().st_size,
                                    _fresh_stats()))
        (temporary / "files.json").write_text(json.dumps([p.__dict__ for p in parts], ensure_ascii=False,
                                                         default=str))
        try:
            os.rename(temporary, prepared.folder)
        except OSError:  # another request wrote it first: the same bytes (the marks are deterministic)
            shutil.rmtree(temporary, ignore_errors=True)
            return _read_manifest(manifest), False
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return parts, True


def _served(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield batch if batch.schema.equals(schema) else pa.RecordBatch.from_arrays(
            [c if c.type == f.type else c.cast(pa.string()) for c, f in zip(batch.columns, schema, strict=True)],
            schema=schema)


def _read_manifest(manifest: Path) -> list[SharedFile]:
    return [SharedFile(**entry) for entry in json.loads(manifest.read_text())]


def choose_files(parts: list[SharedFile], request: QueryRequest) -> list[SharedFile]:
    """The parts a query needs: those the predicate may match, then only as many as the limit needs."""
    chosen = [p for p in parts if request.predicate is None or may_match(request.predicate, p.stats)]
    if request.limit is not None:
        kept, rows = [], 0
        for part in chosen:
            if rows >= request.limit:
                break
            kept.append(part)
            rows += part.rows
        chosen = kept
    return chosen


def _file_key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key.encode(), FILE_CONTEXT, hashlib.sha256).digest()


def file_signature(settings: Settings, token_id: int, version: int, name: str, expires: int) -> str:
    return hmac.new(_file_key(settings), f"{token_id}\0{version}\0{name}\0{expires}".encode(),
                    hashlib.sha256).hexdigest()


def query_lines(settings: Settings, prepared: PreparedQuery, parts: list[SharedFile]) -> list[dict[str, Any]]:
    """The NDJSON lines of a query's answer: protocol, metaData, then one line per file."""
    chosen = choose_files(parts, prepared.request)
    minutes = settings.section(DeliverySettings).sharing_url_minutes
    expires = int((utcnow() + timedelta(minutes=minutes)).timestamp())
    schema = served_schema(pq.read_schema(prepared.data))
    lines = metadata_lines(prepared.grant, schema, prepared.version, files=len(parts),
                           size=sum(p.size for p in parts))
    base = settings.public_base + PREFIX
    token, number = prepared.grant.token_id, prepared.version.number
    for part in chosen:
        sig = file_signature(settings, token, number, part.name, expires)
        lines.append({"file": {
            "url": f"{base}/files/{token}/{number}/{part.name}?expires={expires}&signature={sig}",
            "id": hashlib.sha256(f"{prepared.folder.name}/{part.name}".encode()).hexdigest()[:32],
            "partitionValues": {}, "size": part.size, "stats": json.dumps(part.stats, ensure_ascii=False, default=str),
            "expirationTimestamp": expires * 1000}})
    return lines


def record_query(db: Session, prepared: PreparedQuery, lines: list[dict[str, Any]], wrote: bool,
                 url_minutes: int, at: datetime | None = None) -> None:
    """The query's short write: the copy on the first query of a version, the rows of the files
    listed reported to the billing of a metered contract (:mod:`.metering`: once per contract,
    version, files and window of ``url_minutes``), the audit row and the public-log leaf."""
    grant = prepared.grant
    files = [line["file"] for line in lines if "file" in line]
    rows = sum(json.loads(f["stats"])["numRecords"] for f in files)
    report = metering.sharing_report_id(grant.contract_id, prepared.version.number, prepared.version.sha256,
                                        [f["id"] for f in files], url_minutes, at)
    usage = metering.report_delivery(db, grant.contract_id, report, rows, at)
    actor = Actor(user_id=None, via="delta_sharing", display_name=f"Delta Sharing {grant.contract_number}")
    if wrote:
        db.add(WatermarkedCopy(listing_id=grant.listing_id, org_id=grant.seller_org_id,
                               recipient_key=grant.contract_number, recipient_label="delta-sharing",
                               file_format="parquet", rows=_rows_of(prepared), created_by=None))
    audit.record(db, actor, "delivery.sharing_query", target_type="contract", target_id=grant.contract_id,
                 target_org_id=grant.seller_org_id, token=grant.token_id, version=prepared.version.number,
                 files=len(files), rows=rows, limit=prepared.request.limit, usage=usage)
    append_event(db, "delivery.shared", {"contract": grant.contract_number, "token": grant.token_id,
                                         "version": prepared.version.number, "files": len(files), "rows": rows})


def _rows_of(prepared: PreparedQuery) -> int:
    manifest = prepared.folder / "files.json"
    return sum(p.rows for p in _read_manifest(manifest)) if manifest.exists() else 0


# --- pre-signed files -------------------------------------------------------------------------


def shared_file(db: Session, settings: Settings, token_id: int, version: int, name: str, expires: str,
                sig: str) -> Path:
    """The file a pre-signed URL names, after checking its signature, expiry, token and contract."""
    if (not FILE_NAME.match(name) or not expires.isdigit() or len(expires) > 12
            or not re.fullmatch(r"[0-9a-f]{64}", sig)
            or not hmac.compare_digest(file_signature(settings, token_id, version, name, int(expires)), sig)):
        raise PermissionDenied("This file link is not valid: it was altered or belongs to another share.",
                               code="url_invalid")
    if utcnow().timestamp() >= int(expires):
        raise PermissionDenied("This file link has expired: query the table again for a new one.",
                               code="url_expired")
    grant = grant_of_token(db, db.get(SharingToken, token_id))
    found = versions(db, grant.listing_id)
    if version >= len(found):
        raise NotFound(NO_TABLE, code="not_found")
    path = copy_folder(settings, grant, found[version]) / name
    if not path.is_file():
        raise NotFound(NO_TABLE, code="not_found")
    return path
