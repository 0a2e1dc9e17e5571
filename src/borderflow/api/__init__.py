"""HTTP plumbing shared by every feature: context, dependencies, errors, idempotency."""
