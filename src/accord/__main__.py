"""`python -m accord` is `accord`."""

from accord.cli import app

app(prog_name="accord")
