"""Erasure in the scoring service: ForgetContact/ForgetOwner, tombstones, their topic.

docs/decisions/0013-erasure.md; the tombstone itself is `vinculo.erasure`.
"""
