-- The import case's client baseline: the next staged row through
-- sp_identify, one statement and one transaction per row.  The line number
-- comes from a sequence read once per statement (an InitPlan); rows
-- without an identifier (which sp_identify refuses) are skipped rather than
-- failed, so that pgbench goes on.
SELECT simpleproduct.sp_identify(person) FROM bench.rbr_client WHERE line = (SELECT nextval('bench.rbr_seq')) AND (person ? 'externalId' OR person ? 'email');
