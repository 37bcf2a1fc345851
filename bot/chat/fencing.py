"""Fencing untrusted text (member messages, comments, feed reviews) inside the prompt.

Whatever members or a feed wrote is quoted to the model as data. Each quotation
sits between an opening and a closing marker that name its source, and the
system prompt says that text inside the markers is never an instruction. For the
fence to mean anything, the quoted text must not be able to close it early or
open a fake one: any look-alike of the markers inside the text (any case, with
spaces or invisible characters slipped in) is defused, and labels are reduced
to one clean line.
"""

from __future__ import annotations

import re

from ..text import clean_text

__all__ = ["FENCE_CLOSE", "FENCE_OPEN", "fence", "neutralize_fences", "one_line"]

FENCE_OPEN = "<<<QUOTE"
FENCE_CLOSE = "<<<END QUOTE>>>"

_INVISIBLE = (
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff]"
)
_GAP = rf"(?:\s|{_INVISIBLE})*"
# Runs of angle brackets (ASCII or look-alikes) are what our markers are made of;
# every such run is turned into harmless guillemets, so no variant can pass for one.
_OPENERS = "<\uff1c\u3008\u27e8\u276e\u2329"
_CLOSERS = ">\uff1e\u3009\u27e9\u276f\u232a"
_ANGLE_RUN = re.compile(rf"[{_OPENERS}]{{2,}}|[{_CLOSERS}]{{3,}}")
_DEFUSE = str.maketrans(dict.fromkeys(_OPENERS, "‹") | dict.fromkeys(_CLOSERS, "›"))
# A lone "< QUOTE" / "<END QUOTE" style attempt (fewer brackets) is defused too.
_MARKER_WORD = re.compile(rf"<{_GAP}/?{_GAP}(?:end{_GAP})?quote", re.IGNORECASE)
# Role markers some chat templates use; quoted text must not start a new "turn".
_ROLE_MARKER = re.compile(r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>", re.I)


def neutralize_fences(text: str) -> str:
    """Defuse anything in ``text`` that could close or fake a quotation fence."""
    text = clean_text(text)
    text = _ANGLE_RUN.sub(lambda m: m.group().translate(_DEFUSE), text)
    text = _MARKER_WORD.sub(lambda m: "‹" + m.group()[1:], text)
    return _ROLE_MARKER.sub(lambda m: "‹|" + m.group()[2:-2] + "|›", text)


def one_line(text: str, limit: int = 120) -> str:
    """A label fit for a fence header: one line, no quotes or brackets, bounded length."""
    text = neutralize_fences(text)
    text = re.sub(r"[\r\n\t]+", " ", text)
    text = text.replace('"', "'").replace("<", "‹").replace(">", "›")
    text = re.sub(r"\s{2,}", " ", text).strip()
    return text[:limit]


def fence(kind: str, text: str, **labels: object) -> str:
    """Quote ``text`` as untrusted data of ``kind`` (e.g. "comment"), with one-line labels.

    >>> fence("comment", "hi", author="Ann")
    '<<<QUOTE kind="comment" author="Ann" untrusted="true">>>\\nhi\\n<<<END QUOTE>>>'
    """
    parts = [f'kind="{one_line(kind, 40)}"']
    for name, value in labels.items():
        if value is None or value == "":
            continue
        parts.append(f'{name}="{one_line(str(value))}"')
    parts.append('untrusted="true"')
    body = neutralize_fences(text).strip()
    return f"{FENCE_OPEN} {' '.join(parts)}>>>\n{body}\n{FENCE_CLOSE}"
