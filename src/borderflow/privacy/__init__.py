"""Personal data: retention (purge) and the data-subject export of a driver."""
