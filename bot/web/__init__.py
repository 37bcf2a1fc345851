"""The web side: the public read API, live updates and the embeddable comments widget.

``app`` (aiohttp handlers and :class:`WebServer`), ``public`` (the public view of a
discussion and its rendering), ``hub`` (the change-log tailer and live fan-out),
``security`` (client address, rate limits, stream caps, CORS), ``consent`` (what
members are told), ``openapi`` (the API's description), ``static_export``
(``matinee export --all``), and ``static/embed.js`` (the widget).
"""
