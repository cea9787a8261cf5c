"""Accord: deconfliction for parties that share airspace but not a command.

The public surface for Python users: the client for a running service, the errors, and the
values a client sends and receives. Everything else is internal and may change.
"""

from accord.errors import AccordError

__version__ = "0.2.0"
__all__ = ["AccordError", "__version__"]
