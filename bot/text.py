"""The one place that knows Discord's text limits and how to respect them.

Everything here is pure string manipulation (no discord.py import) so it can be
unit-tested in isolation and reused by commands, embeds, threads and modals.

Lengths are measured with ``len()``, i.e. in Unicode code points, which is what
Discord counts for message and embed limits. Because a cut can still produce
garbage a person would notice (half an emoji, a dangling ``**``, a broken link),
the helpers below cut only at "safe" positions:

* never between a base character and its combining marks / variation
  selectors, never next to a zero-width joiner, never inside a flag pair, never
  between the halves of a (bad-input) surrogate pair;
* never inside a Markdown link ``[text](url)``, a bare URL or a Discord token
  such as ``<@123>``, ``<:name:id>`` or ``<t:123:R>`` (the whole entity is dropped);
* Markdown markers left open by the cut are closed (or the cut moves before
  a marker that would be left with no content).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "AUTHOR_NAME",
    "AUTOCOMPLETE_CHOICES",
    "BUTTON_LABEL",
    "CHOICE_NAME",
    "CHOICE_VALUE",
    "EMBED_DESCRIPTION",
    "EMBED_FIELDS",
    "EMBED_TITLE",
    "EMBED_TOTAL",
    "FIELD_NAME",
    "FIELD_VALUE",
    "FOOTER",
    "HISTORY_PAGE",
    "INVISIBLE_CHARS",
    "MESSAGE_LIMIT",
    "MODAL_TITLE",
    "SELECT_OPTIONS",
    "SELECT_OPTION_DESCRIPTION",
    "SELECT_OPTION_LABEL",
    "SELECT_OPTION_VALUE",
    "SELECT_PLACEHOLDER",
    "TEXT_INPUT_LABEL",
    "TEXT_INPUT_PLACEHOLDER",
    "TEXT_INPUT_VALUE",
    "THREAD_NAME",
    "WEBHOOK_USERNAME",
    "clean_text",
    "embed_fits",
    "embed_length",
    "excerpt",
    "fit_embed",
    "neutralize_mentions",
    "one_line",
    "split_message",
    "star_rating",
    "truncate",
]

# --------------------------------------------------------------------------- limits
MESSAGE_LIMIT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_TOTAL = 6000
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR_NAME = 256
THREAD_NAME = 100
CHOICE_NAME = 100
CHOICE_VALUE = 100  # for string choices
AUTOCOMPLETE_CHOICES = 25
MODAL_TITLE = 45
TEXT_INPUT_LABEL = 45
TEXT_INPUT_PLACEHOLDER = 100
TEXT_INPUT_VALUE = 4000
SELECT_OPTIONS = 25
SELECT_OPTION_LABEL = 100
SELECT_OPTION_VALUE = 100
SELECT_OPTION_DESCRIPTION = 100
SELECT_PLACEHOLDER = 150
BUTTON_LABEL = 80
WEBHOOK_USERNAME = 80  # the name a webhook message is posted under (1–80)
HISTORY_PAGE = 100  # messages per channel-history request, at most

ELLIPSIS = "…"
ZWSP = "\u200b"

# Fraction of the limit within which a word boundary is preferred over a hard cut.
_WORD_WINDOW = 0.2

# --------------------------------------------------------------------------- entities
# Things that must be kept whole or dropped whole: a half link or half mention is
# worse than none (it renders as junk or, for URLs, points somewhere else).
_ENTITY_RE = re.compile(
    r"""
      \[[^\[\]\n]*\]\(<?[^()\s]*(?:\([^()\s]*\)[^()\s]*)*>?\)   # [text](url)
    | <(?:@[!&]?\d+|\#\d+|a?:\w+:\d+|t:-?\d+(?::[tTdDfFR])?|/[\w -]+:\d+|id:\w+|https?://[^\s>]+)>
    | https?://[^\s<>]+                                       # bare URL
    """,
    re.VERBOSE,
)


def _entity_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _ENTITY_RE.finditer(text)]


def _inside_entity(spans: list[tuple[int, int]], i: int) -> tuple[int, int] | None:
    for start, end in spans:
        if start < i < end:
            return start, end
        if start >= i:
            break
    return None


# --------------------------------------------------------------------------- graphemes
_ZWJ = "\u200d"


def _is_extender(ch: str) -> bool:
    """True for code points that belong to the preceding character's grapheme."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # emoji tag sequences (subdivision flags)
        or 0xDC00 <= cp <= 0xDFFF  # low surrogate (bad input): keep with its high half
        or 0x1160 <= cp <= 0x11FF  # Hangul medial vowel / final consonant jamo join the syllable
        or 0xD7B0 <= cp <= 0xD7FF
        or ch == _ZWJ
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _grapheme_safe(text: str, i: int) -> bool:
    """Whether cutting ``text`` before index ``i`` keeps every grapheme whole (cheap heuristic)."""
    if i <= 0 or i >= len(text):
        return True
    prev, cur = text[i - 1], text[i]
    if _is_extender(cur) or prev == _ZWJ:
        return False
    if prev == "\r" and cur == "\n":
        return False
    if _is_regional_indicator(cur) and _is_regional_indicator(prev):
        run = 0
        j = i - 1
        while j >= 0 and _is_regional_indicator(text[j]):
            run += 1
            j -= 1
        return run % 2 == 0
    return True


def _safe_cut(text: str, i: int, spans: list[tuple[int, int]] | None = None) -> int:
    """Largest index ``<= i`` where the text can be cut without breaking a grapheme or entity."""
    if spans is None:
        spans = _entity_spans(text)
    i = max(0, min(i, len(text)))
    while i > 0:
        ent = _inside_entity(spans, i)
        if ent is not None:
            i = ent[0]
            continue
        if not _grapheme_safe(text, i):
            i -= 1
            continue
        break
    return i


def _cut_is_safe(text: str, i: int, spans: list[tuple[int, int]]) -> bool:
    return _inside_entity(spans, i) is None and _grapheme_safe(text, i)


# --------------------------------------------------------------------------- markdown
@dataclass
class _Marker:
    kind: str  # "```", "``", "`", "**", "__", "~~", "||", "*", "_"
    pos: int  # index of the marker in the text
    content_start: int  # where the marked content begins
    lang: str = ""  # code fence language


_CODE_KINDS = ("```", "``", "`")
_TOKEN_RE = re.compile(r"\\[\\`*_~|]|```|``|`|\*\*|__|~~|\|\||\*|_")
_FENCE_LANG_RE = re.compile(r"([A-Za-z0-9_+#.\-]+)?\n")


def _open_markers(text: str) -> list[_Marker]:
    """Markdown markers still open at the end of ``text`` (outermost first).

    A heuristic model of Discord's Markdown: code spans/fences swallow everything
    until their closing marker; emphasis openers must be followed by a non-space and
    closers preceded by one (so ``2 * 3`` is not italics); a single ``_`` between
    two word characters (``snake_case``) is literal.
    """
    stack: list[_Marker] = []
    i, n = 0, len(text)
    while i < n:
        top = stack[-1] if stack else None
        if top is not None and top.kind in _CODE_KINDS:
            j = text.find(top.kind, max(i, top.content_start))
            if j < 0:
                break
            stack.pop()
            i = j + len(top.kind)
            continue
        m = _TOKEN_RE.search(text, i)
        if m is None:
            break
        tok, start, i = m.group(), m.start(), m.end()
        if tok.startswith("\\"):
            continue
        if tok in _CODE_KINDS:
            content_start = i
            lang = ""
            if tok == "```":
                fm = _FENCE_LANG_RE.match(text, i)
                if fm:
                    lang = fm.group(1) or ""
                    content_start = fm.end()
            stack.append(_Marker(tok, start, content_start, lang))
            continue
        before = text[start - 1] if start > 0 else " "
        after = text[i] if i < n else " "
        if tok == "_" and before.isalnum() and after.isalnum():
            continue
        open_idx = next((k for k in range(len(stack) - 1, -1, -1) if stack[k].kind == tok), None)
        if open_idx is not None and (tok == "||" or not before.isspace()):
            del stack[open_idx]
        elif tok == "||" or not after.isspace():
            stack.append(_Marker(tok, start, i))
    return stack


def _closers(text: str, markers: list[_Marker]) -> str:
    out = []
    for mk in reversed(markers):
        if mk.kind == "```":
            out.append("```" if text.endswith("\n") else "\n```")
        else:
            out.append(mk.kind)
    return "".join(out)


def _reopeners(markers: list[_Marker]) -> str:
    return "".join(f"```{mk.lang}\n" if mk.kind == "```" else mk.kind for mk in markers)


def _balance(head: str, ellipsis: str) -> str:
    """Close every Markdown marker left open in ``head``, cutting before empty ones."""
    while True:
        head = head.rstrip()
        markers = _open_markers(head)
        empty = next((mk for mk in markers if not head[mk.content_start :].strip()), None)
        if empty is None:
            break
        head = head[: empty.pos]
    if not head:
        return ellipsis
    return head + ellipsis + _closers(head + ellipsis, markers)


# --------------------------------------------------------------------------- truncate
def _prefer_word_boundary(text: str, cut: int, spans: list[tuple[int, int]]) -> int:
    """Move ``cut`` back to the last whitespace within the final 20% of the kept text."""
    if cut >= len(text) or text[cut].isspace():
        return cut
    floor = max(1, int(cut * (1 - _WORD_WINDOW)))
    for j in range(cut - 1, floor - 1, -1):
        if text[j].isspace() and _cut_is_safe(text, j, spans):
            return j
    return cut


def truncate(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """Shorten ``text`` to at most ``limit`` code points, without visible breakage.

    Returns ``text`` unchanged when it already fits. Otherwise the result ends with
    ``ellipsis`` (dropped if the limit cannot even hold it), is cut at a word
    boundary when one lies within the last ~20% of the limit, never splits a
    grapheme, a link/URL or a ``<...>`` Discord token (the entity is dropped
    whole) and closes any Markdown marker (``**``, ``||``, code fences, ...) that
    the cut left open, so the tail of a message can't turn the rest of a
    Discord embed bold or into a spoiler.
    """
    if limit < 0:
        raise ValueError("limit must be >= 0")
    if len(text) <= limit:
        return text
    if len(ellipsis) >= limit:
        ellipsis = ""
    spans = _entity_spans(text)
    budget = limit - len(ellipsis)
    while budget > 0:
        cut = _safe_cut(text, budget, spans)
        cut = _prefer_word_boundary(text, cut, spans)
        result = _balance(text[:cut], ellipsis)
        if len(result) <= limit:
            return result
        budget -= max(1, len(result) - limit)
    return ellipsis


_SENTENCE_END_RE = re.compile(r"[.!?…。！？][\"'”’)\]*_|~]*(?=\s)")


def excerpt(text: str, target: int = 300) -> str:
    """A preview of about ``target`` code points, for embeds and summaries.

    Cuts after the last full sentence that ends in the back half of the window,
    so previews read naturally; such a cut keeps the sentence's own punctuation
    and adds no ellipsis. Without a sentence end in the window it falls back to
    :func:`truncate` (word boundary + ellipsis). Whitespace runs are collapsed
    first because previews are single blocks of prose.
    """
    text = re.sub(r"[ \t]+", " ", text).strip()
    if len(text) <= target:
        return text
    spans = _entity_spans(text)
    window_start = target // 2
    best = None
    for m in _SENTENCE_END_RE.finditer(text, 0, target + 1):
        if m.end() >= window_start and _cut_is_safe(text, m.end(), spans):
            best = m.end()
    if best is not None:
        result = _balance(text[:best], "")
        if len(result) <= target:
            return result
    return truncate(text, target)


# --------------------------------------------------------------------------- split
_PARAGRAPH_RE = re.compile(r"\n\s*\n")
_LINE_RE = re.compile(r"\n")
_SENTENCE_SPLIT_RE = re.compile(r"[.!?…][\"'”’)\]]*\s")
_WORD_RE = re.compile(r"\s")


def _split_candidates(text: str, budget: int) -> list[int]:
    """Candidate cut indices (best first): paragraph, line, sentence, word boundaries."""
    window = text[: budget + 1]
    floor = max(1, budget // 4)  # don't make absurdly small chunks if avoidable
    out: list[int] = []
    for regex in (_PARAGRAPH_RE, _LINE_RE, _SENTENCE_SPLIT_RE, _WORD_RE):
        ends = [m.start() if regex is not _SENTENCE_SPLIT_RE else m.end() - 1 for m in regex.finditer(window)]
        out.extend(sorted((e for e in ends if floor <= e <= budget), reverse=True))
    return out


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split a long answer into Discord messages of at most ``limit`` code points.

    Prefers paragraph, then line, then sentence, then word boundaries, and only
    hard-cuts (at a grapheme/entity-safe spot) as a last resort. A code fence or
    spoiler (or other Markdown marker) that spans a cut is closed at the end of
    the chunk and reopened, with the same fence language, at the start of the
    next one, so every chunk renders on its own. Whitespace-only chunks are never
    produced.
    """
    if limit < 16:
        raise ValueError("limit too small to split Markdown safely")
    chunks: list[str] = []
    rest = text.strip("\n")
    prefix_len = 0  # length of reopeners at the start of ``rest``
    while rest.strip():
        if len(rest) <= limit:
            chunks.append(rest)
            break
        spans = _entity_spans(rest)
        budget = limit
        chosen: tuple[str, str] | None = None
        while chosen is None and budget > prefix_len:
            candidates = _split_candidates(rest, budget)
            hard = _safe_cut(rest, budget, spans)
            for cut in [*candidates, hard]:
                if cut <= prefix_len or not _cut_is_safe(rest, cut, spans):
                    continue
                head = rest[:cut].rstrip()
                markers = _open_markers(head)
                if any(not head[mk.content_start :].strip() for mk in markers):
                    continue  # would leave an empty code block / spoiler
                chunk = head + _closers(head, markers)
                if len(chunk) > limit or not head[prefix_len:].strip():
                    continue
                tail = rest[cut:]
                tail = tail.lstrip("\n") if markers and markers[-1].kind == "```" else tail.lstrip()
                chosen = (chunk, _reopeners(markers) + tail)
                prefix_len = len(_reopeners(markers))
                break
            else:
                budget -= max(8, limit // 20)
        if chosen is None:  # pathological input: plain hard cut
            cut = _safe_cut(rest, limit, []) or limit
            chosen = (rest[:cut], rest[cut:])
            prefix_len = 0
        chunk, rest = chosen
        if chunk.strip():
            chunks.append(chunk)
    return chunks


# --------------------------------------------------------------------------- safety
# Characters that render as nothing: soft hyphen, zero-width and joiner controls,
# bidi marks, Mongolian and Hangul fillers, variation selectors, BOM. Someone may
# slip them inside a mention (or a prompt fence marker, see bot.llm.fence) to dodge
# naive filters. A regex character class; the one list of them in the tree.
INVISIBLE_CHARS = (
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_INV = f"(?:{INVISIBLE_CHARS})*"


def _spaced_word(word: str) -> str:
    return _INV.join(re.escape(ch) for ch in word)


_MASS_MENTION_RE = re.compile(rf"@{_INV}(?P<word>{_spaced_word('everyone')}|{_spaced_word('here')})", re.IGNORECASE)
_ID_MENTION_RE = re.compile(rf"<{_INV}@{_INV}(?P<kind>[!&]?){_INV}(?P<id>\d+){_INV}>")
_INVISIBLE_RE = re.compile(INVISIBLE_CHARS)


def neutralize_mentions(text: str) -> str:
    """Defuse ``@everyone``, ``@here``, ``<@id>``, ``<@!id>`` and ``<@&id>`` in display text.

    Defence in depth: the bot also sends ``AllowedMentions.none()``, but text may be
    copied, logged or re-sent by something that doesn't. Each mention is rewritten
    to a canonical defused form with one zero-width space right after the ``@``
    (``@\\u200beveryone``, ``<@\\u200b123>``).

    Variants already containing invisible characters (``@ever\\u200byone``) do not
    ping in Discord today, but a client or sanitiser that strips invisibles would
    turn them live again; so they are matched too (case-insensitively) and
    rewritten to the same canonical form. The function is idempotent.
    """

    def mass(m: re.Match[str]) -> str:
        return "@" + ZWSP + _INVISIBLE_RE.sub("", m.group("word"))

    def by_id(m: re.Match[str]) -> str:
        return f"<@{ZWSP}{m.group('kind')}{m.group('id')}>"

    return _ID_MENTION_RE.sub(by_id, _MASS_MENTION_RE.sub(mass, text))


_UNSAFE_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Sanitise untrusted input (user prompts, feed titles, model output) before display.

    Removes NUL and other C0 control characters (keeping tab, LF and CR) and the
    bidi embedding/override/isolate controls U+202A-U+202E and U+2066-U+2069, which
    can visually reorder text to disguise links or names ("Trojan Source"). Lone
    surrogates, which can't be encoded to UTF-8 for the API, become U+FFFD.
    Zero-width joiners are kept: emoji sequences need them.
    """
    return _LONE_SURROGATE_RE.sub("\ufffd", _UNSAFE_CHARS_RE.sub("", text))


def star_rating(rating: float | None) -> str:
    """★★★½ for 3.5; half stars are shown as ½ (the Letterboxd convention). Rounds to half steps.

    Reviews, discussion prompts and film cards all show ratings this one way.
    """
    if rating is None:
        return ""
    halves = round(rating * 2)
    return "★" * (halves // 2) + ("½" if halves % 2 else "") or "½"


def one_line(text: str) -> str:
    """``clean_text``, then every run of whitespace (newlines too) as one space, ends trimmed.

    For titles, names and other fields shown on a single line (thread names, poll questions).
    """
    return " ".join(clean_text(text).split())


# --------------------------------------------------------------------------- embeds
Field = tuple[str, str]


def embed_length(title: str, description: str, fields: list[Field], footer: str = "", author: str = "") -> int:
    """Characters Discord counts toward the 6000 total of one embed."""
    return len(title) + len(description) + sum(len(n) + len(v) for n, v in fields) + len(footer) + len(author)


def embed_fits(title: str, description: str, fields: list[Field], footer: str = "", author: str = "") -> bool:
    """Whether an embed with these parts passes every Discord length limit."""
    return (
        len(title) <= EMBED_TITLE
        and len(description) <= EMBED_DESCRIPTION
        and len(fields) <= EMBED_FIELDS
        and all(len(n) <= FIELD_NAME and len(v) <= FIELD_VALUE for n, v in fields)
        and len(footer) <= FOOTER
        and len(author) <= AUTHOR_NAME
        and embed_length(title, description, fields, footer, author) <= EMBED_TOTAL
    )


def fit_embed(
    title: str,
    description: str,
    fields: list[Field],
    footer: str = "",
    author: str = "",
) -> tuple[str, str, list[Field], str, str]:
    """Make embed parts fit Discord's limits instead of getting a 400 from the API.

    Applies each per-part limit (extra fields beyond 25 are dropped; blank field
    names/values become a zero-width space since Discord rejects empty ones), then,
    while the 6000-character total is exceeded, shrinks the description first,
    then shortens the last field's value or drops the last field. Title, footer
    and author together can't exceed the total, so they are never trimmed further.
    """
    title = truncate(title, EMBED_TITLE)
    description = truncate(description, EMBED_DESCRIPTION)
    footer = truncate(footer, FOOTER)
    author = truncate(author, AUTHOR_NAME)
    fitted: list[Field] = [
        (truncate(n, FIELD_NAME) if n.strip() else ZWSP, truncate(v, FIELD_VALUE) if v.strip() else ZWSP)
        for n, v in fields[:EMBED_FIELDS]
    ]
    while (over := embed_length(title, description, fitted, footer, author) - EMBED_TOTAL) > 0:
        if description:
            description = truncate(description, max(0, len(description) - over))
            if len(description) <= 1:  # nothing but an ellipsis left
                description = ""
            continue
        name, value = fitted[-1]
        if len(value) - over >= 32:
            fitted[-1] = (name, truncate(value, len(value) - over))
        else:
            fitted.pop()
    return title, description, fitted, footer, author
