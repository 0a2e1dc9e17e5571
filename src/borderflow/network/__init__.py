"""The reference network: versioned snapshots, their file format and admin API."""
