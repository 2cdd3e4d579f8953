"""Console output shared by the commands: one rich console, one progress-bar style."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()


class Advance(Protocol):
    def __call__(self, done: int) -> None: ...


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Advance]:
    """A progress bar for long work; yields a callback taking the number done so far."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total)

        def advance(done: int) -> None:
            progress.update(task, completed=done)

        yield advance
        progress.update(task, completed=total)
