"""``sesame local``: the deployed stack on one machine, each part shaped like what it emulates.

- :mod:`sesame.local.receiving`: SES receiving: the SMTP front (``smtp``), the receipt rules
  (``rules``), the stored copy with SES's headers (``stored``), the Lambda event (``event``),
  and the transaction that ties them (``service``).
- :mod:`sesame.local.lambdas`: Lambda: a function's container (``function``), asynchronous
  invocation with retries and the on-failure record (``async_invoke``, ``records``), the SQS
  event source mapping that feeds the dead-letter function (``sqs_source``).
- :mod:`sesame.local.sending`: SES sending: the SES v2 API over HTTP (``api``, ``server``),
  SES's checks (``checks``), the outbox, delivery and the relay.
- :mod:`sesame.local.aws`: moto in a child process, the functions' clients, fault injection.
- :mod:`sesame.local.wiring`, :mod:`sesame.local.checks`, :mod:`sesame.local.cfn`: the template.
- :mod:`sesame.local.stack`: starts the parts and wires them; :mod:`sesame.local.tracker`
  follows each message to its final state; :mod:`sesame.local.state`: the state folder.
- :mod:`sesame.local.send`: ``python -m sesame.local.send``, a test message in one command.

Only :mod:`sesame.local.send` works without the ``[local]`` extra (aiosmtpd, moto, PyYAML).
"""
