"""The command line of resvision (``resvision ...`` or ``python -m resvision ...``).

The only code of the package that parses arguments. See :func:`resvision.cli.main.main`.
"""
