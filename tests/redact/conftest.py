"""Print the corpus figures in every test run that scored the corpus, not only with ``-s``."""

from __future__ import annotations

from typing import Any

#: Tables the corpus test stores for the terminal summary.
CORPUS_TABLES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CORPUS_TABLES:
        terminalreporter.section("redaction corpus")
        for table in CORPUS_TABLES:
            terminalreporter.write_line(table)
