"""The public log: an append-only Merkle tree (RFC 9162) of everything that matters to a third party."""

from qianshu.core.capability import MENU_PUBLIC, Manifest, NavItem

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
    actions="qianshu.translog.permissions:ACTIONS",
    nav=(NavItem("/log", "Public log", order=80, menu=MENU_PUBLIC),),
)
