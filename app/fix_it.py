"""A fix-it: the steps that cure a failure, in words and as the shell commands that do them.

The commands are data kept beside the words, never parsed out of them: the banner's
*Copy command* once took every `quoted` word of the prose as a command, so
"join the `video` group" put a lone ``video`` into the pasted line and the run stopped
there. The prose may quote a command; only ``Step.command`` is ever run.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import LiveToonError

FIX_MARK = "; to fix it: "
"""Between a failure's reason and its fix in every message (the CLI prints it whole)."""


@dataclass(frozen=True)
class Step:
    """One step: what it does, and the command that does it ("" for a step no command does)."""

    what: str
    command: str = ""


@dataclass(frozen=True)
class FixIt:
    steps: tuple[Step, ...]

    @property
    def prose(self) -> str:
        """The steps in one sentence, each command quoted after what it does."""
        return ", then ".join(f"{step.what} (`{step.command}`)" if step.command else step.what for step in self.steps)

    @property
    def numbered(self) -> str:
        """The steps one per line, numbered, each command after what it does (for reading)."""
        return "\n".join(f"{n}. {step.what}" + (f":  {step.command}" if step.command else "")
                         for n, step in enumerate(self.steps, 1))

    @property
    def commands(self) -> list[str]:
        return [step.command for step in self.steps if step.command]

    @property
    def script(self) -> str:
        """The commands as one line that stops at the first failure (what *Copy command* copies)."""
        return " && ".join(self.commands)


class FixableError(LiveToonError):
    """A failure whose message ends with its fix; ``fix`` keeps the commands as data."""

    def __init__(self, reason: str, fix: FixIt) -> None:
        super().__init__(f"{reason}{FIX_MARK}{fix.prose}")
        self.fix = fix
