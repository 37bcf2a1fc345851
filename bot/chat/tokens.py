"""Counting tokens: tiktoken when its encoding is available offline, an estimate otherwise.

tiktoken downloads its BPE files on first use. Matinee never lets it: a bot must
not reach out to a third-party host behind the operator's back, and on a host
without internet that first use can fail or hang. The encoding is used only when
it is already in tiktoken's cache (``TIKTOKEN_CACHE_DIR``, read by tiktoken
itself; fill it once with ``python -c "import tiktoken; tiktoken.get_encoding('o200k_base')"``).
It is loaded once, in a daemon thread, with a short deadline. Until (or unless)
it loads, counts use a ~4 characters per token estimate, which is close enough
for packing a prompt into a budget with some headroom.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["TokenCounter", "estimate_tokens", "load_cached_encoding"]

log = logging.getLogger(__name__)

DEFAULT_ENCODING = "o200k_base"
LOAD_TIMEOUT_SECONDS = 2.0
# Each chat message costs a few tokens of framing (role, separators) beyond its text.
MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """The offline fallback: about four characters per token, rounded up."""
    return math.ceil(len(text) / 4) if text else 0


def load_cached_encoding(name: str) -> Any:
    """``tiktoken.get_encoding`` that reads tiktoken's cache and never downloads.

    tiktoken fetches a missing encoding through ``tiktoken.load.read_file``; making
    that refuse URLs (for this process, permanently) leaves only the cached copy.
    """
    import tiktoken
    import tiktoken.load

    original = tiktoken.load.read_file
    if not getattr(original, "__matinee_offline__", False):

        def read_local_only(blobpath: str) -> bytes:
            if "://" in blobpath:
                raise OSError(f"{blobpath} is not in tiktoken's cache, and Matinee does not download it")
            return original(blobpath)

        read_local_only.__matinee_offline__ = True  # type: ignore[attr-defined]
        tiktoken.load.read_file = read_local_only
    return tiktoken.get_encoding(name)


class TokenCounter:
    """Counts tokens for prompt packing; never blocks the event loop on a download.

    ``loader`` exists for tests; by default it is :func:`load_cached_encoding`.
    """

    def __init__(
        self,
        encoding_name: str = DEFAULT_ENCODING,
        *,
        loader: Callable[[str], Any] | None = None,
        timeout: float = LOAD_TIMEOUT_SECONDS,
    ) -> None:
        self.encoding_name = encoding_name
        self._loader = loader
        self._timeout = timeout
        self._encoding: Any = None
        self._started = False
        self._done = threading.Event()

    @property
    def exact(self) -> bool:
        """Whether counts come from tiktoken (True) or the estimate (False)."""
        return self._encoding is not None

    def start_loading(self) -> None:
        """Begin loading the encoding in the background (idempotent)."""
        if self._started:
            return
        self._started = True
        thread = threading.Thread(target=self._load, name="matinee-tiktoken", daemon=True)
        thread.start()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` (default: the load deadline) for the load attempt; True if exact."""
        self.start_loading()
        self._done.wait(self._timeout if timeout is None else timeout)
        return self.exact

    def _load(self) -> None:
        try:
            loader = self._loader or load_cached_encoding
            encoding = loader(self.encoding_name)
            encoding.encode("warm up")
            self._encoding = encoding
            log.info("token counting uses tiktoken (%s)", self.encoding_name)
        except Exception as exc:  # no network, no cache, no tiktoken: all mean "estimate"
            log.info("tiktoken encoding unavailable offline (%s); estimating tokens", type(exc).__name__)
        finally:
            self._done.set()

    def count(self, text: str) -> int:
        if not text:
            return 0
        encoding = self._encoding
        if encoding is not None:
            try:
                return len(encoding.encode(text, disallowed_special=()))
            except Exception:  # pragma: no cover - tiktoken rejecting odd input must not break chat
                return estimate_tokens(text)
        return estimate_tokens(text)

    def count_message(self, text: str) -> int:
        """Tokens one chat message costs, framing included."""
        return self.count(text) + MESSAGE_OVERHEAD
