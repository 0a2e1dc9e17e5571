"""The scenario lab's runs asked for on its pages, stored in the database and run by a pool of
the background work (``borderflow worker``, or next to the API with
``BORDERFLOW_BACKGROUND=all``), never in the request: ``service.py`` the jobs' rows (submit,
claim under a lease, progress, outcome, who sees which), ``work.py`` what a job computes with
the scenario lab (and its results as stored), ``loop.py`` the pool."""
