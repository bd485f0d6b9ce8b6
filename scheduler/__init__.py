"""Scheduling: availability, slots, bookings that never double-book, durable jobs, notifications, calendars.

Pure logic (time-zone resolution, slots, the booking state machine, templates,
calendar rendering) lives in modules that import no I/O, so it is tested on its
own; the booking service, the job runner and the mailer join it to storage and
the bus. See docs/booking.md.
"""
