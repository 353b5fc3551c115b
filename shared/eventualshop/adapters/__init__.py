"""Adapters: the kernel's ports made real on SQL databases (SQLite, PostgreSQL, MSSQL) and
MongoDB. Only the composition root (``eventualshop.runtime.root``) chooses among them; the
kernel's ports never import them."""
