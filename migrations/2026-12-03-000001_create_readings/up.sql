-- One row per sensor measurement. Column names match the WebSocket payload fields.
-- AUTOINCREMENT: a row id is never reused, so an id seen by a client stays unique.
CREATE TABLE readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    device_id TEXT NOT NULL,
    co2 INTEGER,
    temperature DOUBLE,
    humidity DOUBLE,
    pressure DOUBLE,
    battery INTEGER,
    status TEXT,
    -- UTC, ISO 8601 with `Z` (`2024-01-15T10:30:00Z`), so text order is time order.
    captured_at TEXT NOT NULL,
    radon INTEGER,
    radiation_rate DOUBLE,
    radiation_total DOUBLE
);

CREATE INDEX readings_device_captured_at ON readings (device_id, captured_at);
