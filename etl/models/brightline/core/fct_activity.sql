-- One row per logged call, e-mail, meeting or visit of a branch CRM.
--
-- kind (type_code): CIN call_in, COUT call_out, MEET meeting, MAIL email, VIS visit.
-- outcome (outcome_code): OK completed; NOAN no_answer, or missed on an incoming call (nobody
-- took it); CB (call back) rescheduled; REF (the client refused) other.
-- duration_seconds: duration_sec as recorded (null for e-mails).
-- deal_id, lead_id: the deal the activity concerns, the lead it answers or follows up (the CRM
-- links an activity to a lead until the lead becomes a client); null when the deal or lead is not
-- in core (deleted in the CRM, or held in quarantine) or is unknown to the CRM (its id withheld by
-- validation).
SELECT
    a._source || ':' || a.id AS activity_id,
    a._branch AS branch_id,
    a.started_at AS occurred_at,
    CASE a.type_code
        WHEN 'CIN' THEN 'call_in'
        WHEN 'COUT' THEN 'call_out'
        WHEN 'MEET' THEN 'meeting'
        WHEN 'MAIL' THEN 'email'
        WHEN 'VIS' THEN 'visit'
        ELSE 'other'
    END AS kind,
    a.duration_sec AS duration_seconds,
    CASE
        WHEN a.outcome_code IS NULL THEN NULL
        WHEN a.outcome_code = 'OK' THEN 'completed'
        WHEN a.outcome_code = 'NOAN' AND a.type_code = 'CIN' THEN 'missed'
        WHEN a.outcome_code = 'NOAN' THEN 'no_answer'
        WHEN a.outcome_code = 'CB' THEN 'rescheduled'
        ELSE 'other'
    END AS outcome,
    a.subject,
    a._source || ':' || a.user_id AS employee_id,
    a._source || ':' || a.client_id AS client_id,
    CASE WHEN NOT d.is_deleted THEN a._source || ':' || a.deal_id END AS deal_id,
    CASE WHEN NOT l.is_deleted THEN a._source || ':' || a.lead_id END AS lead_id,
    a._source,
    a._loaded_at
FROM stg_crm.activities AS a
LEFT JOIN stg_crm.deals AS d ON d._source = a._source AND d.id = a.deal_id
LEFT JOIN stg_crm.leads AS l ON l._source = a._source AND l.id = a.lead_id
