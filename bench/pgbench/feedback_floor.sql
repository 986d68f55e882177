-- The floor of feedback.sql: a bare INSERT with the person's id known.
\set n random(1, 1000000000)
INSERT INTO bench.floor_feedback (workspace_id, person_id, title, content, source) VALUES (1, :pid, 'Bench', 'Feedback number ' || :n, 'api') RETURNING id, created_at, updated_at;
