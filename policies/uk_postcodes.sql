-- Row-level security for UK postcode districts (public.uk_outcodes): open data
-- (OGL v3), readable by everyone, writable by no API role. The rows change only
-- through migrations generated from shared/data/uk_outcodes.csv, so even
-- service_role (the server key) gets SELECT alone: a stray server-side write
-- cannot drift the table away from the shipped, attributed file.

revoke all on public.uk_outcodes from anon, authenticated, service_role;
grant select on public.uk_outcodes to anon, authenticated, service_role;

alter table public.uk_outcodes enable row level security;

drop policy if exists "UK postcode districts are readable by anyone" on public.uk_outcodes;
drop policy if exists "UK postcode districts are readable by visitors" on public.uk_outcodes;
create policy "UK postcode districts are readable by visitors" on public.uk_outcodes
  for select to anon
  using (true);

drop policy if exists "UK postcode districts are readable by signed-in users" on public.uk_outcodes;
create policy "UK postcode districts are readable by signed-in users" on public.uk_outcodes
  for select to authenticated
  using (true);
