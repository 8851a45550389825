"""On-demand cost per million pledges in eu-west-3 (Paris) from the measured calls and units."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

REGION = "eu-west-3"
# List prices used, in USD, first usage tier, no free tier, x86 Lambda. Recorded from the AWS
# pricing pages as last known to the author (DynamoDB on-demand after the November 2024
# price cut); they could NOT be checked live for this run (the machine has no internet).
# Check them with the AWS Pricing Calculator before quoting the figure.
PRICES_USD = {
    "api_gateway_rest_per_million_requests": 3.71,
    "lambda_per_million_requests": 0.20,
    "lambda_per_gb_second": 0.0000166667,
    "dynamodb_per_million_write_request_units": 0.7423,
    "dynamodb_per_million_read_request_units": 0.1485,
}
PRICE_SOURCE = (
    "AWS list prices for eu-west-3 as last known (aws.amazon.com/api-gateway/pricing, "
    "/lambda/pricing, /dynamodb/pricing/on-demand; DynamoDB after the Nov 2024 cut); "
    "not verifiable live here: no internet"
)
LAMBDA_MEMORY_MB = 512
# Lambda gives a function one full vCPU at 1,769 MB and CPU in proportion below that, so
# CPU-bound work measured on one local core takes about this much longer at 512 MB.
LAMBDA_FULL_VCPU_MB = 1769
# In-region DynamoDB round trips (p50, assumed; moto answers in-process, so it cannot tell).
ASSUMED_DDB_LATENCY_MS = {
    "GetItem": 4.0,
    "BatchGetItem": 6.0,
    "UpdateItem": 6.0,
    "PutItem": 6.0,
    "DeleteItem": 6.0,
    "TransactWriteItems": 12.0,
    "Query": 6.0,
}
DEFAULT_LATENCY_MS = 6.0


@dataclass(frozen=True)
class CostBreakdown:
    region: str
    api_gateway: float
    lambda_requests: float
    lambda_duration: float
    dynamodb_writes: float
    dynamodb_reads: float
    api_lambda_ms: float
    stream_lambda_ms: float
    stream_invocations_per_pledge: float
    wru_per_pledge: float
    rru_per_pledge: float

    @property
    def total(self) -> float:
        return (
            self.api_gateway
            + self.lambda_requests
            + self.lambda_duration
            + self.dynamodb_writes
            + self.dynamodb_reads
        )

    @property
    def floor(self) -> float:
        """What no design can go under: the pledge's REST request and its Lambda request."""
        return self.api_gateway + PRICES_USD["lambda_per_million_requests"]

    def as_dict(self) -> dict[str, float | str]:
        data: dict[str, float | str] = dict(asdict(self))
        data["total"] = self.total
        data["floor"] = self.floor
        return data


def lambda_ms(compute_ms: float, calls_per_invocation: Mapping[str, float]) -> float:
    """Billed duration of one invocation: the app's own CPU time scaled to 512 MB, plus the
    DynamoDB round trips it waits for, one after the other."""
    cpu = compute_ms * LAMBDA_FULL_VCPU_MB / LAMBDA_MEMORY_MB
    waits = sum(
        n * ASSUMED_DDB_LATENCY_MS.get(op, DEFAULT_LATENCY_MS)
        for op, n in calls_per_invocation.items()
    )
    return cpu + waits


def per_million_pledges(
    *,
    api_compute_ms: float,
    api_calls_per_pledge: Mapping[str, float],
    stream_compute_ms: float,
    stream_calls_per_invocation: Mapping[str, float],
    stream_invocations_per_pledge: float,
    wru_per_pledge: float,
    rru_per_pledge: float,
) -> CostBreakdown:
    """USD per million pledges: API Gateway + Lambda (API and stream) + DynamoDB on-demand.

    Per pledge: 1 REST request; 1 API Lambda invocation and its GB-s; the stream trigger's
    share of invocations (one per batch) and GB-s; every WRU and RRU measured (API and
    stream paths, indexes included). Stream reads by a Lambda trigger are free; storage, data
    transfer and CloudWatch Logs are left out.
    """
    million = 1_000_000
    gb = LAMBDA_MEMORY_MB / 1024
    api_ms = lambda_ms(api_compute_ms, api_calls_per_pledge)
    stream_ms = lambda_ms(stream_compute_ms, stream_calls_per_invocation)
    invocations = 1 + stream_invocations_per_pledge
    gb_seconds = gb * (api_ms + stream_invocations_per_pledge * stream_ms) / 1000
    prices = PRICES_USD
    return CostBreakdown(
        region=REGION,
        api_gateway=prices["api_gateway_rest_per_million_requests"],
        lambda_requests=invocations * prices["lambda_per_million_requests"],
        lambda_duration=million * gb_seconds * prices["lambda_per_gb_second"],
        dynamodb_writes=wru_per_pledge * prices["dynamodb_per_million_write_request_units"],
        dynamodb_reads=rru_per_pledge * prices["dynamodb_per_million_read_request_units"],
        api_lambda_ms=api_ms,
        stream_lambda_ms=stream_ms,
        stream_invocations_per_pledge=stream_invocations_per_pledge,
        wru_per_pledge=wru_per_pledge,
        rru_per_pledge=rru_per_pledge,
    )
