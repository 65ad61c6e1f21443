"""The `tandem` command, set-up, training staleness and the stack's error messages."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from bot.core.brand import Brand
from bot.core.settings import ROOT, Settings, get_settings
from bot.rasa_side import launch
from bot.stack import bootstrap, training
from bot.stack import processes as stack
from bot.stack.supervisor import Program, Supervisor
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
        start_timeout=20,
        env={},
    )
    for folder in (isolated.run_dir, isolated.logs_dir):
        stack.private_folder(folder)
    supervisor = Supervisor(isolated)
    supervisor.ensure_running([Program(broken.name, broken.command, broken.env, start_seconds=1)])
    try:
        with pytest.raises(stack.StackError, match="boom: bad config"):
            stack.start(broken, isolated)
        # and the supervisor does not go on restarting it in the background
        assert supervisor.info("broken")["statename"] in ("STOPPED", "EXITED", "FATAL")
    finally:
        supervisor.shutdown()


def test_without_its_supervisor_a_component_cannot_start(isolated):
    rasa = next(c for c in stack.components(isolated) if c.name == "rasa")
    with pytest.raises(stack.StackError, match="tandem up"):
        stack.start(rasa, isolated)


def test_api_token_is_generated_once_and_private(isolated, monkeypatch):
    monkeypatch.delenv("TANDEM_RASA_TOKEN", raising=False)
    token = isolated.rasa_token
    assert len(token) >= 24 and isolated.rasa_token == token
    assert (isolated.home / "rasa-token").stat().st_mode & 0o077 == 0


def test_the_token_reaches_rasa_through_its_environment_as_one_argument(isolated, monkeypatch):
    # never on the command line (`ps` shows it to every user); and one argument with "=":
    # argparse read "--auth-token -x" as a missing value, and Rasa refused to start
    monkeypatch.setenv("TANDEM_RASA_TOKEN", "-Xy_z")
    rasa = next(c for c in stack.components(isolated) if c.name == "rasa")
    assert not any("-Xy_z" in argument for argument in rasa.command)
    assert rasa.env["TANDEM_RASA_TOKEN"] == "-Xy_z"
    assert launch.rasa_argv(["run", "--enable-api"], "-Xy_z") == [
        "rasa",
        "run",
        "--enable-api",
        "--auth-token=-Xy_z",
    ]


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


def test_waiting_for_the_warm_up_polls_the_voice_health_until_it_says_warm(isolated, monkeypatch):
    answers = iter([None, {"warm": False}, {"warm": False}, {"warm": True}])
    asked = []

    class Reply:
        def __init__(self, body):
            self.body = body

        def json(self):
            if self.body is None:
                raise ValueError("not JSON yet")  # the action server still starting
            return self.body

    def get(url, timeout):
        asked.append(url)
        return Reply(next(answers))

    monkeypatch.setattr(stack.requests, "get", get)
    monkeypatch.setattr(stack.time, "sleep", lambda seconds: None)
    settings = get_settings()
    assert stack.wait_until_warm(settings) >= 0
    assert asked == [f"{settings.actions_url}/health/voice"] * 4
    monkeypatch.setattr(stack.requests, "get", lambda url, timeout: Reply({"warm": False}))
    with pytest.raises(stack.StackError, match="warm-up did not end"):
        stack.wait_until_warm(settings, timeout=0.01)
