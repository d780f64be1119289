"""Signals while the command line loads its libraries (about a second).

Ctrl-C, SIGTERM or SIGHUP in that second would otherwise print a Python traceback (or end
without a word). Importing this module first installs handlers that say "interrupted
while starting: nothing written" and exit 2 - nothing has been read or written yet;
:func:`loaded` puts the previous handlers back once the commands, which handle signals
themselves, are ready.
"""

from __future__ import annotations

import signal
import sys
import threading

_PREVIOUS: dict = {}


def _stopped(signum, _frame):
    sys.stderr.write(f"interrupted ({signal.Signals(signum).name}) while starting: "
                     "nothing written\n")
    raise SystemExit(2)


def loaded() -> None:
    """Put back the handlers that were there before this module was imported."""
    while _PREVIOUS:
        sig, previous = _PREVIOUS.popitem()
        signal.signal(sig, previous)


if threading.current_thread() is threading.main_thread():  # only there may handlers be set
    for _name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, _name):
            _sig = getattr(signal, _name)
            _PREVIOUS[_sig] = signal.signal(_sig, _stopped)
