"""exim2smtpd: migrate an exim 4 configuration to OpenSMTPD.

The package is a pipeline of stages, one module each: ``reader`` (exim text to a
source-located parse tree), then the policy model, rendering and the report.
Nothing here prints; the ``cli`` module is the only place that talks to a
terminal.
"""

__version__ = "0.1.0"
