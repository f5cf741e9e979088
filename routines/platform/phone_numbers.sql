-- Platform: phone numbers as E.164 (private.phone_regions: migrations/20261207001500_platform_phone_numbers.sql).
--
-- The SQL twin of shared/providers/sms.py::to_e164 for the cases that matter
-- here: "+44 7400 123456", "0044 7400 123456" and, with the region, the
-- national "07400 123456" all become "+447400123456"; anything else is null.
-- A national number loses its region's trunk prefix only when what is left
-- still has a possible length (as libphonenumber does), so an Italian "06…"
-- keeps its 0 and a US "1 201…" loses its 1.

create or replace function private.to_e164(p_raw text, p_region text default 'GB') returns text
  language plpgsql stable parallel safe
  security definer  -- reads private.phone_regions, which no API role may
  set search_path = ''
as $$
declare
  typed text := btrim(coalesce(p_raw, ''));
  digits text := regexp_replace(coalesce(p_raw, ''), '[^0-9]', '', 'g');
  rule private.phone_regions;
  stripped text;
begin
  if typed !~ '^(\+|00)?[0-9 ()./-]+$' then
    return null;                                -- letters, extensions, two numbers: not a number
  end if;
  if typed ~ '^\+' or typed ~ '^00' then
    digits := regexp_replace(regexp_replace(typed, '\(0\)', ''), '[^0-9]', '', 'g');  -- "+44 (0)20 …"
    digits := case when typed ~ '^00' then substr(digits, 3) else digits end;
    return case when length(digits) between 7 and 15 and digits !~ '^0' then '+' || digits end;
  end if;
  select * into rule from private.phone_regions where region = upper(p_region);
  if not found then
    return null;
  end if;
  if rule.national_prefix is not null then
    stripped := regexp_replace(digits, '^(?:' || rule.national_prefix || ')', '');
    if length(stripped) = any (rule.national_lengths) then
      digits := stripped;
    end if;
  end if;
  return case when length(digits) = any (rule.national_lengths) then '+' || rule.calling_code || digits end;
end;
$$;
comment on function private.to_e164(text, text) is
  'A phone number as typed, in E.164 (+447400123456), reading a national number as p_region''s; null if it is not one.';
grant execute on function private.to_e164(text, text) to authenticated, service_role;
