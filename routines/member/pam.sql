-- Member app: PAM's proposals (migrations/*_member_pam.sql). public.confirm_expense_proposal writes the
-- expense a proposal describes, as the member (so every check of routines/member/money.sql applies), once;
-- PT404 proposal_not_found for anyone else's, PT409 proposal_closed for one confirmed or discarded.

create or replace function public.confirm_expense_proposal(proposal_id uuid) returns uuid
  language plpgsql
  set search_path = ''
as $$
declare
  p public.pam_expense_proposals;
  made uuid;
begin
  select * into p from public.pam_expense_proposals x where x.id = confirm_expense_proposal.proposal_id for update;
  if not found then  -- RLS: the caller's own only
    raise exception using errcode = 'PT404', detail = 'proposal_not_found', message = 'No such proposal';
  end if;
  if p.status <> 'proposed' then
    raise exception using errcode = 'PT409', detail = 'proposal_closed', message = format('This proposal was %s', p.status);
  end if;
  insert into public.expenses (category_id, amount_minor, currency, spent_on, payee, notes)
  values (p.category_id, p.amount_minor, p.currency, p.spent_on, p.payee, 'Added with PAM')
  returning id into made;
  update public.pam_expense_proposals set status = 'confirmed', expense_id = made where id = p.id;
  return made;
end;
$$;
comment on function public.confirm_expense_proposal(uuid) is
  'The member confirms an expense PAM proposed: it is written (as the member), once. PT404, PT409 proposal_closed.';
grant execute on function public.confirm_expense_proposal(uuid) to authenticated, service_role;
