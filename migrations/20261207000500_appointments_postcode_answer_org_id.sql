-- A guest can book from the postcode answer alone.
--
-- create-checkout-session (kind "appointments") takes the org's id, which
-- services_for_postcode did not return and anon cannot read: a guest had no
-- way to book. The answer's "org" now carries its id (it is no secret: it is
-- in every order the org sells); the checkout also derives it from the
-- services when it is left out. Only this helper changes; the rest is as in
-- *_slots.sql.

create or replace function private.service_coverage(p_org_slug text, p_outcode text) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
as $$
declare
  org public.organizations;
begin
  select * into org from public.organizations o where o.slug = p_org_slug;
  if not found then
    raise exception using errcode = 'PT404', message = 'Organization not found', detail = 'org_not_found';
  end if;
  return jsonb_build_object(
    'org', jsonb_build_object('id', org.id, 'slug', org.slug, 'name', org.name, 'timezone', org.timezone),
    'services', coalesce((
      with covering as (
        select c.staff_id from private.covering_staff(org.id, p_outcode) c
      ), counted as (
        select ss.service_id, count(*) as staff_count
        from public.staff_services ss
        join covering c on c.staff_id = ss.staff_id
        group by ss.service_id
      )
      select jsonb_agg(jsonb_build_object(
               'id', s.id, 'name', s.name, 'description', s.description,
               'category_id', s.category_id, 'category', cat.name,
               'duration_minutes', s.duration_minutes, 'price_minor', s.price_minor, 'currency', s.currency,
               'staff_count', k.staff_count)
             order by s.sort_order, s.name, s.id)
      from public.services s
      join counted k on k.service_id = s.id
      left join public.service_categories cat on cat.id = s.category_id
      where s.org_id = org.id and s.active), '[]'::jsonb));
end;
$$;
comment on function private.service_coverage(text, text) is
  'The org''s active services that at least one active, qualified staff member covering the district can do, with staff_count, and the org (id, slug, name, timezone) to book with. PT404 org_not_found.';

-- The org an active service belongs to (null when there is no such service): what the checkout
-- books with when the body names no org.
create function private.org_of_service(p_service_id uuid) returns uuid
  language sql stable
  security definer
  set search_path = ''
as $$
  select org_id from public.services where id = p_service_id and active;
$$;
comment on function private.org_of_service(uuid) is
  'The org of an active service, else null. For create-checkout-session bodies that leave out org_id.';
grant execute on function private.org_of_service(uuid) to anon, authenticated, service_role;
