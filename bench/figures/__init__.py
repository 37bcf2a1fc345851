"""One module per figure of issue 7, in report order.

Each module defines ``NUMBER``, ``TITLE``, ``NOTES`` (method notes), ``PLANNED``
(the rows it reports: (row id, name, target), used to report a figure that
could not run as "not measured"), ``SIZES`` ({"full": ..., "smoke": ...}) and
``async def run(sizes: dict) -> list[Row]``.
"""

FIGURES = (
    "bench.figures.ingest",
    "bench.figures.autocomplete",
    "bench.figures.fanout",
    "bench.figures.chat",
    "bench.figures.feeds",
    "bench.figures.footprint",
    "bench.figures.web",
    "bench.figures.sandbox",
)
