"""Scheduling priorities of a web worker's threads (Linux schedules threads one by one).

The event loop thread accepts connections, parses requests and answers ``/healthz``; it does
little work per request but must get the CPU at once. Request handlers run on worker threads,
background jobs on threads of their own. On a busy machine the scheduler shares a core among all
runnable threads, so the loop waited behind the handlers' time slices (``/healthz`` p50 19 ms,
worst 500 ms under the load test). Handler threads therefore run ``REQUEST_NICENESS`` levels and
job threads ``JOB_NICENESS`` levels below the process's starting priority: the loop, at that
priority, goes first. Password hashing (accounts/passwords.py) runs on a bounded pool of threads
``REQUEST_NICENESS`` levels down too:
lower still, sign-ins starved behind the pages on a busy machine (10 s and more). ``qianshu serve``
runs its job worker as a child process at ``JOB_NICENESS``. Lowering a thread's priority needs no
privilege; elsewhere than Linux this does nothing.
"""

from __future__ import annotations

import os
import threading

REQUEST_NICENESS = 5
JOB_NICENESS = 10
_lowered = threading.local()


def _own_niceness() -> int:
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError):  # not Unix
        return 0


# The niceness the process started at, which the levels above are counted from: an operator who
# starts the server lower (``nice -n 10 qianshu serve``) still gets handlers below its event loop
# (counted from 0, they stayed level with it). Read when this module is first imported, before
# ``qianshu worker`` lowers its own priority (worker.py), so that its job threads stay at
# ``JOB_NICENESS`` and not ten levels below that.
START_NICENESS = _own_niceness()


def lower_this_thread(niceness: int) -> None:
    """Run the calling thread ``niceness`` levels below the process's starting priority
    (at most 19; never raising a priority; once per thread and value)."""
    if getattr(_lowered, "niceness", None) == niceness or threading.current_thread() is threading.main_thread():
        return
    _lowered.niceness = niceness
    try:
        tid = threading.get_native_id()
        target = min(19, START_NICENESS + niceness)
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), target))
    except (AttributeError, OSError):  # not Linux, or not allowed
        pass
