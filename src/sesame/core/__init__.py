"""The pure core: everything Sesame decides and rewrites, with no AWS in sight.

Nothing under this package imports boto3; adapters and handlers feed it data and
carry out what it returns.
"""
