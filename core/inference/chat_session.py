"""The interactive terminal chat behind ``tools/chat.py`` (rich console, streamed answers).

Commands: ``/image PATH`` and ``/points PATH`` attach an image or a point cloud (``.npy``) to the
conversation (its placeholder goes before the next message, as in LLaVA's CLI), ``/reset`` starts
over, ``/routing`` shows the experts and weights of the last answer per layer, ``/quit`` ends.
Images stay attached for the whole conversation; later turns see them through the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from octavius.inference.chat import stream_chat

__all__ = ["ChatSession", "routing_table"]

HELP = "Commands: /image PATH, /points PATH, /reset, /routing, /quit"


def routing_table(routing: Mapping[str, Any]) -> Table:
    """The routing of one answer: one row per layer."""
    table = Table(title="Routing of the last answer")
    table.add_column("layer")
    table.add_column("level")
    table.add_column("experts")
    table.add_column("weights")
    for layer, entry in routing.items():
        if entry["level"] == "token":
            usage = entry["usage"]
            experts = ", ".join(str(i) for i, u in enumerate(usage) if u > 0)
            weights = ", ".join(f"{u:.3f}" for u in usage if u > 0)
        else:
            experts = ", ".join(map(str, entry["experts"]))
            weights = ", ".join(f"{w:.3f}" for w in entry["weights"])
        table.add_row(layer, entry["level"], experts, weights)
    return table


class ChatSession:
    """One conversation with a model.

    Args:
        model: a :class:`~octavius.models.MultimodalLLM`.
        console: where prompts, answers and tables go.
        generation: generation settings for every answer.
        task: the task type of the conversation.
        read: reads one line of user input (``console.input`` by default).
    """

    def __init__(
        self,
        model: Any,
        console: Console,
        generation: Mapping[str, Any] | None = None,
        task: str = "conversation",
        read: Callable[[str], str] | None = None,
    ) -> None:
        self.model = model
        self.console = console
        self.generation = dict(generation or {})
        self.task = task
        self.read = read or console.input
        self.reset()

    def reset(self) -> None:
        """Forget the conversation, its images and point clouds."""
        self.history: list[dict[str, str]] = []
        self.images: list[str] = []
        self.point_clouds: list[str] = []
        self.last_routing: dict[str, Any] | None = None

    def _attach(self, kind: str, path: str) -> None:
        file = Path(path.strip()).expanduser()
        if not file.is_file():
            self.console.print(f"[red]no such file: {file}[/red]")
            return
        (self.images if kind == "image" else self.point_clouds).append(str(file))
        self.console.print(f"[green]{kind} attached:[/green] {file}")

    def command(self, line: str) -> bool:
        """Run a ``/command``; returns ``False`` when the session should end."""
        name, _, arg = line.partition(" ")
        if name in ("/quit", "/exit"):
            return False
        if name == "/image":
            self._attach("image", arg)
        elif name == "/points":
            self._attach("point cloud", arg)
        elif name == "/reset":
            self.reset()
            self.console.print("[yellow]conversation cleared[/yellow]")
        elif name == "/routing":
            if self.last_routing:
                self.console.print(routing_table(self.last_routing))
            else:
                self.console.print("[yellow]no routed answer yet[/yellow]")
        else:
            self.console.print(f"[red]unknown command {name}[/red]. {HELP}")
        return True

    def answer(self, message: str) -> str:
        """Stream the answer to ``message`` and add the exchange to the history."""
        pieces, wait = stream_chat(
            self.model,
            message,
            image=list(self.images) or None,
            point_cloud=list(self.point_clouds) or None,
            history=self.history,
            task=self.task,
            return_routing=True,
            **self.generation,
        )
        self.console.print("[bold cyan]assistant>[/bold cyan] ", end="")
        for piece in pieces:
            self.console.print(piece, end="", markup=False, highlight=False, soft_wrap=True)
        self.console.print()
        response = wait()
        self.history = response.history
        self.last_routing = response.routing
        return response.text

    def run(self) -> None:
        """Read, answer, repeat — until ``/quit`` or the end of the input."""
        self.console.print(HELP)
        while True:
            try:
                line = self.read("[bold green]you>[/bold green] ").strip()
            except (EOFError, KeyboardInterrupt):
                self.console.print()
                return
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    return
                continue
            try:
                self.answer(line)
            except (ValueError, FileNotFoundError) as err:
                self.console.print(f"[red]{err}[/red]")
