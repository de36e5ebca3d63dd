"""The ``gms`` command line: one module per command group (``cmd_*.py``), discovered at start-up."""
