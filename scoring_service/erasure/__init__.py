"""Erasure in the scoring service: ForgetContact/ForgetOwner, tombstones, their topic.

docs/decisions/0012-erasure.md; the tombstone itself is `vinculo.erasure`.
"""
