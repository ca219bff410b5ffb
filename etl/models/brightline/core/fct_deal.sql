-- One row per deal (sales opportunity) of a branch CRM, in its current state. Deals the CRM's
-- users deleted (is_deleted) are left out.
--
-- status (status_code): O open, W won, L lost.
-- stage: the current stage's name ('Proposal sent'); stage_order: its place among the CRM's
-- pipeline stages by their sort_order, 1 = first; probability_pct: the stage's.
-- pipeline: the CRMs have a single pipeline, `sales`.
-- lead_id: null when the lead is not in core.fct_lead (deleted in the CRM, or held in
-- quarantine).
WITH stages AS (
    SELECT
        _source,
        id,
        name,
        probability_pct,
        row_number() OVER (PARTITION BY _source ORDER BY sort_order, id) AS stage_order
    FROM stg_crm.pipeline_stages
)

SELECT
    d._source || ':' || d.id AS deal_id,
    d._branch AS branch_id,
    d.opened_at,
    d.title,
    d._source || ':' || d.client_id AS client_id,
    CASE WHEN NOT l.is_deleted THEN d._source || ':' || d.lead_id END AS lead_id,
    d._source || ':' || d.owner_user_id AS owner_id,
    'sales' AS pipeline,
    s.name AS stage,
    s.stage_order,
    CASE d.status_code
        WHEN 'O' THEN 'open'
        WHEN 'W' THEN 'won'
        WHEN 'L' THEN 'lost'
        ELSE 'other'
    END AS status,
    d.lost_reason,
    d.amount,
    s.probability_pct,
    d.expected_close_on,
    d.closed_at,
    d._source,
    d._loaded_at
FROM stg_crm.deals AS d
LEFT JOIN stages AS s ON s._source = d._source AND s.id = d.stage_id
LEFT JOIN stg_crm.leads AS l ON l._source = d._source AND l.id = d.lead_id
WHERE NOT d.is_deleted
