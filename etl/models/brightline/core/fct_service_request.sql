-- One row per device taken in for repair by a branch's service desk (the CRM's
-- service_requests). Requests the CRM's users deleted (is_deleted) are left out.
--
-- kind: Brightline's service desk takes devices in for repair only: `repair`.
-- status (status_code): NEW received, DIAG diagnosing, WAIT waiting_parts, REP repairing,
-- DONE ready, RET returned, CANC cancelled.
-- product_id: the catalogue item whose name is the equipment model as written at intake; null
-- when the model is not in the catalogue. Timestamps pass as recorded (a return before the
-- intake, or a year typed wrong, is for validation to report).
-- invoice_id: null when the invoice is not in core.fct_invoice (deleted, or held in quarantine).
WITH models AS (
    SELECT name, arg_min(_source || ':' || id, id) AS product_id
    FROM stg_stock.products
    GROUP BY name
)

SELECT
    s._source || ':' || s.id AS service_request_id,
    s._branch AS branch_id,
    s.received_at,
    s.number AS request_number,
    'repair' AS kind,
    CASE s.status_code
        WHEN 'NEW' THEN 'received'
        WHEN 'DIAG' THEN 'diagnosing'
        WHEN 'WAIT' THEN 'waiting_parts'
        WHEN 'REP' THEN 'repairing'
        WHEN 'DONE' THEN 'ready'
        WHEN 'RET' THEN 'returned'
        WHEN 'CANC' THEN 'cancelled'
        ELSE 'other'
    END AS status,
    s._source || ':' || s.client_id AS client_id,
    m.product_id,
    s.equipment_model AS equipment,
    s.serial_no AS serial_number,
    s.problem,
    s.diagnosis,
    s.is_warranty,
    s.sla_hours,
    s._source || ':' || s.engineer_id AS engineer_id,
    s.diagnosed_at,
    s.repaired_at,
    s.returned_at,
    s.parts_cost,
    CASE WHEN NOT i.is_deleted THEN s._source || ':' || s.invoice_id END AS invoice_id,
    s._source,
    s._loaded_at
FROM stg_crm.service_requests AS s
LEFT JOIN models AS m ON m.name = s.equipment_model
LEFT JOIN stg_crm.invoices AS i ON i._source = s._source AND i.id = s.invoice_id
WHERE NOT s.is_deleted
