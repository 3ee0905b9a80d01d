"""The commands' library API: convert, diff, check (and verify, in ``migrate.verify``).

Each takes the input path and one ``Options`` value and returns a value the
CLI prints; tests call these directly.
"""
