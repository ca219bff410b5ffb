-- One row per stage change of a deal (a row of the CRM's deal_stage_history); a deal's first
-- row, with no from_stage, is its creation. Changes of deals the CRM's users deleted are left
-- out with their deal; changes of a deal missing from the CRM stay (validation reports them).
--
-- from_stage / to_stage: the stages' names; to_stage_order: as fct_deal.stage_order.
-- left_at: when the deal's next change happened; for its last change, the deal's close when it
-- closed without reaching a final stage, else null (it is still there).
WITH stages AS (
    SELECT
        _source,
        id,
        name,
        is_final,
        row_number() OVER (PARTITION BY _source ORDER BY sort_order, id) AS stage_order
    FROM stg_crm.pipeline_stages
),

history AS (
    SELECT
        h.*,
        lead(h.changed_at) OVER (
            PARTITION BY h._source, h.deal_id ORDER BY h.changed_at, h.id
        ) AS next_changed_at
    FROM stg_crm.deal_stage_history AS h
)

SELECT
    h._source || ':' || h.id AS deal_stage_id,
    h._branch AS branch_id,
    h._source || ':' || h.deal_id AS deal_id,
    f.name AS from_stage,
    t.name AS to_stage,
    t.stage_order AS to_stage_order,
    h.changed_at AS entered_at,
    coalesce(h.next_changed_at, CASE WHEN NOT t.is_final THEN d.closed_at END) AS left_at,
    h._source || ':' || h.changed_by AS changed_by_id,
    h._source,
    h._loaded_at
FROM history AS h
LEFT JOIN stages AS f ON f._source = h._source AND f.id = h.from_stage_id
LEFT JOIN stages AS t ON t._source = h._source AND t.id = h.to_stage_id
LEFT JOIN stg_crm.deals AS d ON d._source = h._source AND d.id = h.deal_id
WHERE d.is_deleted IS NOT TRUE
