-- Security of the install script and of the functions' queries.

-- The install script registers user-data tables for pg_dump.
SELECT c.relname
FROM pg_extension e, unnest(e.extconfig) AS cfg(oid)
JOIN pg_class c ON c.oid = cfg.oid
WHERE e.extname = 'simpleproduct' ORDER BY 1;

-- Every function and table of the extension lives in its schema.
SELECT DISTINCT n.nspname
FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE e.extname = 'simpleproduct';

-- A hostile operator and functions planted in public, searched before
-- pg_catalog, must not change what the extension's queries mean.
CREATE FUNCTION public.hostile_eq(text, text) RETURNS boolean
	LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text,
	FUNCTION = public.hostile_eq);
CREATE FUNCTION public.length(text) RETURNS integer
	LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION public.right(text, integer) RETURNS text
	LANGUAGE sql AS $$ SELECT 'hijacked'::text $$;
SET search_path = public, pg_catalog;
SELECT simpleproduct.sp_identify('{"externalId": "sec-1", "email": "one@sec.example"}')->>'created';
SELECT simpleproduct.sp_identify('{"externalId": "sec-2", "email": "two@sec.example"}')->>'created';
SELECT simpleproduct.sp_identify('{"externalId": "sec-1"}')->>'email';
SELECT simpleproduct.sp_upsert_org('{"name": "Sec", "domain": "sec.example"}')->>'created';
SELECT simpleproduct.sp_find_person('{"externalId": "sec-2"}')->'organization'->>'name';
SELECT count(*) FROM simpleproduct.people WHERE external_id LIKE 'sec-%';
RESET search_path;
DROP OPERATOR public.= (text, text);
DROP FUNCTION public.hostile_eq(text, text), public.length(text), public.right(text, integer);

-- The setting is the extension's own: a typo in its prefix is refused.
SET simpleproduct.wrokspace = 'x';
