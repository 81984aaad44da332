"""Local mode: the whole pipeline on one machine, no AWS account (``sesame local``).

- :mod:`sesame.local.cfn`: CloudFormation YAML and the intrinsic functions local mode needs.
- :mod:`sesame.local.wiring`: the receipt rules of ``template.yaml``, checked and applied.
- :mod:`sesame.local.ses`: what SES receiving adds (message id, headers, the Lambda event).
- :mod:`sesame.local.smtp`: the SMTP listener standing in for SES receiving.
- :mod:`sesame.local.sender`: SES sending's checks, the outbox and the relay.
- :mod:`sesame.local.server`: the orchestration (moto, the real handler, one line a message).
- :mod:`sesame.local.send`: ``python -m sesame.local.send``, a test message in one command.

Only :mod:`sesame.local.send` works without the ``[local]`` extra (aiosmtpd, moto, PyYAML).
"""
