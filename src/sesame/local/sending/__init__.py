"""SES sending, emulated: an HTTP server speaking the SES v2 API (``SendEmail``, ``GetAccount``)
well enough for botocore, SES's checks on a message, the outbox, and delivery (optionally
relayed to a real SMTP server) reported per destination."""
