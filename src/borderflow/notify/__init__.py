"""Notifications: trip events written to an outbox in the event's transaction, then delivered
in-app, by SMS and by webhook after commit."""
