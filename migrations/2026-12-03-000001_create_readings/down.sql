DROP INDEX readings_device_captured_at;
DROP TABLE readings;
