"""The unsubscribe links' key: a generated secret, read by the API and the notifier only."""

from __future__ import annotations

from tests.infra.conftest import Synthesized
from tests.infra.test_iam import role_statements


def test_the_unsubscribe_key_is_a_generated_secret(stage: Synthesized) -> None:
    secret_id = stage.logical_id(stage.stack.unsubscribe_secret)
    properties = stage.properties(secret_id)
    assert properties["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in properties  # never a value from the repository
    retained = stage.json["Resources"][secret_id].get("DeletionPolicy") == "Retain"
    assert retained == stage.stack.stage.retain_data


def test_only_the_api_and_the_notifier_read_it_and_nothing_else(stage: Synthesized) -> None:
    secret_id = stage.logical_id(stage.stack.unsubscribe_secret)
    readers = {
        name for name in stage.stack.functions if "ReadSecrets" in role_statements(stage, name)
    }
    assert readers == {"api_handler", "notify_milestones"}
    for name in readers:
        statement = role_statements(stage, name)["ReadSecrets"]
        assert statement["Action"] == "secretsmanager:GetSecretValue"
        assert statement["Resource"] == {"Ref": secret_id}


def test_functions_are_told_where_the_secret_is(stage: Synthesized) -> None:
    secret_id = stage.logical_id(stage.stack.unsubscribe_secret)
    assert stage.stack.lambda_environment()["CROWDACT_UNSUBSCRIBE_SECRET_ARN"]
    functions = stage.resources("AWS::Serverless::Function") or stage.resources(
        "AWS::Lambda::Function"
    )
    assert functions
    for resource in functions.values():
        variables = resource["Properties"]["Environment"]["Variables"]
        assert variables["CROWDACT_UNSUBSCRIBE_SECRET_ARN"] == {"Ref": secret_id}
