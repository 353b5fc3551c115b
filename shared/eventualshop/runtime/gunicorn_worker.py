"""gunicorn's threaded worker, whose own refusals are problems (``runtime.gunicorn_errors``).

``serve`` and the image's command name this class; loading it is what puts the problem answer
in place of gunicorn's HTML page.
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker

from eventualshop.runtime.gunicorn_errors import answer_as_problems

answer_as_problems()


class ProblemWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's ``gthread`` worker; its module makes gunicorn's own error answers problems."""
