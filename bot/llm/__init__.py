"""The one LLM layer: the model call, its error classification, the fence, ``<think>`` stripping.

Chat, discussion prompts and discussion summaries all talk to the model through
here, so a provider failure is classified the same way everywhere and untrusted
text is quoted through the same fence.
"""

from .client import LLM, MODERATION_MODEL, ONE_SHOT_DEADLINE, ModelStream, ToolCall
from .errors import ModelError, ProviderFailure, classify, is_context_length_error, log_failure
from .fence import FENCE_CLOSE, FENCE_OPEN, FENCE_RULE, fence, neutralize_fences, prompt_line
from .think import ThinkStripper, strip_think

__all__ = [
    "FENCE_CLOSE",
    "FENCE_OPEN",
    "FENCE_RULE",
    "LLM",
    "MODERATION_MODEL",
    "ONE_SHOT_DEADLINE",
    "ModelError",
    "ModelStream",
    "ProviderFailure",
    "ThinkStripper",
    "ToolCall",
    "classify",
    "fence",
    "is_context_length_error",
    "log_failure",
    "neutralize_fences",
    "prompt_line",
    "strip_think",
]
