"""The duty officer's console: a web page served by `accord serve` at `/`, same origin as the
API.

`site.py` wires the page, its static files, the API documentation page (`/docs`) and the
security headers into the FastAPI app; `settings.py` reads the deployment's `[console]`
settings (a tile URL of its own, if any). Everything the browser runs is in `static/`: plain
ES modules (`static/js/`) and the libraries' own distribution files, vendored with their
licenses and a checksum manifest (`static/vendor/`, refreshed by `scripts/console-vendor`).
Nothing here imports the service's internals: the page speaks only the public HTTP API.
"""
