"""The stack's resources, created in the moto child as CloudFormation would create them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sesame.core.alias_config import AliasConfig, to_parameters
from sesame.local.cfn import LOCAL_ACCOUNT, Reference
from sesame.local.receiving.rules import S3Action
from sesame.local.wiring import Wiring


@dataclass
class CreatedResources:
    names: dict[str, str]  # logical id -> physical name (a queue's is its URL, as Ref gives it)
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    buckets: list[str]
    tables: list[str]


def create_bucket(s3: Any, name: str, region: str) -> None:
    """CreateBucket outside us-east-1 needs a LocationConstraint (S3 API reference, CreateBucket)."""
    request: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**request)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def create_resources(wiring: Wiring, aws: Any, *, time_scale: float) -> CreatedResources:
    """Buckets, queues (visibility timeouts scaled by ``time_scale``) and tables of ``wiring``."""
    names = dict(wiring.references)
    s3, sqs, dynamodb = aws.admin("s3"), aws.admin("sqs"), aws.admin("dynamodb")
    buckets: list[str] = []
    for logical_id, kind in wiring.resource_types.items():
        if kind == "AWS::S3::Bucket":
            create_bucket(s3, names[logical_id], wiring.region)
            buckets.append(names[logical_id])
    for rule in wiring.rules:
        for action in rule.actions:
            if isinstance(action, S3Action):
                bucket = bucket_name(action, names)
                if bucket not in buckets:
                    create_bucket(s3, bucket, wiring.region)
                    buckets.append(bucket)
    queue_urls: dict[str, str] = {}
    queue_arns: dict[str, str] = {}
    # Redrive targets first: a queue's RedrivePolicy names its target's ARN.
    ordered = sorted(wiring.queues.values(), key=lambda q: q.redrive_target is not None)
    for queue in ordered:
        attributes = {"VisibilityTimeout": str(max(0, round(queue.visibility_timeout * time_scale)))}
        if queue.redrive_target in queue_arns and queue.max_receive_count:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": queue_arns[queue.redrive_target], "maxReceiveCount": queue.max_receive_count}
            )
        url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
        queue_urls[queue.logical_id] = url
        queue_arns[queue.logical_id] = f"arn:aws:sqs:{wiring.region}:{LOCAL_ACCOUNT}:{queue.name}"
        names[queue.logical_id] = url  # Ref to a queue is its URL
    tables: list[str] = []
    for logical_id, kind in wiring.resource_types.items():
        if kind == "AWS::DynamoDB::Table":
            _create_table(dynamodb, names[logical_id], wiring.resources[logical_id])
            tables.append(names[logical_id])
    return CreatedResources(names, queue_urls, queue_arns, buckets, tables)


def bucket_name(action: S3Action, names: Mapping[str, str]) -> str:
    if isinstance(action.bucket, Reference):
        return names.get(action.bucket.resource, action.bucket.resource.lower())
    return str(action.bucket)


def _create_table(dynamodb: Any, name: str, resource: dict[str, Any]) -> None:
    props = resource.get("Properties") or {}
    keys = props.get("KeySchema")
    attributes = props.get("AttributeDefinitions")
    if not (isinstance(keys, list) and isinstance(attributes, list)):
        keys = [{"AttributeName": "id", "KeyType": "HASH"}]
        attributes = [{"AttributeName": "id", "AttributeType": "S"}]
    dynamodb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attributes, BillingMode="PAY_PER_REQUEST")


def write_aliases(ssm: Any, config: AliasConfig, path: str) -> None:
    """Make the SSM parameters under ``path`` exactly those of ``config``."""
    wanted = to_parameters(config, path)
    existing: list[str] = []
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True):
        existing.extend(p["Name"] for p in page["Parameters"])
    stale = [n for n in existing if n not in wanted]
    for i in range(0, len(stale), 10):
        ssm.delete_parameters(Names=stale[i : i + 10])
    for name, value in wanted.items():
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
