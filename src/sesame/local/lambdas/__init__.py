"""Lambda, emulated: a function's container (its handler module, one invocation at a time),
asynchronous invocation with retries and an on-failure destination, and the SQS event
source mapping that feeds the dead-letter function."""
