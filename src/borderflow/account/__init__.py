"""Accounts: users and machine clients, roles, login, API keys."""
