"""Film lookup services: catalog search, imports, TMDB, ratings and watchlists."""
