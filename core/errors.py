"""The errors a user can act on. Each message says what is wrong and what to do about it."""

from __future__ import annotations


class AdaptlabError(Exception):
    """Base class: the CLI and dashboard show these messages as they are, without a traceback."""


class ConfigError(AdaptlabError):
    """The experiment config is malformed or asks for something impossible."""


class DataError(AdaptlabError):
    """The data cannot be used as given. `problems` holds one actionable sentence per problem."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(f"- {p}" for p in self.problems))


class ModelLoadError(AdaptlabError):
    """The base model could not be loaded safely (missing, not safetensors, remote code...)."""


class StoreError(AdaptlabError):
    """The results store refused an operation (e.g. a finished experiment's config was edited)."""


class ExperimentConflict(StoreError):
    """An experiment of this name is stored with other settings or data: its runs stay, a new name is needed."""


class StoreNotFound(StoreError):
    """A store opened only to read it does not exist (and was not created)."""


class Cancelled(BaseException):
    """Raised at a step boundary (core/cancel.py) or from a progress callback to stop a grid at once (a user
    pressed Cancel).

    A BaseException, like KeyboardInterrupt: an `except Exception` that turns one broken run (or one failed
    compilation, or one damaged file) into a record must not turn a cancel into a failed run. The runner lets it
    through; finished runs stay stored."""
