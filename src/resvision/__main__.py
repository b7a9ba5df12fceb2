"""``python -m resvision`` runs the command line."""

from resvision.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
