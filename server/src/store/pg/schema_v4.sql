-- Health Synx schema v4: appointment types, resources (rooms, equipment),
-- the busy time around a visit (its buffers), which the doctor and the
-- resource may not spend twice, and recurring series.

CREATE TABLE appointment_types (
    id uuid PRIMARY KEY,
    department text NOT NULL,
    name text NOT NULL,
    doc jsonb NOT NULL
);
CREATE UNIQUE INDEX appointment_types_name_key ON appointment_types (department, lower(name));

CREATE TABLE resources (
    id uuid PRIMARY KEY,
    department text NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    doc jsonb NOT NULL
);
CREATE UNIQUE INDEX resources_name_key ON resources (department, lower(name));

ALTER TABLE appointments
    ADD COLUMN type_id uuid,
    ADD COLUMN resource_id uuid,
    ADD COLUMN busy_start timestamptz,
    ADD COLUMN busy_end timestamptz,
    ADD COLUMN series_id uuid;
UPDATE appointments SET busy_start = start_at, busy_end = end_at;
ALTER TABLE appointments ALTER COLUMN busy_start SET NOT NULL, ALTER COLUMN busy_end SET NOT NULL;

-- A doctor is busy for a visit's buffers as well as the visit; a resource
-- likewise, under its own constraint.
ALTER TABLE appointments DROP CONSTRAINT appointments_doctor_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_doctor_no_overlap
    EXCLUDE USING gist (doctor_id WITH =, tstzrange(busy_start, busy_end) WITH &&) WHERE (status <> 'cancelled');
ALTER TABLE appointments ADD CONSTRAINT appointments_resource_no_overlap
    EXCLUDE USING gist (resource_id WITH =, tstzrange(busy_start, busy_end) WITH &&)
    WHERE (status <> 'cancelled' AND resource_id IS NOT NULL);
CREATE INDEX appointments_by_resource ON appointments (resource_id, start_at, id) WHERE resource_id IS NOT NULL;

CREATE TABLE series (
    id uuid PRIMARY KEY,
    doc jsonb NOT NULL
);
