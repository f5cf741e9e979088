"""The transactions report: an org's payments and refunds (every order kind, every provider) as JSON or
CSV through functions/reports (`/transactions?org_id&from&to[&group=stripe|paypal]`), for its owners and
admins. A signed-in buyer reads their own with the public.my_transactions RPC. The rows and the reach are
Postgres' (routines/commerce/transactions.sql)."""

from shared.platform import reports

reports.register("transactions", reports.Report({
    None: "select * from public.org_transactions(%s, %s, %s)",
    "stripe": "select * from public.org_transactions(%s, %s, %s, only_provider => 'stripe')",
    "paypal": "select * from public.org_transactions(%s, %s, %s, only_provider => 'paypal')",
}, None))
