"""The ``openft`` command line; see :mod:`sdk.cli.main`."""
