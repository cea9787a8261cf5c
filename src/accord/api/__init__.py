"""The HTTP adapter over a running `accord.service.runtime.Service`."""
