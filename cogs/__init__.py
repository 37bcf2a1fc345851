"""Discord-facing extensions, one per feature. Modules starting with ``_`` are helpers, not extensions."""
