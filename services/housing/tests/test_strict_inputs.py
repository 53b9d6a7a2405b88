"""Every JSON body field of housing's HTTP API refuses a value of another JSON type instead of converting it.
An outside test found money sent as `"300"` or `true`, a date sent as `0` and a flag sent as `"yes"` accepted;
docs/partners.md says an integer is a JSON integer and a date a `YYYY-MM-DD` string."""

from lgnet_housing.entrypoints.main import SPEC
from lgnet_shared.testing.strict_inputs import coerced_fields, unstarted_app


def test_every_body_field_refuses_values_of_another_json_type() -> None:
    assert coerced_fields(unstarted_app(SPEC)) == []
