"""The AWS stand-in: moto's server in a child process for S3, SSM, SQS and DynamoDB, the
clients the functions get (Sesame's own configuration, pointed at local endpoints), and
fault injection on those clients."""
