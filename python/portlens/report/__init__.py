"""Reports: read results and findings, never engine internals.

``jsonfmt`` (JSON and JSON Lines; JSON Schemas in ``schemas/``; `portlens.load`), ``html`` (one
self-contained file from ``templates/``, Jinja2 with autoescape), ``markdown``, ``csvfmt``,
``context`` (what the HTML and Markdown reports show, gathered once), ``text`` (terminal summary),
``nmap_xml`` and ``naabu`` (other tools' formats).
"""
