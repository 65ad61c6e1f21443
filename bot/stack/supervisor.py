"""The stack's supervisor: supervisord (PyPI `supervisor`), one per `$TANDEM_HOME`.

`tandem up` writes its configuration (``run/supervisord.conf``, owner-only: the processes'
environment holds the stack's secrets), starts it when it is not running, and asks it to
start each component. From then on supervisord, not `tandem`, keeps them running: a
component that exits or is killed is started again at once (``autorestart``), and each
one's output goes to ``logs/<name>.log``, rotated at 10 MB with five copies kept (the
retention sweep deletes copies older than the brand's retention period). It listens on a
unix socket in ``run/`` (0700), so only the stack's owner can control it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from bot.core.settings import ROOT, Settings

LOG_MAX_BYTES = "10MB"
LOG_BACKUPS = 5
# variables of the caller that a component may read (the rest of `tandem`'s environment
# is not passed on: supervisord may outlive it)
PASSED_ON = (
    "TANDEM_",
    "QDRANT_",
    "HF_",
    "TRANSFORMERS_",
    "TOKENIZERS_",
    "OMP_",
    "MKL_",
    "PATH",
    "HOME",
    "LANG",
    "LC_",
)


class SupervisorError(Exception):
    """supervisord could not be started or asked; the message says what to do."""


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]
    env: dict[str, str]
    start_seconds: float  # how long it must stay up to count as started


def _escape(value: str) -> str:
    """supervisord expands %(name)s in values: a literal % is written %%."""
    return value.replace("%", "%%")


def _environment(env: dict[str, str]) -> str:
    pairs = []
    for key, value in sorted(env.items()):
        quoted = '"' + _escape(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        pairs.append(f"{key}={quoted}")
    return ",".join(pairs)


def passed_on(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k.startswith(PASSED_ON) and "\n" not in v}


def config_text(settings: Settings, programs: Iterable[Program]) -> str:
    run, logs = settings.run_dir, settings.logs_dir
    lines = [
        "; written by `tandem up` (bot/stack/supervisor.py): edits are overwritten",
        "[supervisord]",
        f"logfile={_escape(str(logs / 'supervisord.log'))}",
        f"logfile_maxbytes={LOG_MAX_BYTES}",
        f"logfile_backups={LOG_BACKUPS}",
        f"pidfile={_escape(str(run / 'supervisord.pid'))}",
        f"childlogdir={_escape(str(logs))}",
        "umask=077",
        "nodaemon=false",
        "",
        "[unix_http_server]",
        f"file={_escape(str(run / 'supervisor.sock'))}",
        "chmod=0700",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_escape(str(run / 'supervisor.sock'))}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    ]
    for program in programs:
        log = _escape(str(logs / f"{program.name}.log"))
        lines += [
            "",
            f"[program:{program.name}]",
            f"command={_escape(shlex.join(program.command))}",
            f"directory={_escape(str(ROOT))}",
            f"environment={_environment({**passed_on(), **program.env})}",
            "autostart=false",  # `tandem up` starts them in order, each once the one before is healthy
            "autorestart=true",
            f"startsecs={program.start_seconds:g}",
            "startretries=1000",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=15",
            "redirect_stderr=true",
            f"stdout_logfile={log}",
            f"stdout_logfile_maxbytes={LOG_MAX_BYTES}",
            f"stdout_logfile_backups={LOG_BACKUPS}",
        ]
    return "\n".join(lines) + "\n"


class Supervisor:
    """The stack's supervisord: started on demand, asked over its unix socket."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conf = settings.run_dir / "supervisord.conf"
        self.socket = settings.run_dir / "supervisor.sock"

    def _rpc(self):
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self._rpc().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def write_config(self, programs: Iterable[Program]) -> bool:
        """Write the configuration; whether it changed."""
        text = config_text(self.settings, programs)
        old = self.conf.read_text() if self.conf.exists() else None
        if old == text:
            return False
        descriptor = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        return True

    def ensure_running(self, programs: list[Program]) -> None:
        """Start supervisord, or have the running one take the current configuration."""
        changed = self.write_config(programs)
        if self.running():
            if changed:
                self._apply_changes()
            return
        own_log = self.settings.logs_dir / "supervisord.log"  # supervisord makes it before its umask applies
        os.close(os.open(own_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        own_log.chmod(0o600)
        supervisord = Path(sys.executable).parent / "supervisord"
        if not supervisord.exists():
            raise SupervisorError(f"{supervisord} is missing: run `make setup` (it installs `supervisor`)")
        result = subprocess.run(
            [str(supervisord), "-c", str(self.conf)], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.running():
                return
            time.sleep(0.1)
        raise SupervisorError(
            f"supervisord did not start ({result.stderr.strip() or result.stdout.strip() or 'no output'}); "
            f"its log is {self.settings.logs_dir / 'supervisord.log'}"
        )

    def _apply_changes(self) -> None:
        """Programs whose command or environment changed are stopped and re-read (then
        started again by `tandem up`), as `supervisorctl update` does."""
        rpc = self._rpc()
        added, changed, removed = rpc.reloadConfig()[0]
        for name in changed + removed:
            try:
                rpc.stopProcess(name, True)
            except xmlrpc.client.Fault:
                pass  # not running
            rpc.removeProcessGroup(name)
        for name in changed + added:
            rpc.addProcessGroup(name)

    def info(self, name: str) -> dict | None:
        if not self.running():
            return None
        try:
            return self._rpc().getProcessInfo(name)
        except (OSError, xmlrpc.client.Error):
            return None

    def pid(self, name: str) -> int | None:
        info = self.info(name)
        return info["pid"] if info and info.get("pid") else None

    def start(self, name: str) -> None:
        try:
            self._rpc().startProcess(name, False)
        except OSError:
            raise SupervisorError(
                f"the stack's supervisor is not running, so {name} cannot start: run `tandem up`"
            ) from None
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise SupervisorError(f"supervisord could not start {name}: {fault.faultString}") from None

    def stop(self, name: str) -> bool:
        """Stop one program and keep it stopped; whether it was running."""
        if not self.running():
            return False
        try:
            return bool(self._rpc().stopProcess(name, True))
        except xmlrpc.client.Fault:  # NOT_RUNNING, BAD_NAME
            return False

    def shutdown(self, timeout: float = 30) -> None:
        if not self.running():
            return
        try:
            self._rpc().shutdown()
        except (OSError, xmlrpc.client.Error):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.socket.exists():
            time.sleep(0.1)
