"""Handler and job threads run below the process's own priority, counted from the niceness it
started at (core/threads.py): an operator's ``nice -n 10 qianshu serve`` keeps its event loop
above its handlers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# A process started at some niceness lowers one thread as a request handler and one as a job
# thread, and prints the niceness of its main thread and of each.
PROGRAM = """
import os, threading
from qianshu.core.threads import JOB_NICENESS, REQUEST_NICENESS, lower_this_thread
seen = {}
def run(name, levels):
    lower_this_thread(levels)
    seen[name] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
for name, levels in (("request", REQUEST_NICENESS), ("job", JOB_NICENESS)):
    t = threading.Thread(target=run, args=(name, levels))
    t.start()
    t.join()
print(os.getpriority(os.PRIO_PROCESS, 0), seen["request"], seen["job"])
"""


def _priorities(start: int) -> tuple[int, int, int]:
    """(main thread, a request thread, a job thread) of a process started ``start`` levels down."""
    out = subprocess.run([sys.executable, "-c", PROGRAM], check=True, capture_output=True, text=True,
                         preexec_fn=lambda: os.nice(start))
    main, request, job = (int(n) for n in out.stdout.split())
    return main, request, job


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_handlers_stay_below_the_loop_of_a_process_started_with_nice() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)  # the suite may itself run under nice
    main, request, job = _priorities(3)
    assert main == min(19, base + 3)
    assert request == min(19, main + 5)  # five levels below the loop, as at the default priority
    assert job == min(19, main + 10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_at_the_default_priority_the_levels_are_the_documented_ones() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    main, request, job = _priorities(0)
    assert (main, request, job) == (base, min(19, base + 5), min(19, base + 10))
