DROP INDEX readings_captured_at;
