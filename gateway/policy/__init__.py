"""Policy decisions: the ``PolicyEngine`` seam and its implementations."""

from gateway.policy.decision import Decision, FieldRule, PolicyEngine

__all__ = ["Decision", "FieldRule", "PolicyEngine"]
