"""The `tandem` command, set-up, training staleness and the stack's error messages."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from bot.core.brand import Brand
from bot.core.settings import ROOT, Settings, get_settings
from bot.stack import bootstrap, training
from bot.stack import processes as stack
from bot.tandem.cli import build_parser, main

COMMANDS = [
    [],
    ["bench"],
    ["bench", "stack"],
    ["up"],
    ["down"],
    ["status"],
    ["train"],
    ["chat"],
    ["orders"],
    ["orders", "reset"],
    ["orders", "show"],
    ["orders", "list"],
    ["handoff"],
    ["handoff", "list"],
    ["handoff", "back"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "tandem")
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: tandem" in capsys.readouterr().out


def test_tandem_is_installed_in_the_app_venv():
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "tandem"), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "handoff" in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TANDEM_MODELS", str(tmp_path / "models"))
    for name in ("REDIS", "ACTIONS", "RASA"):
        monkeypatch.setenv(f"TANDEM_{name}_PORT", str(free_port()))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_status_json_when_nothing_runs(isolated, capsys):
    assert main(["status", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert [c["state"] for c in report["components"]] == ["down", "down", "down"]
    assert report["model"] is None


def test_up_without_a_model_says_to_train(isolated, capsys):
    assert main(["up"]) == 1
    assert "tandem train" in capsys.readouterr().err


def test_taken_port_names_the_variable_to_change(isolated, monkeypatch):
    with socket.socket() as blocker:
        blocker.bind((isolated.host, isolated.redis_port))
        blocker.listen()
        redis = stack.components(isolated)[0]
        with pytest.raises(stack.StackError, match="TANDEM_REDIS_PORT"):
            stack.start(redis, isolated)


def test_a_component_that_dies_at_start_shows_its_log(isolated):
    broken = stack.Component(
        name="broken",
        port=isolated.actions_port,
        url="-",
        command=[sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(3)"],
        healthy=lambda: False,
        start_timeout=10,
        env={},
    )
    with pytest.raises(stack.StackError, match="boom: bad config"):
        stack.start(broken, isolated)


def test_api_token_is_generated_once_and_private(isolated, monkeypatch):
    monkeypatch.delenv("TANDEM_RASA_TOKEN", raising=False)
    token = isolated.rasa_token
    assert len(token) >= 24 and isolated.rasa_token == token
    assert (isolated.home / "rasa-token").stat().st_mode & 0o077 == 0


def test_a_token_that_starts_with_a_dash_stays_one_argument(isolated, monkeypatch):
    # argparse reads "--auth-token -x" as a missing value followed by an option: Rasa
    # refused to start whenever the generated token happened to start with "-".
    monkeypatch.setenv("TANDEM_RASA_TOKEN", "-Xy_z")
    rasa = next(c for c in stack.components(isolated) if c.name == "rasa")
    assert "--auth-token=-Xy_z" in rasa.command
    assert "-Xy_z" not in rasa.command


def test_model_is_stale_when_an_input_changes(tmp_path):
    brand = Brand(tmp_path / "acme")
    (brand.domain).mkdir(parents=True)
    (brand.data / "nlu").mkdir(parents=True)
    brand.config.write_text("pipeline: []\n")
    (brand.data / "nlu" / "a.yml").write_text("nlu: []\n")
    before = training.inputs_hash(brand)
    brand.config.write_text("pipeline: [] # edited\n")
    edited = training.inputs_hash(brand)
    (brand.data / "nlu" / "a.yml").write_text("nlu: [] # edited\n")
    assert len({before, edited, training.inputs_hash(brand)}) == 3


def test_a_model_is_named_after_its_brand_and_kept_per_brand(tmp_path):
    settings = Settings(models_dir=tmp_path)
    assert training.model_path(settings).name.startswith(f"{settings.brand.name}-")


def test_missing_python_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("PYENV_ROOT", "/nonexistent")
    with pytest.raises(bootstrap.SetupError) as error:
        bootstrap.find_python("3.99")
    assert "PYTHON399" in str(error.value) and "pyenv install 3.99" in str(error.value)


def test_python_from_the_environment_variable_is_used(monkeypatch):
    version = "{}.{}".format(*sys.version_info[:2])
    monkeypatch.setenv("PYTHON" + version.replace(".", ""), sys.executable)
    assert bootstrap.find_python(version) == sys.executable


def test_setup_check_reports_nothing_missing_after_setup():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bot" / "stack" / "bootstrap.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout
