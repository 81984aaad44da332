"""Thin adapters over boto3. Each takes its client as an argument."""
