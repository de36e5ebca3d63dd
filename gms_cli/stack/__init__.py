"""Local services started and stopped by pid (``gms stack``, integration tests)."""
