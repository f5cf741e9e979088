"""Service appointments: booking, emails, calendar feeds, postcodes, reminders, reports, routing,
the staff portal and subscriptions."""
