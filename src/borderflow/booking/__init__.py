"""Bookings: slots at a gate, a trip's booking and queue position, and a vehicle's standing
(offences, the bar from booking they lead to, pardons)."""
