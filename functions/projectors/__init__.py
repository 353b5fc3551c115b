"""Projectors written by hand: read models fed by another context's events (the declared ones,
fed by their own context's stream, are derived from the declarations)."""
