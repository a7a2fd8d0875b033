"""Progress of a long import on the terminal: one bar per stage (读取 read, 检查 validate, 入库 store)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

# The pipeline's steps (``run_import(progress=…)``) grouped into the stages a user follows.
STAGE_OF = {"read": "read", "crs": "read", "normalise": "read", "validate": "validate", "store": "store"}
STAGE_LABEL = {"read": "读取 read", "validate": "检查 validate", "store": "入库 store"}
STEP_LABEL = {
    "read": "读取文件",
    "crs": "检查坐标系",
    "normalise": "字段映射",
    "validate": "几何、字段、河流与比例检查",
    "store": "写入数据库",
}


@contextmanager
def stage_progress(console: Console, *, enabled: bool) -> Iterator[Callable[[str], None]]:
    """Yield the callback a pipeline reports its steps to; on ``console`` a bar per stage when ``enabled``.

    Each stage's bar runs until the next stage starts, then stays with its time; nothing is drawn
    when disabled (``--quiet``, ``--json``, or off a terminal).
    """
    if not enabled:
        yield lambda _step: None
        return
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def finish(done: bool = True) -> None:
            """Stop the clock of every stage started so far, marking it done unless the import failed in it."""
            for task in tasks.values():
                if not bar.tasks[task].finished:
                    if done:
                        bar.update(task, total=1, completed=1)
                    bar.stop_task(task)

        def step(name: str) -> None:
            """Start (or name the current step of) the stage ``name`` belongs to."""
            stage = STAGE_OF.get(name, name)
            description = f"{STAGE_LABEL.get(stage, stage)}：{STEP_LABEL.get(name, name)}"
            if stage not in tasks:
                finish()
                tasks[stage] = bar.add_task(description, total=None)
            else:
                bar.update(tasks[stage], description=description)

        try:
            yield step
        except BaseException:
            finish(done=False)
            raise
        finish()
