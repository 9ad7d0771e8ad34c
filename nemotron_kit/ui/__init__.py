"""``nemotron-kit ui``: a read-only web view of a registry, served locally or exported.

``site`` builds each page's JSON document through the registry's API, ``server`` serves them
with the page's own scripts (no CDN: it works offline), ``export`` writes them as a static site.
"""
