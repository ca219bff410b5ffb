-- One row per invoice of a branch CRM (invoices the CRM's users deleted would be left out).
--
-- kind: credit_note when the total is negative, else invoice.
-- status (status_code): DRFT draft, ISS issued, PART partially_paid, PAID paid, CANC cancelled.
-- Amounts: Brightline's CRMs record no sales tax — an invoice's total is the sum of its lines —
-- so net_amount is the CRM's total_amount and tax_amount is 0.
-- owner_id, the sales manager credited with the revenue: the owner of the deal the invoice
-- bills; without a deal, the client's account manager (responsible_user_id); failing both, the
-- user who created the invoice.
-- deal_id: null when the deal is not in core.fct_deal (deleted in the CRM, or held in
-- quarantine): the invoice stands without it.
-- Fulfilment: the CRMs keep no separate orders — an order is entered as its invoice — so
-- ordered_on is issued_on. required_on: the CRMs do not record a date the client asked for
-- (null). promised_on: the first planned delivery of the invoice (deliveries.planned_at, not
-- cancelled), the day the branch committed to. shipped_on: the day the last of the invoice's
-- goods left the warehouse — the latest stock shipment (SHIP) whose doc_ref is
-- '<branch>/<invoice number>'; null for services and for goods not shipped yet. Both are local
-- dates in the branch's time zone (local_date with core.dim_branch.timezone).
-- client_invoice_no, days_since_client_previous_invoice: filled by kpiboard (docs/model.md).
WITH promised AS (
    SELECT _source, invoice_id, min(planned_at) AS planned_at
    FROM stg_crm.deliveries
    WHERE status_code <> 'CANC'
    GROUP BY _source, invoice_id
),

shipped AS (
    SELECT doc_ref, max(moved_at) AS moved_at
    FROM stg_stock.stock_moves
    WHERE move_type = 'SHIP'
    GROUP BY doc_ref
)

SELECT
    i._source || ':' || i.id AS invoice_id,
    i._branch AS branch_id,
    i.issued_on,
    i.number AS invoice_number,
    CASE WHEN i.total_amount < 0 THEN 'credit_note' ELSE 'invoice' END AS kind,
    CASE i.status_code
        WHEN 'DRFT' THEN 'draft'
        WHEN 'ISS' THEN 'issued'
        WHEN 'PART' THEN 'partially_paid'
        WHEN 'PAID' THEN 'paid'
        WHEN 'CANC' THEN 'cancelled'
        ELSE 'other'
    END AS status,
    i._source || ':' || i.client_id AS client_id,
    CASE WHEN NOT d.is_deleted THEN i._source || ':' || i.deal_id END AS deal_id,
    i._source || ':' || coalesce(d.owner_user_id, c.responsible_user_id, i.created_by) AS owner_id,
    i.due_on,
    i.total_amount AS net_amount,
    CAST(0 AS DECIMAL(18, 2)) AS tax_amount,
    i.total_amount,
    i.issued_on AS ordered_on,
    CAST(NULL AS DATE) AS required_on,
    local_date(p.planned_at, coalesce(b.timezone, 'UTC')) AS promised_on,
    local_date(s.moved_at, coalesce(b.timezone, 'UTC')) AS shipped_on,
    i._source,
    i._loaded_at
FROM stg_crm.invoices AS i
LEFT JOIN stg_crm.deals AS d ON d._source = i._source AND d.id = i.deal_id
LEFT JOIN hist_crm.clients AS c ON c._source = i._source AND c.id = i.client_id
LEFT JOIN promised AS p ON p._source = i._source AND p.invoice_id = i.id
LEFT JOIN shipped AS s ON s.doc_ref = i._branch || '/' || i.number
LEFT JOIN core.dim_branch AS b ON b.branch_id = i._branch
WHERE NOT i.is_deleted
