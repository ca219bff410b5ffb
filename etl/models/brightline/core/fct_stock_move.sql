-- One row per stock movement of the stock database, plus a second row for every transfer.
-- The stock database records a transfer (TRNS) once, from warehouse_id to to_warehouse_id;
-- core wants one row per warehouse whose stock changed: the source row is the goods leaving
-- warehouse_id (key 'stock:<id>', qty negative) and its twin the goods arriving in
-- to_warehouse_id (key 'stock:<id>:in', qty positive), each naming the other warehouse as
-- counterpart_warehouse_id.
--
-- kind (move_type): RCPT receipt, SHIP shipment, WOFF write_off, TRNS transfer, ADJ adjustment.
-- qty: signed from the warehouse's point of view — receipts in (+), shipments and write-offs
-- out (−), adjustments as recorded (they are signed at the source). The stock database keeps
-- the other quantities positive; one typed with a minus sign keeps it, so a receipt or shipment
-- going the wrong way stays visible to validation instead of being silently corrected.
-- purchase_order_id: a receipt's doc_ref is the order number. invoice_id: a shipment's doc_ref
-- is '<branch>/<invoice number>' (core.fct_invoice). reason: the note of write-offs and
-- adjustments ('Damaged', 'Inventory count', 'Opening balance').
-- branch_id: the warehouse's (core.dim_warehouse); a move in a warehouse the stock database
-- does not have counts for the head office, 'denver', and is reported by validation.
-- keeper_id: the user whose login posted the move, in the CRM of the branch of the warehouse it
-- was posted in (a transfer's twin row keeps the keeper of the sending warehouse).
WITH moves AS (
    SELECT
        m.*,
        m._source || ':' || m.id AS stock_move_id,
        m._source || ':' || m.warehouse_id AS warehouse_key,
        m._source || ':' || m.to_warehouse_id AS counterpart_key,
        m._source || ':' || m.warehouse_id AS posted_in_key,
        CASE m.move_type WHEN 'SHIP' THEN -1 WHEN 'WOFF' THEN -1 WHEN 'TRNS' THEN -1 ELSE 1 END
            AS direction
    FROM stg_stock.stock_moves AS m
    UNION ALL BY NAME
    SELECT
        m.*,
        m._source || ':' || m.id || ':in' AS stock_move_id,
        m._source || ':' || m.to_warehouse_id AS warehouse_key,
        m._source || ':' || m.warehouse_id AS counterpart_key,
        m._source || ':' || m.warehouse_id AS posted_in_key,
        1 AS direction
    FROM stg_stock.stock_moves AS m
    WHERE m.move_type = 'TRNS'
),

orders AS (
    SELECT number, arg_min(_source || ':' || id, id) AS purchase_order_id
    FROM stg_stock.purchase_orders
    GROUP BY number
),

invoices AS (
    SELECT branch_id, invoice_number, min(invoice_id) AS invoice_id
    FROM core.fct_invoice
    GROUP BY branch_id, invoice_number
),

logins AS (
    SELECT _branch AS branch_id, login, arg_min(_source || ':' || id, id) AS employee_id
    FROM stg_crm.users
    GROUP BY _branch, login
)

SELECT
    mv.stock_move_id,
    coalesce(w.branch_id, 'denver') AS branch_id,
    mv.moved_at,
    CASE mv.move_type
        WHEN 'RCPT' THEN 'receipt'
        WHEN 'SHIP' THEN 'shipment'
        WHEN 'WOFF' THEN 'write_off'
        WHEN 'TRNS' THEN 'transfer'
        WHEN 'ADJ' THEN 'adjustment'
        ELSE 'other'
    END AS kind,
    mv._source || ':' || mv.product_id AS product_id,
    mv.warehouse_key AS warehouse_id,
    mv.direction * mv.qty AS qty,
    mv.unit_cost,
    CASE WHEN mv.move_type = 'TRNS' THEN mv.counterpart_key END AS counterpart_warehouse_id,
    o.purchase_order_id,
    i.invoice_id,
    CASE WHEN mv.move_type IN ('WOFF', 'ADJ') THEN mv.note END AS reason,
    k.employee_id AS keeper_id,
    mv._source,
    mv._loaded_at
FROM moves AS mv
LEFT JOIN core.dim_warehouse AS w ON w.warehouse_id = mv.warehouse_key
LEFT JOIN orders AS o ON mv.move_type = 'RCPT' AND o.number = mv.doc_ref
LEFT JOIN invoices AS i
    ON mv.move_type = 'SHIP'
    AND i.branch_id = split_part(mv.doc_ref, '/', 1)
    AND i.invoice_number = split_part(mv.doc_ref, '/', 2)
LEFT JOIN core.dim_warehouse AS posted_in ON posted_in.warehouse_id = mv.posted_in_key
LEFT JOIN logins AS k
    ON k.branch_id = coalesce(posted_in.branch_id, 'denver') AND k.login = mv.user_login
