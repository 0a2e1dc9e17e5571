"""Pure domain rules: value objects, reference network, declarations. No I/O, no clock."""
