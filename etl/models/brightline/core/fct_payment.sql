-- One row per payment of a branch CRM.
--
-- paid_on: the business date the money arrived — paid_at (UTC) as a date in the branch's time
-- zone (core.dim_branch.timezone; UTC for a branch without one), by the macro local_date.
-- method (method_code): BANK bank_transfer, CARD card, CASH cash.
-- client_id: the paid invoice's client.
-- amount: as typed; a share typed where the amount belongs is the validation stage's to report.
-- Payments of invoices the CRM's users deleted leave core with their invoice.
SELECT
    p._source || ':' || p.id AS payment_id,
    p._branch AS branch_id,
    local_date(p.paid_at, coalesce(b.timezone, 'UTC')) AS paid_on,
    p._source || ':' || p.invoice_id AS invoice_id,
    i._source || ':' || i.client_id AS client_id,
    p.amount,
    CASE p.method_code
        WHEN 'BANK' THEN 'bank_transfer'
        WHEN 'CARD' THEN 'card'
        WHEN 'CASH' THEN 'cash'
        ELSE 'other'
    END AS method,
    p._source,
    p._loaded_at
FROM stg_crm.payments AS p
LEFT JOIN stg_crm.invoices AS i ON i._source = p._source AND i.id = p.invoice_id
LEFT JOIN core.dim_branch AS b ON b.branch_id = p._branch
WHERE i.is_deleted IS NOT TRUE
