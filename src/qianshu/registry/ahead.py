"""The pipeline of the files named on ``qianshu register``, run while the command starts up.

Before the pipeline's job may run, the command imports its database layer and the services,
checks the user, stores the files and records the registration: about 0.8 s of CPU whatever
the file (2026-12-01), more than the whole pipeline of a 100,000-row file. The pipeline needs
none of it: ``PipelineAhead`` runs it on a thread of its own from the start, on the files as
the command names them, into a work folder of its own, and the job takes its result instead of
running the pipeline again. DuckDB releases the GIL while a query runs, so the two overlap
where a second core is free; the CPU they cost is the same (the pipeline's Python parts and
DuckDB's checks for signals still wait for the GIL while the command imports).

The result stands for the stored bytes only if no file changed in between: each file's size,
modification time and inode when the pipeline started, when it finished and when the job asks
must be the same (the store refuses a file that changes while it is copied, by the same test),
and the job's files must be these, under the same names, read with the default options.
Otherwise, and if the pipeline failed here (the job's own run reports the failure as it always
does), the job runs the pipeline itself. A registration refused before its job is queued (the
user may not register, a file is empty ...) interrupts the pipeline; the work folder is removed
in every case.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qianshu.core.settings import Settings
    from qianshu.registry.ingest import SourceFile
    from qianshu.registry.pipeline import PipelineResult

Signature = tuple[int, int, int, int]


def _signature(path: Path) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class PipelineAhead:
    """``start()`` the pipeline of ``files`` with the settings' limits, in a folder of the
    settings' work folder; ``result_for`` the job's sources (None: run it there); ``close()``
    always (interrupts it if still running).

    The pipeline's modules (DuckDB among them, 0.05-0.1 s) are imported on the thread too, while
    the command imports the rest: they import nothing of the database layer, so the two threads
    never wait on each other's imports in a cycle."""

    def __init__(self, files: list[Path], settings: Settings) -> None:
        self._files = [Path(f) for f in files]
        self._settings = settings
        self._work: Path | None = None
        self._stage = (0.0, "")
        self._before = [_signature(f) for f in self._files]
        self._after: list[Signature | None] = []
        self._result: PipelineResult | None = None
        self._connection: Any = None
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="registry-pipeline-ahead", daemon=True)

    def start(self) -> PipelineAhead:
        self._thread.start()
        return self

    def _connected(self, connection: Any) -> None:
        with self._lock:
            self._connection = connection
            if self._closed:
                connection.interrupt()

    def _progress(self, fraction: float, stage: str) -> None:
        if self._closed:  # between two queries: the one running was interrupted
            raise InterruptedError
        self._stage = (fraction, stage)

    def _run(self) -> None:
        try:
            from qianshu.core.analytics import Limits
            from qianshu.registry.ingest import SourceFile
            from qianshu.registry.pipeline import run_pipeline

            work_root = self._settings.work_dir / "registry"
            work_root.mkdir(parents=True, exist_ok=True)
            self._work = Path(tempfile.mkdtemp(prefix="ahead-", dir=work_root))
            sources = [SourceFile(path, path.name) for path in self._files]
            self._result = run_pipeline(sources, self._work / "job", self._progress,
                                        limits=Limits.from_settings(self._settings), on_connect=self._connected)
        except Exception:  # (an unwritable work folder too) the job runs the pipeline and reports the failure
            self._result = None
        finally:
            with self._lock:
                self._connection = None
            self._after = [_signature(f) for f in self._files]

    def result_for(self, sources: list[SourceFile],
                   progress: Callable[[float, str], None] | None = None) -> PipelineResult | None:
        """The result, if it is that of ``sources`` (the stored copies of these files, in this
        order, under these names, default options) and no file changed since it started;
        ``progress`` is told each stage the pipeline enters while it is awaited."""
        from qianshu.registry.spreadsheets import IngestOptions

        shown = None
        while self._thread.is_alive():
            if progress is not None and self._stage != shown:
                shown = self._stage
                progress(*shown)
            self._thread.join(0.1)
        now = [_signature(f) for f in self._files]
        same_files = (len(sources) == len(self._files)
                      and all(s.name == f.name and s.options == IngestOptions() for s, f in zip(sources, self._files,
                                                                                                strict=True)))
        unchanged = None not in self._before and self._before == self._after == now
        return self._result if same_files and unchanged else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.interrupt()
        self._thread.join()
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
