# Sphinx configuration of the docs site (`make site`, scripts/site.py): the committed notebooks with their outputs, never executed,
# the API from the docstrings, the README and the guide's pages (guide/), and the last report when there is one. Built offline.
project = 'vgg_report'
author = 'vgg_report developers'
copyright = '2026 onwards, vgg_report developers'
extensions = ['myst_nb', 'sphinx.ext.autodoc']
nb_execution_mode = 'off'                  # the notebooks are committed executed: their outputs are the documentation
nb_ipywidgets_js = {}                      # no widget loader from a CDN: every page works offline
myst_heading_anchors = 3                   # the README's and the guide's `#section` links
autodoc_member_order = 'bysource'
autodoc_typehints = 'none'                 # the signatures keep the docments' comments readable
html_theme = 'furo'
html_title = 'vgg_report'
html_static_path = []
html_favicon = 'favicon.svg'             # without one the browser asks for /favicon.ico, a 404 in its console
exclude_patterns = ['_build']
suppress_warnings = ['myst.header', 'misc.highlighting_failure']   # notebooks start at a level-1 title and may skip levels

import re

def _markdown_docstring(app, what, name, obj, options, lines):
    "The package's docstrings are Markdown (nbdev's): `code` becomes an RST literal, and * | _ \\ elsewhere stay plain characters."
    for i, line in enumerate(lines):
        parts = re.split(r'(`[^`]+`)', line)
        for j, p in enumerate(parts):
            if j % 2 == 0: parts[j] = re.sub(r'([\\*|_])', r'\\\1', p)
            else:                                                       # a literal touching a word (`UserError`s) needs `\ ` in RST
                parts[j] = ('\\ ' if parts[j - 1][-1:].isalnum() else '') + f'``{p[1:-1]}``' + ('\\ ' if parts[j + 1][:1].isalnum() else '')
        lines[i] = ''.join(parts)

def setup(app): app.connect('autodoc-process-docstring', _markdown_docstring)
