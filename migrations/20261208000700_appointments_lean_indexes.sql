-- As 20261208000600 did for orders: an appointment placed by a guest has no customer user, and one
-- that is not part of a subscription has no occurrence, and each insert paid for indexing those nulls
-- (benchmarks/RESULTS.md, issue #16 item 10). A unique index without its nulls is the same rule.

drop index public.appointments_customer_user_id_idx;
create index appointments_customer_user_id_idx on public.appointments (customer_user_id)
  where customer_user_id is not null;

alter table public.appointments drop constraint appointments_subscription_occurrence_key;
create unique index appointments_subscription_occurrence_key on public.appointments (subscription_id, subscription_occurrence)
  where subscription_id is not null;
