"""The member app for travellers (Wheels & Wins, seed 004): a member's own money (categories, expenses,
income, recurring items) and budgets that never drift. The rules live in Postgres (routines/member/*.sql,
policies/member.sql); members read and write their rows directly under RLS."""
