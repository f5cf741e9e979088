-- An event's cancel_reason is the organizer's word about the event, not data about a person:
-- kept by GDPR erasure, like the event's title (tests/appointments/test_gdpr.py lists every column).

insert into private.gdpr_columns (table_name, column_name, erase_to, exported, reason) values
  ('events', 'cancel_reason', null, false, 'the organizer''s reason for cancelling the event, not about a person');
