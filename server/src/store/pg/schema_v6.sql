-- Health Synx schema v6: invoices, their numbers and their payments.
-- An invoice's number is unique; the counter row of a year is locked by
-- the transaction that takes a number, so numbers commit without gaps.

CREATE TABLE invoices (
    id uuid PRIMARY KEY,
    patient_id uuid NOT NULL,
    status text NOT NULL,
    kind text NOT NULL,
    number text UNIQUE,
    doc jsonb NOT NULL
);
CREATE INDEX invoices_by_patient ON invoices (patient_id, id);
CREATE INDEX invoices_open ON invoices (id) WHERE status = 'issued' AND kind = 'invoice';

CREATE TABLE invoice_numbers (
    year smallint PRIMARY KEY,
    last integer NOT NULL
);

CREATE TABLE billed_appointments (
    appointment_id uuid PRIMARY KEY,
    invoice_id uuid NOT NULL
);

CREATE TABLE payments (
    id uuid PRIMARY KEY,
    invoice_id uuid NOT NULL,
    received_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX payments_by_invoice ON payments (invoice_id, id);
CREATE INDEX payments_by_time ON payments (received_at, id);
