"""The daily bulletin exchanged with the partner side (docs/exchange.md)."""
