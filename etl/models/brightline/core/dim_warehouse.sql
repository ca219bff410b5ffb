-- One row per warehouse of the stock database.
--
-- kind: the central warehouse (code CEN) is `main`; each branch's own stock room (DEN, AUS,
-- POR) is `store`.
-- branch_id: the warehouse's branch_code. The central warehouse has none: it is run by the
-- Denver head office (docs/demo.md), so it is 'denver'.
-- keeper_id: the active warehouse keeper (CRM role WK) of that branch's CRM.
-- address: not recorded in the stock database. A warehouse deleted from the stock database
-- stays (read from hist_stock), inactive, so that its moves still name it.
WITH keepers AS (
    SELECT
        _branch AS branch_id,
        arg_min(_source || ':' || id, id) AS keeper_id
    FROM stg_crm.users
    WHERE role_code = 'WK' AND is_active
    GROUP BY _branch
)

SELECT
    w._source || ':' || w.id AS warehouse_id,
    coalesce(w.branch_code, 'denver') AS branch_id,
    w.name,
    CASE WHEN w.code = 'CEN' THEN 'main' ELSE 'store' END AS kind,
    w.city,
    CAST(NULL AS VARCHAR) AS address,
    k.keeper_id,
    w.is_active AND w._deleted_at IS NULL AS is_active,
    w._source,
    w._loaded_at
FROM hist_stock.warehouses AS w
LEFT JOIN keepers AS k ON k.branch_id = coalesce(w.branch_code, 'denver')
