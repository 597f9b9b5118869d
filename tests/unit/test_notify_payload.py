"""Wake-up payloads: a notice rides after a channel's name only where it can be split off again."""

from __future__ import annotations

import json

from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.store._base_sql import close_notice, close_notice_event
from temporalflow.store._dialects import NOTIFY_PAYLOAD_LIMIT, notify_payload, split_payload


def test_a_notice_round_trips_on_a_notice_kind():
    payload = notify_payload("closed:42", '[1,"x"]')
    assert payload == 'closed:42\n[1,"x"]'
    assert split_payload(payload) == ("closed:42", '[1,"x"]')


def test_other_kinds_never_carry_one_and_keep_any_name():
    # Task queue names are the user's: a newline in one must not be taken for a notice.
    assert notify_payload("wft:default:odd\nqueue", "x") == "wft:default:odd\nqueue"
    assert split_payload("wft:default:odd\nqueue") == ("wft:default:odd\nqueue", None)
    assert split_payload("closed:42") == ("closed:42", None)


def test_a_notice_too_long_for_pg_notify_is_left_out():
    fits = "x" * (NOTIFY_PAYLOAD_LIMIT - len("closed:1\n"))
    assert split_payload(notify_payload("closed:1", fits)) == ("closed:1", fits)
    assert notify_payload("closed:1", fits + "x") == "closed:1"
    assert notify_payload("closed:1", "é" * (NOTIFY_PAYLOAD_LIMIT // 2)) == "closed:1"  # bytes count, not chars


def test_close_notice_carries_the_closing_event_as_stored():
    text = json.dumps({"result": {"payloads": [{"metadata": {}, "data": "ImhpIg=="}]}})
    event = HistoryEvent(event_id=7, event_type=EventType.WORKFLOW_EXECUTION_COMPLETED, event_time=1796189912.967279,
                         attributes=json.loads(text))
    assert close_notice_event(close_notice(event, text)) == event


def test_anything_else_is_no_close_notice():
    not_closing = HistoryEvent(event_id=3, event_type=EventType.WORKFLOW_TASK_SCHEDULED, event_time=1.0,
                               attributes={})
    assert close_notice_event(close_notice(not_closing, "{}")) is None
    for bad in ("", "[", "[1,2]", '[1,"NoSuchEvent",1.0,{}]', '[1,"WorkflowExecutionCompleted",1.0,[]]', "{}"):
        assert close_notice_event(bad) is None
