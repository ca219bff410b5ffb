-- One row per delivery of a branch CRM: one invoice's goods taken to the client's address.
--
-- planned_start_at: the planned time; the CRM promises a time, not a window, so
-- planned_end_at is null. status (status_code): PLAN planned, DONE delivered, FAIL failed,
-- CANC cancelled. route: the route code ('DEN-N').
-- warehouse_id: the branch's own stock room (core.dim_warehouse of kind store), which the goods
-- leave from. client_id: the delivered invoice's client. service_request_id: the repair billed
-- on that invoice, if any. city: parsed from the address ('…, Denver, CO 80218').
-- distance_km: the driving distance from the branch's stock room the CRM records (null when no
-- one typed it in). departed_at: when the van left with the goods.
-- invoice_id and client_id: null when the invoice is not in core.fct_invoice (deleted, or held in
-- quarantine): the delivery happened, its invoice is unknown to core.
WITH stores AS (
    SELECT branch_id, min(warehouse_id) AS warehouse_id
    FROM core.dim_warehouse
    WHERE kind = 'store'
    GROUP BY branch_id
),

repairs AS (
    SELECT _source, invoice_id, min(id) AS service_request_id
    FROM stg_crm.service_requests
    WHERE invoice_id IS NOT NULL AND NOT is_deleted
    GROUP BY _source, invoice_id
)

SELECT
    dl._source || ':' || dl.id AS delivery_id,
    dl._branch AS branch_id,
    dl.planned_at AS planned_start_at,
    CAST(NULL AS TIMESTAMP) AS planned_end_at,
    CASE dl.status_code
        WHEN 'PLAN' THEN 'planned'
        WHEN 'DONE' THEN 'delivered'
        WHEN 'FAIL' THEN 'failed'
        WHEN 'CANC' THEN 'cancelled'
        ELSE 'other'
    END AS status,
    dl.failure_reason,
    dl._source || ':' || dl.driver_id AS driver_id,
    dl.route_code AS route,
    st.warehouse_id,
    CASE WHEN NOT i.is_deleted THEN i._source || ':' || i.client_id END AS client_id,
    CASE WHEN NOT i.is_deleted THEN dl._source || ':' || dl.invoice_id END AS invoice_id,
    r._source || ':' || r.service_request_id AS service_request_id,
    nullif(regexp_extract(dl.address, ',\s*([^,]+),\s*[A-Z]{2}\s+\d{5}(-\d{4})?\s*$', 1), '')
        AS city,
    dl.address,
    dl.distance_km,
    dl.departed_at,
    dl.delivered_at,
    dl._source,
    dl._loaded_at
FROM stg_crm.deliveries AS dl
LEFT JOIN stg_crm.invoices AS i ON i._source = dl._source AND i.id = dl.invoice_id
LEFT JOIN repairs AS r ON r._source = dl._source AND r.invoice_id = dl.invoice_id
LEFT JOIN stores AS st ON st.branch_id = dl._branch
