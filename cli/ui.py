"""Terminal output: rich widgets on a terminal, plain lines everywhere else.

Piped output (CI logs, ``| tee``) must stay readable: no cursor movement, no
colour codes, a progress line at most every few seconds. Everything the user
must see on failure goes to stderr so ``rekbatch report > x`` never hides it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KB`` (decimal units, as S3 and rich use)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class Ui:
    """Where the CLI writes; decides between live widgets and plain lines once."""

    def __init__(
        self,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        *,
        interactive: bool | None = None,
        plain_interval: float = 5.0,
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.interactive = self.out.isatty() if interactive is None else interactive
        self.plain_interval = plain_interval
        self.console = Console(
            file=self.out,
            force_terminal=self.interactive,
            no_color=not self.interactive,
            highlight=False,
            soft_wrap=not self.interactive,
        )
        self._lock = threading.Lock()

    def line(self, text: str = "") -> None:
        """A plain line on stdout (never interpreted as rich markup)."""
        with self._lock:
            print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A plain line on stderr: a summary that must not mix with data on stdout."""
        with self._lock:
            print(text, file=self.err, flush=True)

    def warn(self, text: str) -> None:
        with self._lock:
            print(f"warning: {text}", file=self.err, flush=True)

    def error(self, text: str) -> None:
        with self._lock:
            print(f"error: {text}", file=self.err, flush=True)

    def progress(self, title: str, total_files: int, total_bytes: int | None) -> Meter:
        """A files/bytes/rate meter: a rich bar on a terminal, periodic lines otherwise."""
        if self.interactive:
            return RichMeter(self, title, total_files, total_bytes)
        return PlainMeter(self, title, total_files, total_bytes)


class Meter:
    """Counts files (and bytes) done; thread-safe; a context manager."""

    def __init__(self, ui: Ui, title: str, total_files: int, total_bytes: int | None) -> None:
        self.ui = ui
        self.title = title
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.files = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def advance(self, files: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.files += files
            self.bytes += nbytes
        self._update()

    def _update(self) -> None:  # pragma: no cover - overridden
        pass

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        text = f"{self.title}: {self.files}/{self.total_files} files"
        if self.total_bytes is not None:
            text += (
                f", {human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}"
                f", {human_bytes(self.bytes / elapsed)}/s"
            )
        else:
            text += f", {self.files / elapsed:.0f} files/s"
        return text + f", {elapsed:.1f} s"


class PlainMeter(Meter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last = self.started

    def _update(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.ui.plain_interval:
            self._last = now
            self.ui.line(self.summary())

    def close(self) -> None:
        self.ui.line(self.summary())


class RichMeter(Meter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
        columns.append(TextColumn("{task.fields[files]}"))
        if self.total_bytes is not None:
            columns += [DownloadColumn(), TransferSpeedColumn()]
        columns.append(TimeElapsedColumn())
        self._progress = Progress(*columns, console=self.ui.console, transient=False)
        total = self.total_bytes if self.total_bytes is not None else self.total_files
        self._task = self._progress.add_task(self.title, total=total or 1, files=self._files_text())
        self._progress.start()

    def _files_text(self) -> str:
        return f"{self.files}/{self.total_files} files"

    def _update(self) -> None:
        done = self.bytes if self.total_bytes is not None else self.files
        self._progress.update(self._task, completed=done, files=self._files_text())

    def close(self) -> None:
        self._update()
        self._progress.stop()


Sleeper = Callable[[float], None]
