-- Rate limits kept in Postgres, so every function instance and PostgREST agree.
--
-- A limit is a rule (so many requests per period) for a bucket (guest
-- lookups, checkout, quotes, promo codes, the AI assistants), counted per
-- subject: the signed-in user, or the client's IP address for guests. The
-- counter is one timestamp per (bucket, subject), the generic cell rate
-- algorithm's "theoretical arrival time": a burst of `requests` passes, then
-- one more every `per / requests`. A refused request changes nothing and is
-- told when to come back (429 with Retry-After).
--
-- The AI assistants' per-minute window moves here from private.ai_usage: a
-- fixed window that reset on the minute let two bursts straddle its edge.
-- Functions: routines/platform/rate_limits.sql.

create table private.rate_limit_rules (
  bucket text primary key check (bucket ~ '^[a-z][a-z_]{0,39}$'),
  requests integer not null check (requests between 1 and 1000000),
  per interval not null check (per between interval '1 second' and interval '1 day'),
  description text not null
);
comment on table private.rate_limit_rules is
  'How many requests per period each bucket allows one subject (a user, or a guest''s IP). Operators edit the rows.';

insert into private.rate_limit_rules (bucket, requests, per, description) values
  ('guest_lookup', 30, interval '1 minute', 'Opening an order, booking or subscription by its number and tracking token'),
  ('checkout', 20, interval '1 minute', 'Starting a checkout of any kind'),
  ('promo_code', 10, interval '1 minute', 'Checkouts that try a promo code (guessing codes is the abuse)'),
  ('quote', 60, interval '1 minute', 'Parking and chauffeur quotes');

create table private.rate_limits (
  bucket text not null,
  subject text not null check (length(subject) <= 100),
  theoretical_arrival timestamptz not null,
  primary key (bucket, subject)
);
comment on table private.rate_limits is
  'Per bucket and subject: when the next request would arrive at the allowed rate (GCRA). Rows in the past are idle.';
create index rate_limits_idle_idx on private.rate_limits (theoretical_arrival);

alter table private.ai_usage drop column window_start, drop column window_requests;
comment on table private.ai_usage is 'Per user and day: requests and tokens spent on the AI assistants.';
