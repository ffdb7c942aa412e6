import pytest

pytest_plugins = ["emulator.pytest_plugin"]


@pytest.fixture(autouse=True)
def _rekbatch_bugs_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in rekbatch fails the test with its traceback, instead of the one line
    and exit 70 a user gets (cli/errors.py); tests of that line unset it."""
    monkeypatch.setenv("REKBATCH_DEBUG", "1")
