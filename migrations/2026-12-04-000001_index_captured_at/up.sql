-- Retention deletes by time across all devices; the (device_id, captured_at) index
-- cannot serve that.
CREATE INDEX readings_captured_at ON readings (captured_at);
