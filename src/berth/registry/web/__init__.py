"""Server-rendered HTML for the registry's web page: templates only, no data access, no JavaScript.

May import: the standard library.
Entry points: ``templates.page``, ``templates.index_body``, ``templates.repo_body``, ``templates.login_body``.
"""
