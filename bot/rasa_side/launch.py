"""Start the Rasa server with its API token from the environment, not the command line.

    .venv-rasa/bin/python -m bot.rasa_side.launch run --enable-api ... (rasa's own arguments)

`rasa run` takes its token only as ``--auth-token``, which every user of the machine can
read in ``ps``. This launcher adds it inside the process from ``$TANDEM_RASA_TOKEN`` (a
process's environment is readable by its owner only): ``/proc/<pid>/cmdline`` keeps the
arguments the process was started with, without the token.

With several Sanic workers (``SANIC_WORKERS``), Sanic forks them from this process. Each
is killed when this process dies (Linux' parent-death signal): otherwise a kill -9
of the server leaves its workers serving the old port, and the supervisor's restart fails
on a port in use.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
_forking = [0]  # the pid of the process that is forking: read in the child


def stop_with_parent(parent: int) -> None:
    """In a forked child: ask the kernel to kill this process when `parent` dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor stops the process group
        return
    if os.getppid() != parent:  # the parent died before the request was in place
        os.kill(os.getpid(), signal.SIGKILL)


def rasa_argv(arguments: list[str], token: str) -> list[str]:
    """`rasa`'s own arguments with the token added. One argument with "=": argparse reads
    "--auth-token -x" as a missing value followed by an option, and Rasa refused to start
    whenever the generated token happened to start with "-"."""
    return ["rasa", *arguments, f"--auth-token={token}"]


def main() -> None:
    token = os.environ.pop("TANDEM_RASA_TOKEN", "")
    if not token:
        sys.exit("TANDEM_RASA_TOKEN is not set: start Rasa with `tandem up`, which passes the stack's token")
    sys.argv = rasa_argv(sys.argv[1:], token)
    os.register_at_fork(
        before=lambda: _forking.__setitem__(0, os.getpid()),
        after_in_child=lambda: stop_with_parent(_forking[0]),
    )
    from rasa.__main__ import main as rasa_main

    from bot.rasa_side import faults, speedups, typed_buttons

    faults.install()  # a failing action server stops the turn instead of the conversation
    speedups.install()  # work Rasa repeats on every turn, done once
    typed_buttons.install()  # a button's title typed is the button clicked

    rasa_main()


if __name__ == "__main__":
    main()
