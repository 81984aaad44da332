"""Sesame: a self-hosted email alias forwarder on Amazon SES."""

__version__ = "0.1.0"
