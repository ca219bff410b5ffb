-- One row per invoice item of a branch CRM. Items of invoices left out of core.fct_invoice
-- (deleted in the CRM) are left out too; items of an invoice missing from the CRM stay.
--
-- product_id: the stock database's product with the item's sku (the CRMs sell from the
-- company's one catalogue); null when no product has that sku.
-- discount_amount: the CRM's discount_pct of the gross line (qty * unit_price) in money, not
-- rounded (line money keeps the source's precision: 3 x 12.35 at 5% is 1.8525); line_amount is
-- the CRM's line_total, which equals qty * unit_price - discount_amount up to the CRM's own
-- rounding to the cent.
-- tax_amount: 0, the CRMs record no sales tax.
-- cost_amount: qty times the average unit cost of the invoice's shipments of that product
-- (core.fct_stock_move), not rounded; null for services and for goods not shipped yet.
-- A quantity typed with a minus sign passes as typed (its line total follows it).
WITH shipped AS (
    SELECT
        invoice_id,
        product_id,
        sum(abs(qty) * unit_cost) / nullif(sum(abs(qty)), 0) AS unit_cost
    FROM core.fct_stock_move
    WHERE kind = 'shipment' AND invoice_id IS NOT NULL
    GROUP BY invoice_id, product_id
),

products AS (
    SELECT sku, arg_min(_source || ':' || id, id) AS product_id
    FROM stg_stock.products
    GROUP BY sku
)

SELECT
    li._source || ':' || li.id AS invoice_line_id,
    li._branch AS branch_id,
    li._source || ':' || li.invoice_id AS invoice_id,
    li.line_no,
    p.product_id,
    li.description,
    li.qty,
    li.unit_price,
    li.qty * li.unit_price * li.discount_pct * 0.01 AS discount_amount,
    li.line_total AS line_amount,
    CAST(0 AS DECIMAL(18, 6)) AS tax_amount,
    li.qty * s.unit_cost AS cost_amount,
    li._source,
    li._loaded_at
FROM stg_crm.invoice_items AS li
LEFT JOIN stg_crm.invoices AS i ON i._source = li._source AND i.id = li.invoice_id
LEFT JOIN products AS p ON p.sku = li.sku
LEFT JOIN shipped AS s
    ON s.invoice_id = li._source || ':' || li.invoice_id AND s.product_id = p.product_id
WHERE i.is_deleted IS NOT TRUE
