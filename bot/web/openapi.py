"""The read API's OpenAPI 3.0 description, served at ``/v1/openapi.json`` and tested with schemathesis."""

from __future__ import annotations

from typing import Any

from .. import __version__
from .public import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, SORTS

__all__ = ["MAX_COUNT_URLS", "MAX_URL_LENGTH", "SLUG_PATTERN", "openapi_document"]

MAX_URL_LENGTH = 2048
MAX_COUNT_URLS = 100
SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$"
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$"
REVIEW_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9._~-]{0,199}|[Hh][Tt][Tt][Pp][Ss]?://[^\s]+)$"

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What was wrong, in plain words."}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_URL_PARAM = {
    "name": "url",
    "in": "query",
    "description": "The blog post's address. Scheme, `www.`, a trailing slash, tracking parameters and the "
    "fragment are ignored when matching. Give `url` or `review`, not both.",
    "schema": {"type": "string", "minLength": 8, "maxLength": MAX_URL_LENGTH, "pattern": URL_PATTERN},
}
_REVIEW_PARAM = {
    "name": "review",
    "in": "query",
    "description": "The review, instead of `url`: its slug (the last segment of its post's address, e.g. "
    "`chungking-express`), a slug it had before, its numeric id, or its post's address.",
    "schema": {"type": "string", "pattern": REVIEW_PATTERN, "maxLength": MAX_URL_LENGTH},
}
_PAGING = [
    {
        "name": "sort",
        "in": "query",
        "description": "Order of top-level comments (replies are always oldest first). `top` ranks by reactions "
        "and replies.",
        "schema": {"type": "string", "enum": list(SORTS), "default": "oldest"},
    },
    {
        "name": "offset",
        "in": "query",
        "description": "How many top-level comments (threads) to skip.",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    },
    {
        "name": "limit",
        "in": "query",
        "description": "How many top-level comments (threads) to return, each with all its replies.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
]
_CACHE_HEADERS = {
    "ETag": {"description": "Validator; send it back as If-None-Match.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "Short max-age with stale-while-revalidate.", "schema": {"type": "string"}},
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag from an earlier response: 304 while nothing changed (anything else is ignored).",
    "schema": {"type": "string"},
}
_BAD_REQUEST = {
    "description": "A parameter is missing, repeated, unknown or malformed (JSON). A request whose line or "
    "headers are too long to parse (over 16 KB) is refused before it reaches the API, in plain text.",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}
_COMMON_ERRORS = {
    "400": _BAD_REQUEST,
    "404": _error(
        "No review is known at that address or slug, or it was withdrawn from the blog (its source was deleted; "
        "the error says so)."
    ),
    "429": _error("Too many requests from this address; see Retry-After."),
}

_COMMENT = {
    "type": "object",
    "required": ["id", "author", "content", "content_html", "created_at", "attachments", "reactions", "replies"],
    "properties": {
        "id": {
            "type": "string",
            "pattern": "^(?:[0-9]{1,20}|blog-[0-9]{1,20})$",
            "description": "The Discord message id, as a string; `blog-<n>` for a comment left on the blog.",
        },
        "source": {
            "type": "string",
            "enum": ["discord", "blog"],
            "description": "Where the comment was written: in the review's Discord thread, or on the blog.",
        },
        "url": {
            "type": "string",
            "nullable": True,
            "description": "Blog comments only: the comment's own address on the blog (its anchor).",
        },
        "author": {"type": "string", "description": "Display name at the time (never a user id)."},
        "content": {"type": "string", "description": "Markdown as written: untrusted, escape it."},
        "content_html": {"type": "string", "description": "The same, made safe: a fixed set of tags only."},
        "created_at": {"type": "string"},
        "edited_at": {"type": "string", "nullable": True},
        "attachments": {"type": "array", "items": {"type": "string"}},
        "reactions": {"type": "object", "additionalProperties": {"type": "integer"}},
        "replies": {"type": "array", "items": {"$ref": "#/components/schemas/Comment"}},
    },
}
_POLL = {
    "type": "object",
    "required": ["counts", "votes", "average", "final"],
    "properties": {
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "votes": {"type": "integer"},
        "average": {"type": "number", "nullable": True},
        "final": {"type": "boolean"},
    },
}
_RATING_SUMMARY = {
    "type": "object",
    "required": ["poll", "members"],
    "properties": {
        "poll": _POLL,
        "members": {
            "type": "object",
            "nullable": True,
            "properties": {"average": {"type": "number", "nullable": True}, "votes": {"type": "integer"}},
        },
    },
}
_DOCUMENT = {
    "type": "object",
    "required": ["format", "review", "rating_summary", "comment_count", "comments", "discussions", "seq", "page"],
    "properties": {
        "format": {"type": "string", "enum": ["matinee.comments/1"]},
        "generated_at": {"type": "string"},
        "review": {
            "type": "object",
            "required": ["id", "slug", "title"],
            "properties": {
                "id": {"type": "integer"},
                "slug": {"type": "string"},
                "title": {"type": "string"},
                "url": {"type": "string", "nullable": True},
                "author": {"type": "string", "nullable": True},
                "published_at": {"type": "string", "nullable": True},
                "film": {"type": "object"},
                "rating": {"type": "number", "nullable": True},
                "spoilers": {"type": "boolean"},
            },
        },
        "rating_summary": {"$ref": "#/components/schemas/RatingSummary"},
        "comment_count": {"type": "integer", "description": "Every public comment, replies included."},
        "participant_count": {"type": "integer"},
        "comments": {"type": "array", "items": {"$ref": "#/components/schemas/Comment"}},
        "discussions": {
            "type": "array",
            "description": "The review's Discord threads in servers that publish, with their invite.",
            "items": {
                "type": "object",
                "required": ["thread_url"],
                "properties": {
                    "server": {"type": "string", "nullable": True},
                    "thread_url": {"type": "string"},
                    "invite_url": {"type": "string", "nullable": True},
                },
            },
        },
        "seq": {"type": "integer", "description": "Change-log position: pass it as `since` to /v1/events."},
        "page": {
            "type": "object",
            "required": ["sort", "offset", "limit", "threads", "next_offset"],
            "properties": {
                "sort": {"type": "string", "enum": list(SORTS)},
                "offset": {"type": "integer"},
                "limit": {"type": "integer"},
                "threads": {"type": "integer", "description": "Top-level comments in all."},
                "next_offset": {"type": "integer", "nullable": True},
            },
        },
    },
}


def openapi_document(public_url: str) -> dict[str, Any]:
    """The OpenAPI description, with ``public_url`` as the server."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Matinee read API",
            "version": f"1 (Matinee {__version__})",
            "description": "Read-only access to a film blog's Discord discussions: the comments below each review, "
            "comment counts for index pages, and live updates. Only servers that publish and members who consented "
            "are shown; user ids never are. Every response carries an ETag and a short Cache-Control with "
            "stale-while-revalidate, so any HTTP cache in front can absorb a spike.",
        },
        "servers": [{"url": public_url.rstrip("/")}],
        "paths": {
            "/v1/comments": {
                "get": {
                    "operationId": "getComments",
                    "summary": "A review's public discussion as matinee.comments/1 JSON, paged by top-level comment.",
                    "parameters": [_URL_PARAM, _REVIEW_PARAM, *_PAGING, _IF_NONE_MATCH],
                    "responses": {
                        "200": {
                            "description": "The document.",
                            "headers": _CACHE_HEADERS,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Comments"}}},
                        },
                        "304": {"description": "Not modified since the ETag given.", "headers": _CACHE_HEADERS},
                        **_COMMON_ERRORS,
                    },
                }
            },
            "/v1/comments.html": {
                "get": {
                    "operationId": "getCommentsHtml",
                    "summary": "The same list as a script-free HTML snippet, for templates rendered on the server.",
                    "parameters": [_URL_PARAM, _REVIEW_PARAM, *_PAGING, _IF_NONE_MATCH],
                    "responses": {
                        "200": {
                            "description": 'A `<section class="matinee-comments">` fragment.',
                            "headers": _CACHE_HEADERS,
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        },
                        "304": {"description": "Not modified since the ETag given.", "headers": _CACHE_HEADERS},
                        **_COMMON_ERRORS,
                    },
                }
            },
            "/v1/counts": {
                "get": {
                    "operationId": "getCounts",
                    "summary": "Comment count and community rating of up to 100 posts, for index pages.",
                    "parameters": [
                        {
                            "name": "url",
                            "in": "query",
                            "required": True,
                            "style": "form",
                            "explode": True,
                            "description": "A post address; repeat the parameter for each post. One that is not "
                            "an http(s) post address maps to null, like an unknown post, so one bad link on an index "
                            "page never costs the others their counts.",
                            "schema": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_COUNT_URLS,
                                "items": {"type": "string", "maxLength": MAX_URL_LENGTH},
                            },
                        },
                        _IF_NONE_MATCH,
                    ],
                    "responses": {
                        "200": {
                            "description": "Each address as given, mapped to its numbers, or null when unknown.",
                            "headers": _CACHE_HEADERS,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Counts"}}},
                        },
                        "304": {"description": "Not modified since the ETag given.", "headers": _CACHE_HEADERS},
                        "400": _BAD_REQUEST,
                        "429": _COMMON_ERRORS["429"],
                    },
                }
            },
            "/v1/events": {
                "get": {
                    "operationId": "getEvents",
                    "summary": "Server-Sent Events for one review: `comment` (new or edited, as the public sees it), "
                    "`remove` (deleted, hidden or no longer consented), `rating`, `reload` (refetch the list), "
                    "`ready`. Each event's id is a change-log position: reconnecting with Last-Event-ID (or "
                    "`since`) resumes without a gap. A comment line is sent every 15 s as a heartbeat.",
                    "parameters": [
                        _URL_PARAM,
                        _REVIEW_PARAM,
                        {
                            "name": "since",
                            "in": "query",
                            "description": "Replay changes after this position (the `seq` of /v1/comments).",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 2**62},
                        },
                        {
                            "name": "Last-Event-ID",
                            "in": "header",
                            "required": False,
                            "description": "Set by the browser on reconnect; wins over `since`.",
                            "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
                        },
                    ],
                    "responses": {
                        "200": {"description": "The event stream.", "content": {"text/event-stream": {}}},
                        **_COMMON_ERRORS,
                        "503": _error("The server holds as many live connections as it takes: poll instead."),
                    },
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This description.",
                    "responses": {"200": {"description": "OpenAPI 3.0", "content": {"application/json": {}}}},
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "getHealth",
                    "summary": "For deploy checks: 200 while the server can read the database.",
                    "responses": {
                        "200": {
                            "description": "Healthy.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                        },
                        "503": _error("The database cannot be read."),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Comment": _COMMENT,
                "RatingSummary": _RATING_SUMMARY,
                "Comments": _DOCUMENT,
                "Counts": {
                    "type": "object",
                    "required": ["counts"],
                    "properties": {
                        "counts": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "nullable": True,
                                "required": ["comment_count", "rating"],
                                "properties": {
                                    "comment_count": {"type": "integer"},
                                    "rating": {
                                        "type": "object",
                                        "properties": {
                                            "average": {"type": "number", "nullable": True},
                                            "votes": {"type": "integer"},
                                        },
                                    },
                                },
                            },
                        }
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok"]},
                        "role": {"type": "string", "enum": ["bot", "standalone"]},
                        "version": {"type": "string"},
                        "seq": {"type": "integer"},
                    },
                },
            }
        },
    }
