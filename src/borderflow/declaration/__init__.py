"""Pre-arrival declarations: create, read, list, amend before arrival, cancel, QR codes."""
