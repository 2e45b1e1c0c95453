"""dfget's progress bar (rich): bytes, rate and ETA on stderr; silent when disabled."""

from __future__ import annotations

# Types for mypy only: importing typing costs a CLI's start about 2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

    from rich.progress import Progress, TaskID


class ProgressView:
    def __init__(self, enabled: bool, name: str) -> None:
        self.enabled = enabled
        self.name = name
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressView:
        if self.enabled:
            # Imported only when shown: rich costs a fifth of dfget's start-up.
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.name, total=None)
        return self

    def start(self, total: int) -> None:
        if self._progress is not None and self._task is not None and total >= 0:
            self._progress.update(self._task, total=total)

    def update(self, completed: int, total: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=completed, total=total if total >= 0 else None
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
