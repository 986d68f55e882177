-- bench/procedures.sql: the loops of the memory and import cases.  Each
-- call of sp_identify runs in its own transaction, as it would from a
-- client.

-- Identify people u1..u10000 in turn (a property changes each time, so each
-- call writes), and create a new person every tenth call, for calls
-- first..last.
CREATE PROCEDURE bench.identify_loop(first bigint, last bigint)
	LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN first..last LOOP
		IF i % 10 = 0 THEN
			PERFORM simpleproduct.sp_identify(jsonb_build_object(
				'externalId', 'mem' || i,
				'email', 'mem' || i || '@c' || (i % 500) || '-bench.com',
				'name', 'Memory ' || i));
		ELSE
			PERFORM simpleproduct.sp_identify(jsonb_build_object(
				'externalId', 'u' || (1 + i % 10000),
				'properties', jsonb_build_object('n', i)));
		END IF;
		COMMIT;
	END LOOP;
END
$$;

-- The import case's baseline: sp_identify over the rows of a staged table
-- (line, person), one transaction per row; a failing row is skipped, as a
-- client would log it and go on.
CREATE PROCEDURE bench.identify_rows(staged regclass)
	LANGUAGE plpgsql AS $$
DECLARE
	person jsonb;
BEGIN
	FOR person IN EXECUTE format('SELECT person FROM %s ORDER BY line', staged)
	LOOP
		BEGIN
			PERFORM simpleproduct.sp_identify(person);
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
		COMMIT;
	END LOOP;
END
$$;
