"""Every business area, loaded for what it registers with the layers below.

Areas register their order kinds (shared.commerce.checkout), how their orders
read in the money emails (shared.commerce.order_mail), the message kinds
they queue (shared.comms.templates) and their reports (shared.platform.reports); comms' own kinds (the emergency alert,
the promotion, the welcome) are loaded here too, for the same reason. No lower layer names an
area: the functions, the dev stack and the tests import this module instead.
Adding a business area means adding it here (ARCHITECTURE.md).
"""

from shared.chauffeur import messages as chauffeur_messages  # noqa: F401  reservation confirmed, driver on location
from shared.chauffeur import reports as chauffeur_reports  # noqa: F401  trip revenue, trips, commission
from shared.appointments import checkout as appointment_checkout  # noqa: F401  kind "appointments"
from shared.appointments import emails as appointment_emails  # noqa: F401  message kinds, order describer
from shared.appointments import reminders as appointment_reminders  # noqa: F401  reminder email and SMS
from shared.appointments import reports as appointment_reports  # noqa: F401  revenue, bookings, ratings ...
from shared.ticketing import checkout as ticket_checkout  # noqa: F401  kind "tickets" (the default)
from shared.ticketing import emails as ticket_emails  # noqa: F401  the tickets, order describer
from shared.parking import checkout as parking_checkout  # noqa: F401  kind "parking"
from shared.parking import messages as parking_messages  # noqa: F401  booking confirmed, amended, cancelled; order describer
from shared.member import subscriptions as member_subscriptions  # noqa: F401  tiers from Stripe's subscription events
from shared.commerce import transactions  # noqa: F401  the transactions report (every area's orders)
from shared.comms import alerts as emergency_alerts  # noqa: F401  the emergency alert, every area's audience
from shared.comms import campaigns as promotions  # noqa: F401  the promotion
from shared.comms import welcome  # noqa: F401  the welcome on a confirmed sign-up
