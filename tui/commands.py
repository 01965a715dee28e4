"""The command palette (`ctrl+p`): every screen and every action of the current screen by name.

Actions come from the screen's active bindings, so an action absent for a read-only identity is
absent here too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

NAVIGATION = (
    ("Go to Overview", "overview", "members, ledger height, my pending decisions, live events"),
    ("Go to Jobs", "jobs", "approval inbox, my requests, every job"),
    ("Go to Datasets", "datasets", "the catalog of registered datasets"),
    ("Go to Members & proposals", "members", "membership, proposals, votes"),
    ("Go to Audit", "audit", "trails of jobs, datasets, members; verify a result file"),
    ("Go to Identity", "identity", "who I am, my certificates"),
    ("Go to Multi-lender query", "query",
     "the query service's terms and servers; look an applicant up; my lookups; feed events"),
)


class AllianceCommands(Provider):
    """Screens and the current screen's actions, found by name."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        found: list[tuple[str, str, Callable[[], object]]] = [
            (title, help_text, partial(app.switch_mode, mode))
            for title, mode, help_text in NAVIGATION
        ]
        seen = {title for title, _, _ in found}
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not active.enabled or not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            found.append(
                (
                    binding.description,
                    f"key {key}" + (f" · {binding.tooltip}" if binding.tooltip else ""),
                    partial(self._run, active.node, binding.action),
                )
            )
        return found

    async def _run(self, node: object, action: str) -> None:
        await self.app.run_action(action, node)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
