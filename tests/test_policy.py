"""Channel permissions without a server: patterns, groups, namespaces, private channels."""

from __future__ import annotations

import pytest

from jupyter_realtime.errors import RealtimeError
from jupyter_realtime.policy import Policy, Rule
from jupyter_realtime.session import Identity

ALICE = Identity("alice")
BOB = Identity("bob", groups=frozenset({"staff"}))
CAROL = Identity("carol")
READER = Identity("reader", may_publish=False)


def test_the_default_lets_any_user_do_everything() -> None:
    policy = Policy()
    for action in ("subscribe", "publish", "history", "presence"):
        assert policy.allows(CAROL, action, "user:alice:x")
    assert policy.open


def test_jupyters_authorizer_without_write_forbids_publish_only() -> None:
    policy = Policy()
    assert not policy.allows(READER, "publish", "news")
    assert policy.allows(READER, "subscribe", "news")
    with pytest.raises(RealtimeError) as info:
        policy.authorize(READER, "publish", "news")
    assert info.value.code.value == "forbidden"
    assert info.value.message == "user 'reader' may not publish channel 'news'"


def test_personal_namespace_owner_publishes_others_read() -> None:
    policy = Policy(personal_prefix="user")
    assert policy.owner("user:alice") == "alice"
    assert policy.owner("user:alice:notes:today") == "alice"
    assert policy.owner("user:") is None and policy.owner("users:alice") is None
    assert policy.allows(ALICE, "publish", "user:alice:notes")
    assert policy.allows(ALICE, "publish", "user:alice")
    assert not policy.allows(BOB, "publish", "user:alice:notes")
    assert not policy.allows(BOB, "publish", "user:alice")
    for action in ("subscribe", "history", "presence"):
        assert policy.allows(BOB, action, "user:alice:notes")
    assert policy.allows(BOB, "publish", "general")


def test_rules_can_close_reading_of_personal_namespaces() -> None:
    policy = Policy([{"channels": "user:*", "read": []}], personal_prefix="user")
    assert not policy.allows(BOB, "subscribe", "user:alice:inbox")
    assert policy.allows(ALICE, "subscribe", "user:alice:inbox")


def test_private_channels_admit_only_listed_users_and_groups() -> None:
    policy = Policy(private={"team:*": ["alice", "group:staff"]})
    for action in ("subscribe", "publish", "history", "presence"):
        assert policy.allows(ALICE, action, "team:plans")
        assert policy.allows(BOB, action, "team:plans")  # through the staff group
        assert not policy.allows(CAROL, action, "team:plans")
    assert policy.allows(CAROL, "subscribe", "teams")


def test_group_mapping_from_configuration() -> None:
    policy = Policy([{"channels": "ops.*", "publish": ["group:ops"]}], groups={"ops": ["carol"]})
    assert policy.allows(CAROL, "publish", "ops.alerts")
    assert not policy.allows(ALICE, "publish", "ops.alerts")
    assert policy.allows(ALICE, "subscribe", "ops.alerts")  # the rule names publish only


def test_first_matching_rule_naming_the_action_decides() -> None:
    policy = Policy(
        [
            {"channels": "re:admin(:.*)?", "publish": ["alice"], "subscribe": ["alice", "bob"]},
            {"channels": "*", "publish": ["*"], "subscribe": ["alice"]},
        ],
        default=[],
    )
    assert policy.allows(BOB, "subscribe", "admin:x")
    assert not policy.allows(BOB, "publish", "admin")
    assert not policy.allows(BOB, "subscribe", "other")
    assert policy.allows(BOB, "publish", "other")
    assert not policy.allows(BOB, "history", "other")  # nobody by default


def test_patterns_match_whole_names() -> None:
    rule = Rule.from_config({"channels": "re:a.c", "read": ["*"]})
    assert rule.matches("abc") and not rule.matches("abcd")
    glob = Rule.from_config({"channels": "chat-?", "read": ["*"]})
    assert glob.matches("chat-1") and not glob.matches("chat-12")


@pytest.mark.parametrize(
    "spec",
    [
        {"read": ["*"]},
        {"channels": "x", "write": ["*"]},
        {"channels": "x", "publish": [1]},
        {"channels": "", "publish": ["*"]},
    ],
)
def test_bad_rules_are_refused_with_the_reason(spec: dict) -> None:
    with pytest.raises(ValueError):
        Rule.from_config(spec)


def test_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        Policy().allows(ALICE, "delete", "x")


def test_scope_principals_match_the_hub_scopes_an_identity_holds() -> None:
    rules = [{"channels": "class:*", "publish": ["scope:custom:realtime:announce"]}]
    policy = Policy(rules, default=["*"])
    ta = Identity("ta", scopes=frozenset({"custom:realtime:announce"}))
    own = Identity("dan", scopes=frozenset({"custom:realtime:announce!user=dan"}))
    other = Identity("eve", scopes=frozenset({"custom:realtime:announce!user=dan"}))
    assert policy.allows(ta, "publish", "class:main")
    assert policy.allows(own, "publish", "class:main")  # filtered to herself
    assert not policy.allows(other, "publish", "class:main")  # filtered to someone else
    assert not policy.allows(CAROL, "publish", "class:main")
    assert policy.allows(CAROL, "subscribe", "class:main")
