-- One row per task of a branch CRM. Tasks the CRM's users deleted (is_deleted) are left out.
--
-- status (status_code): OPEN open, DONE done, CANC cancelled.
-- kind: the CRM has no task type, so it is read from the title, first match wins:
-- "Call…" call; "…review…" or "…meeting…" meeting; "…e-mail…" or "…email…" email;
-- "Remind…", "…follow…" or "…feedback…" follow_up; "Send…" or "Prepare…" document; else other.
-- deal_id: null when the deal is not in core.fct_deal (deleted in the CRM, or held in
-- quarantine).
SELECT
    t._source || ':' || t.id AS task_id,
    t._branch AS branch_id,
    t.created_at,
    t.title,
    CASE
        WHEN t.title ILIKE 'call%' THEN 'call'
        WHEN t.title ILIKE '%review%' OR t.title ILIKE '%meeting%' THEN 'meeting'
        WHEN t.title ILIKE '%e-mail%' OR t.title ILIKE '%email%' THEN 'email'
        WHEN t.title ILIKE 'remind%' OR t.title ILIKE '%follow%' OR t.title ILIKE '%feedback%'
            THEN 'follow_up'
        WHEN t.title ILIKE 'send %' OR t.title ILIKE 'prepare %' THEN 'document'
        ELSE 'other'
    END AS kind,
    t._source || ':' || t.assignee_id AS assignee_id,
    t._source || ':' || t.author_id AS author_id,
    t._source || ':' || t.client_id AS client_id,
    CASE WHEN NOT d.is_deleted THEN t._source || ':' || t.deal_id END AS deal_id,
    t.due_at,
    t.done_at,
    CASE t.status_code
        WHEN 'OPEN' THEN 'open'
        WHEN 'DONE' THEN 'done'
        WHEN 'CANC' THEN 'cancelled'
        ELSE 'other'
    END AS status,
    t._source,
    t._loaded_at
FROM stg_crm.tasks AS t
LEFT JOIN stg_crm.deals AS d ON d._source = t._source AND d.id = t.deal_id
WHERE NOT t.is_deleted
