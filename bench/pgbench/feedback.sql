-- sp_feedback for a known person (found by externalId).
\set id random(1, :people)
\set n random(1, 1000000000)
SELECT simpleproduct.sp_feedback(('{"externalId":"u' || :id || '","title":"Bench","content":"Feedback number ' || :n || '"}')::jsonb);
