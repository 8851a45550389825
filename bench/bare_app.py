"""A bare Chalice app that imports boto3: the cold-start baseline for crowdact's entry module."""

import boto3  # noqa: F401 - importing it is the point
from chalice import Chalice  # type: ignore[attr-defined]

app = Chalice(app_name="bare")
