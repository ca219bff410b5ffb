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
    i._source,
    i._loaded_at
FROM stg_crm.invoices AS i
LEFT JOIN stg_crm.deals AS d ON d._source = i._source AND d.id = i.deal_id
LEFT JOIN hist_crm.clients AS c ON c._source = i._source AND c.id = i.client_id
WHERE NOT i.is_deleted
