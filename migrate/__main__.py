"""Allow ``python -m migrate`` as a synonym for the ``exim2smtpd`` command."""

from migrate.cli import main

if __name__ == "__main__":
    main()
