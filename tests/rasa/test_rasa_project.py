"""Rasa's own checks of the project: data validation and the test stories."""

from __future__ import annotations

import subprocess

from bot.core.settings import ROOT, Settings
from bot.stack.conversation_tests import run_stories

BRAND = Settings().brand

RASA = Settings().rasa_venv / "bin" / "rasa"
ENV = {"PATH": "/usr/bin:/bin", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_rasa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(RASA), *args], cwd=ROOT, capture_output=True, text=True, env=ENV)


def test_rasa_data_validate():
    result = run_rasa(
        "data",
        "validate",
        "--config",
        str(BRAND.config),
        "--domain",
        str(BRAND.domain),
        "--data",
        str(BRAND.data),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_story_tests_pass_with_no_prediction_error(model, tmp_path):
    result = run_stories(Settings(), model, tmp_path)
    assert result.total >= 17
    assert result.passed, f"Rasa test stories failed: {result.failed}\n{result.output}"


def test_domain_forms_have_a_submit_rule_and_validation():
    """Every form in the domain is wired: a generated rule set and a validation action."""
    import yaml

    forms = yaml.safe_load((BRAND.domain / "forms.yml").read_text())["forms"]
    rules = (BRAND.data / "rules" / "forms.yml").read_text()
    actions = yaml.safe_load((BRAND.domain / "core.yml").read_text())["actions"]
    for form in forms:
        assert f"'{form}: submit'" in rules
        assert f"validate_{form}" in actions
