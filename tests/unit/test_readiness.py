"""Readiness published by two threads stays in step with its conditions."""

from __future__ import annotations

from scoring_service.readiness import Readiness


def test_a_callbacks_serving_does_not_outlast_the_condition_it_saw() -> None:
    conditions = {"ready": False}
    published: list[bool] = []
    readiness = Readiness(lambda: conditions["ready"], published.append)
    readiness.refresh()  # the main loop at start: not ready
    conditions["ready"] = True
    readiness.refresh()  # the directory's callback: partitions caught up
    conditions["ready"] = False  # then the store stops taking writes
    readiness.refresh()  # the main loop's next look
    assert published == [False, True, False]
    readiness.refresh()  # nothing changed: nothing published again
    assert published == [False, True, False]
