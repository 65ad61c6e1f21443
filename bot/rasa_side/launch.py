"""Start the Rasa server with its API token from the environment, not the command line.

    .venv-rasa/bin/python -m bot.rasa_side.launch run --enable-api ... (rasa's own arguments)

`rasa run` takes its token only as ``--auth-token``, which every user of the machine can
read in ``ps``. This launcher adds it inside the process from ``$TANDEM_RASA_TOKEN`` (a
process's environment is readable by its owner only): ``/proc/<pid>/cmdline`` keeps the
arguments the process was started with, without the token.
"""

from __future__ import annotations

import os
import sys


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
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
