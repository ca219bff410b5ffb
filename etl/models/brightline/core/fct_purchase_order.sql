-- One row per purchase order of the stock database.
--
-- status (status_code): DRFT draft, SENT ordered, RCVD received, CANC cancelled.
-- ordered_on / received_on: ordered_at / received_at (UTC) as dates in the time zone of the
-- receiving warehouse's branch (local_date). expected_on: as recorded.
-- branch_id: the receiving warehouse's (core.dim_warehouse: the central warehouse is Denver's);
-- an order for a warehouse the stock database does not have counts for 'denver'.
-- total_amount: the order's total_cost. buyer_id: the stock database does not record who
-- ordered (null).
SELECT
    po._source || ':' || po.id AS purchase_order_id,
    coalesce(w.branch_id, 'denver') AS branch_id,
    local_date(po.ordered_at, coalesce(b.timezone, 'UTC')) AS ordered_on,
    po.number AS order_number,
    po._source || ':' || po.supplier_id AS supplier_id,
    po._source || ':' || po.warehouse_id AS warehouse_id,
    CAST(NULL AS VARCHAR) AS buyer_id,
    CASE po.status_code
        WHEN 'DRFT' THEN 'draft'
        WHEN 'SENT' THEN 'ordered'
        WHEN 'RCVD' THEN 'received'
        WHEN 'CANC' THEN 'cancelled'
        ELSE 'other'
    END AS status,
    po.expected_on,
    local_date(po.received_at, coalesce(b.timezone, 'UTC')) AS received_on,
    po.total_cost AS total_amount,
    po._source,
    po._loaded_at
FROM stg_stock.purchase_orders AS po
LEFT JOIN core.dim_warehouse AS w ON w.warehouse_id = po._source || ':' || po.warehouse_id
LEFT JOIN core.dim_branch AS b ON b.branch_id = coalesce(w.branch_id, 'denver')
