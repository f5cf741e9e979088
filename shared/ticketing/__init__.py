"""Event ticketing: ticket orders, the ticket emails, and the AI event wizard."""
