"""The local stack (`bookwell`): CLI, dev server, embedded Postgres, seed, cron loop, provider
stand-ins. It may import anything; the product never imports it at run time."""
