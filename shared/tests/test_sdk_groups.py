"""A partner may use only consumer groups that start with `<topic prefix>partner.<partner>.` (its ACL,
docs/partners.md "Connecting to Kafka"). The broker refuses any other with GroupAuthorizationFailed naming only the
group; the SDK says at once, before connecting, which groups are the partner's."""

from __future__ import annotations

import pytest
from lgnet_shared import sdk


@pytest.mark.parametrize(
    ("prefix", "group"),
    [
        ("", "coop-aurora-reader"),  # not under partner.<id>.
        ("", "partner.coop-borgo.rejections"),  # another partner's
        ("", "partner.coop-aurora."),  # the prefix alone names no group
        ("sandbox.", "partner.coop-aurora.rejections"),  # on a prefixed cluster the prefix comes first
    ],
)
async def test_a_group_that_is_not_the_partners_is_refused_naming_its_prefix(prefix: str, group: str) -> None:
    client = sdk.PartnerClient("127.0.0.1:1", partner="coop-aurora", city="torino", topic_prefix=prefix, x=1)
    assert client.group_prefix == f"{prefix}partner.coop-aurora."
    for feed in (client.rejections, client.reminders):
        with pytest.raises(ValueError, match=f"^group_id: '{group}' is not yours: .*'{prefix}partner.coop-aurora.'"):
            async for _ in feed(group_id=group, timeout=0.1):
                pass
