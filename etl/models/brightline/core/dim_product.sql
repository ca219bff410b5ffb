-- One row per catalogue item of the stock database: goods (kind G) and services (S).
--
-- branch_id: the catalogue is company-wide and kept by the head office in Denver, which also
-- runs the central warehouse (docs/demo.md), so every item carries 'denver' — the owner of the
-- record, not a limit on who sees it.
-- category / parent_category: the item's category and the one above it (two levels).
-- unit: as the stock database spells it (pcs, ream, hour, month, svc).
-- min_stock_qty: the item's reorder point, the same for every warehouse.
-- is_active: not archived, and not deleted from the stock database; a deleted item stays (read
-- from hist_stock), inactive, so that its moves, invoice lines and repairs still name it.
SELECT
    p._source || ':' || p.id AS product_id,
    'denver' AS branch_id,
    p.sku,
    p.name,
    c.name AS category,
    parent.name AS parent_category,
    CASE p.kind
        WHEN 'G' THEN 'good'
        WHEN 'S' THEN 'service'
        ELSE 'other'
    END AS kind,
    lower(p.unit) AS unit,
    p.purchase_price,
    p.list_price,
    p._source || ':' || p.supplier_id AS supplier_id,
    p.min_stock AS min_stock_qty,
    NOT p.is_archived AND p._deleted_at IS NULL AS is_active,
    p._source,
    p._loaded_at
FROM hist_stock.products AS p
LEFT JOIN hist_stock.categories AS c ON c.id = p.category_id
LEFT JOIN hist_stock.categories AS parent ON parent.id = c.parent_id
