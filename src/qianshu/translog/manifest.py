"""The public log: an append-only Merkle tree (RFC 9162) of everything that matters to a third party."""

from qianshu.core.capability import Manifest, NavItem

MANIFEST = Manifest(
    name="translog",
    title="Public log",
    models=True,
    api=True,
    pages=True,
    home=True,
    cli=True,
    templates=True,
    static=True,
    translations=True,
    nav=(NavItem("/log", "Public log", order=80),),
)
