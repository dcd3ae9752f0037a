"""The memory and time of a large feed upload through the sharing API, against hashing the same bytes.

    python benchmarks/sharing_upload.py [--mb 200] [--form]

Sets up a department with a resource (SQLite), starts the web app in a process of its own (uvicorn
on a loopback port), and uploads a generated UTF-8 CSV of ``--mb`` MiB as the raw body of
``PUT /api/v1/sharing/resources/{id}/files/{name}`` (sent chunked, never whole in the client
either). Prints the server's peak resident memory (``VmHWM``) before and after the upload, the
upload's wall time and throughput, and the ratio against the baseline: SHA-256 of the same bytes in
this process (the least any upload does to them). The body's limits are raised above ``--mb`` so
that the same script measures a version of the code that read the body whole. ``--form`` sends the
file through the portal's upload form instead (``POST /sharing/resources/{id}/files``, multipart,
signed in with a session cookie and the CSRF token, the body generated as it is sent).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

HEADER = b"resident_id,assistance,monthly_amount_fen\n"
ROW = b"520102199001011234,dibao,45000\n"
BLOCK = ROW * 32768  # ~1 MiB


def _settings(folder: Path, limit: int) -> object:
    from qianshu.core.settings import Settings

    return Settings(environment="test", data_dir=folder / "data", database_url=f"sqlite:///{folder / 'bench.db'}",
                    secret_key="bench-secret-" + "x" * 32, run_jobs_in_process=False, request_max_bytes=limit,
                    sections={"sharing": {"max_file_bytes": limit}})


def _serve(folder: Path, limit: int, port: int) -> None:
    import uvicorn

    from qianshu.web.app import create_app

    uvicorn.run(create_app(_settings(folder, limit)), host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]


def _body(blocks: int) -> Iterator[bytes]:
    yield HEADER
    for _ in range(blocks):
        yield BLOCK


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _through_form(client: httpx.Client, cookie: str, resource_id: int, blocks: int) -> httpx.Response:
    """The file as the portal's form sends it: the date, then the file part, generated as it goes."""
    import re

    client.cookies.set("qs_session", cookie)
    token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', client.get("/").text)
    assert token is not None

    def form() -> Iterator[bytes]:
        yield (b'--bench\r\nContent-Disposition: form-data; name="as_of"\r\n\r\n2026-02-01\r\n'
               b'--bench\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
               b"Content-Type: text/csv\r\n\r\n")
        yield from _body(blocks)
        yield b"\r\n--bench--\r\n"

    answer = client.post(f"/sharing/resources/{resource_id}/files", params={"csrf_token": token.group(1)},
                         content=form(), headers={"Content-Type": "multipart/form-data; boundary=bench"},
                         follow_redirects=False)
    if answer.status_code != 303:
        raise RuntimeError(answer.text[-2000:])
    return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--form", action="store_true", help="upload through the portal's form")
    parser.add_argument("--serve", nargs=3, metavar=("FOLDER", "LIMIT", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(Path(args.serve[0]), int(args.serve[1]), int(args.serve[2]))
        return
    import socket

    from tests.factories import Factories
    from tests.sharing.conftest import build_world

    from qianshu.accounts import service as accounts
    from qianshu.accounts.schemas import TokenIn
    from qianshu.core.db import Database
    from qianshu.core.migrate import upgrade

    blocks = -(-args.mb * 2**20 // len(BLOCK))
    limit = (args.mb + 16) * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="qianshu-bench-share-") as name:
        folder = Path(name)
        url = f"sqlite:///{folder / 'bench.db'}"
        upgrade(url)
        database = Database(url)
        with database.unit_of_work() as db:
            make = Factories(db)
            world = build_world(db, make)
            token = accounts.create_token(db, accounts.actor_for(world.owner, via="api", ip=None),
                                          TokenIn(name="bench", scopes=["read", "write"]))[1]
            cookie = accounts.start_session(db, _settings(folder, limit), world.owner, "127.0.0.1", "bench")  # type: ignore[arg-type]
            resource_id = world.conditional
        database.dispose()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(folder), str(limit),  # noqa: S603 - ourselves
                                   str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=600, headers={"Authorization": f"Bearer {token}"}) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        client.get(f"/api/v1/sharing/resources/{resource_id}").raise_for_status()
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                # a small upload first: every code path imported and warm
                client.put(f"/api/v1/sharing/resources/{resource_id}/files/warm.csv", params={"as_of": "2026-01-01"},
                           content=HEADER + ROW).raise_for_status()
                before = _peak_rss_mib(server.pid)
                started = time.perf_counter()
                if args.form:
                    answer = _through_form(client, cookie, resource_id, blocks)
                else:
                    answer = client.put(f"/api/v1/sharing/resources/{resource_id}/files/big.csv",
                                        params={"as_of": "2026-02-01"}, content=_body(blocks))
                took = time.perf_counter() - started
                if not args.form:  # the form answers 303 (its own check above)
                    answer.raise_for_status()
                after = _peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(30)
        started = time.perf_counter()
        hasher = hashlib.sha256()
        for chunk in _body(blocks):
            hasher.update(chunk)
        bare = time.perf_counter() - started
        size = len(HEADER) + blocks * len(BLOCK)
        if not args.form:
            assert hasher.hexdigest() == answer.json()["sha256"]
        print(f"upload of {size / 2**20:,.0f} MiB through the {'portal form' if args.form else 'API'}: "
              f"{took:.2f} s, {size / 2**20 / took:,.0f} MiB/s")
        print(f"server peak RSS: {before:,.0f} MiB before the upload, {after:,.0f} MiB after "
              f"(+{after - before:,.0f} MiB for a {size / 2**20:,.0f} MiB body)")
        print(f"baseline, SHA-256 of the same bytes in-process: {bare:.2f} s; upload / baseline: {took / bare:.1f}x")


if __name__ == "__main__":
    main()
