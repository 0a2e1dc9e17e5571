"""Statistics, reports, targets, daily situation reports and imported history."""
