-- Platform: distances on the Earth, for every area that measures one
-- (appointments' service areas, chauffeur quotes).

create or replace function private.haversine_km(
  lat1 double precision, lon1 double precision, lat2 double precision, lon2 double precision
) returns double precision
  language sql immutable strict parallel safe
  set search_path = ''
as $$
  -- Great-circle distance on a sphere of the IUGG mean Earth radius (6371.0088 km).
  select 2 * 6371.0088 * asin(least(1.0, sqrt(
           power(sin(radians(lat2 - lat1) / 2), 2)
           + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lon2 - lon1) / 2), 2))));
$$;
comment on function private.haversine_km(double precision, double precision, double precision, double precision) is
  'Great-circle distance in km between two WGS84 points (haversine, mean Earth radius).';
grant execute on function private.haversine_km(double precision, double precision, double precision, double precision)
  to anon, authenticated, service_role;
