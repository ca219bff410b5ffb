-- One row per lead (an enquiry) of a branch CRM. Leads the CRM's users deleted (is_deleted:
-- junk they cleaned up) are left out.
--
-- channel (channel_code): WEB website_form, CALL call_in, REF referral, MAIL email,
-- EXPO exhibition, MKTP marketplace. ADS (paid search ads) has no canonical channel and becomes
-- `other`; campaign keeps it apart: a paid channel's name is the lead's campaign.
-- status (status_code): NEW new, WRK in_progress, CNV converted, REJ rejected, JNK (junk)
-- rejected with reject_reason `spam`; the CRM records no reason for REJ.
-- email: lower-cased, null when not a valid address. phone: E.164 when typed in a valid US
-- format, else as typed. city: the city of the client the lead became (the CRM asks none).
-- deal_id: the first deal opened from the lead. first_response_at: the start of the earliest
-- activity (call, e-mail, meeting) the CRM links to the lead; null while it is unanswered.
WITH first_deals AS (
    SELECT _source, lead_id, min(id) AS deal_id
    FROM stg_crm.deals
    WHERE lead_id IS NOT NULL AND NOT is_deleted
    GROUP BY _source, lead_id
),

first_responses AS (
    SELECT _source, lead_id, min(started_at) AS first_response_at
    FROM stg_crm.activities
    WHERE lead_id IS NOT NULL
    GROUP BY _source, lead_id
)

SELECT
    l._source || ':' || l.id AS lead_id,
    l._branch AS branch_id,
    l.created_at,
    CASE l.channel_code
        WHEN 'WEB' THEN 'website_form'
        WHEN 'CALL' THEN 'call_in'
        WHEN 'REF' THEN 'referral'
        WHEN 'MAIL' THEN 'email'
        WHEN 'EXPO' THEN 'exhibition'
        WHEN 'MKTP' THEN 'marketplace'
        ELSE 'other'
    END AS channel,
    CASE WHEN ch.is_paid THEN ch.name END AS campaign,
    l.contact_name,
    l.company_name,
    CASE
        WHEN regexp_full_match(
            lower(l.email),
            '[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}'
        )
            THEN lower(l.email)
    END AS email,
    CASE
        WHEN regexp_full_match(
            l.phone,
            '\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\+1 \d{3} \d{3} \d{4}'
        )
            THEN '+1' || right(regexp_replace(l.phone, '\D', '', 'g'), 10)
        ELSE l.phone
    END AS phone,
    c.city,
    CASE l.status_code
        WHEN 'NEW' THEN 'new'
        WHEN 'WRK' THEN 'in_progress'
        WHEN 'CNV' THEN 'converted'
        WHEN 'REJ' THEN 'rejected'
        WHEN 'JNK' THEN 'rejected'
        ELSE 'other'
    END AS status,
    CASE WHEN l.status_code = 'JNK' THEN 'spam' END AS reject_reason,
    l._source || ':' || l.assigned_user_id AS owner_id,
    fr.first_response_at,
    l.converted_at,
    l._source || ':' || l.converted_client_id AS client_id,
    l._source || ':' || d.deal_id AS deal_id,
    l._source,
    l._loaded_at
FROM stg_crm.leads AS l
LEFT JOIN stg_crm.lead_channels AS ch ON ch._source = l._source AND ch.code = l.channel_code
LEFT JOIN stg_crm.clients AS c ON c._source = l._source AND c.id = l.converted_client_id
LEFT JOIN first_deals AS d ON d._source = l._source AND d.lead_id = l.id
LEFT JOIN first_responses AS fr ON fr._source = l._source AND fr.lead_id = l.id
WHERE NOT l.is_deleted
