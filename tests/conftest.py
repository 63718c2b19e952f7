"""Shared fixtures of the test suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from openai import OpenAI

from kimi_graph.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One K2.5 emulator (default config, free port) for the whole session."""
    with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture
def emulator_openai(emulator: Emulator) -> Callable[..., OpenAI]:
    """Factory of OpenAI clients pointed at the emulator: ``emulator_openai("vllm")``."""

    def make(dialect: str | None = None, **kwargs: object) -> OpenAI:
        kwargs.setdefault("max_retries", 0)
        return OpenAI(base_url=emulator.base_url(dialect), api_key="emulator", **kwargs)

    return make
