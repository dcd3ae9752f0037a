"""REST routes of the public log, under /api/v1/log. Public and read-only.

Hashes in these responses are standard base64 (as in RFC 9162 section 5); ``leaf_hash_hex``
is added where a person may want to compare with a certificate. Proof paths are in RFC
9162 order (leaf to root for inclusion, as ``PROOF(m, D[n])`` for consistency).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from qianshu.core.errors import InvalidInput, NotFound
from qianshu.core.http import DbSession, Signer
from qianshu.core.openapi import PemResponse, problems
from qianshu.translog import service
from qianshu.translog.models import LogEntry

router = APIRouter(prefix="/api/v1/log", tags=["public log"])
MAX_ENTRIES = 1000


def leaf_json(entry: LogEntry) -> dict[str, Any]:
    return {"index": entry.index, "leaf_hash": service.b64(entry.hash), "leaf_hash_hex": entry.leaf_hash,
            "leaf": entry.leaf.decode("utf-8"), "event": entry.document}


def _head_size(db: DbSession) -> int:
    head = service.latest_tree_head(db)
    return head.tree_size if head is not None else service.tree_size(db)


@router.get("/sth", summary="Get the latest signed tree head", responses=problems(404))
def latest_head(db: DbSession) -> dict[str, Any]:
    """The latest signed tree head."""
    head = service.latest_tree_head(db)
    if head is None:
        raise NotFound("No tree head has been signed yet.")
    return service.tree_head_document(head)


@router.get("/public-key", summary="Get the log's public key")
def public_key(signer: Signer) -> dict[str, str]:
    """The exchange's Ed25519 key that signs tree heads (SubjectPublicKeyInfo PEM)."""
    return {"algorithm": signer.algorithm, "key_id": signer.key_id,
            "public_key_pem": signer.public_key_pem().decode("ascii")}


@router.get("/public-key.pem", summary="Get the log's public key as PEM", response_class=PemResponse)
def public_key_pem(signer: Signer) -> Response:
    return Response(signer.public_key_pem(), media_type="application/x-pem-file")


@router.get("/leaves/{index}", summary="Get a leaf of the log", responses=problems(404))
def leaf(index: int, db: DbSession) -> dict[str, Any]:
    """Leaf ``index``: its exact bytes (``leaf``, UTF-8) and its hash."""
    return leaf_json(service.get_leaf(db, index))


@router.get("/leaves", summary="List leaves of the log")
def leaves(db: DbSession, start: Annotated[int, Query()] = 0,
           end: Annotated[int | None, Query(description="exclusive")] = None) -> dict[str, Any]:
    """Leaves ``[start, end)``, at most 1,000 per call (for mirrors)."""
    size = service.tree_size(db)
    if start < 0:
        raise InvalidInput("{field} must not be negative.", field="start")
    stop = min(size, start + MAX_ENTRIES if end is None else end, start + MAX_ENTRIES)
    return {"tree_size": size, "entries": [leaf_json(e) for e in service.leaves_between(db, start, stop)]}


@router.get("/proof/inclusion", summary="Get an inclusion proof", responses=problems(404))
def inclusion(db: DbSession, index: Annotated[int | None, Query()] = None,
              leaf_hash: Annotated[str | None, Query(max_length=100)] = None,
              tree_size: Annotated[int | None, Query()] = None) -> dict[str, Any]:
    """Inclusion proof for a leaf given by ``index`` or ``leaf_hash`` (hex or base64).

    ``tree_size`` defaults to the latest signed tree head.
    """
    if (index is None) == (leaf_hash is None):
        raise InvalidInput("Give either index or leaf_hash.", field="index")
    if leaf_hash is not None:
        found = service.find_leaf_by_hash(db, service.decode_hash(leaf_hash))
        if found is None:
            raise NotFound("No leaf with this hash is in the log.")
        index = found.index
    assert index is not None
    size = _head_size(db) if tree_size is None else tree_size
    proof = service.inclusion_proof(db, index, size)
    entry = service.get_leaf(db, index)
    return {"leaf_index": index, "tree_size": size, "leaf_hash": service.b64(entry.hash),
            "inclusion_path": [service.b64(h) for h in proof]}


@router.get("/proof/consistency", summary="Get a consistency proof")
def consistency(db: DbSession, first: Annotated[int, Query()],
                second: Annotated[int | None, Query()] = None) -> dict[str, Any]:
    """Consistency proof between tree sizes ``first`` and ``second`` (default: the latest head)."""
    size = _head_size(db) if second is None else second
    proof = service.consistency_proof(db, first, size)
    return {"first": first, "second": size, "consistency_path": [service.b64(h) for h in proof]}
