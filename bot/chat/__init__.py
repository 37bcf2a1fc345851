"""The chat host: grounded, streamed, guarded conversations with an OpenAI-compatible model.

Services only (no discord.py types); the adapter lives in ``cogs/chat``.
"""

from .service import ChatReply, ChatRequest, ChatService, FallbackAnswer, Outcome
from .streaming import ReplyTarget, ThrottledEditor
from .tokens import TokenCounter

__all__ = [
    "ChatReply",
    "ChatRequest",
    "ChatService",
    "FallbackAnswer",
    "Outcome",
    "ReplyTarget",
    "ThrottledEditor",
    "TokenCounter",
]
