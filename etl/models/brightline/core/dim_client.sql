-- One row per client record of a branch CRM: companies (client_type C) and private persons (P).
-- Clients deleted in the CRM (is_deleted) or deleted from it altogether (gone at the source,
-- read from hist_crm) stay, flagged is_deleted, so that their invoices, deals and activities
-- still name them and their history adds up.
--
-- segment (segment_code): KEY key, SMB smb, MIC micro, PRV private.
-- industry: the CRM's text in lower snake_case ('IT services' → 'it_services').
-- acquisition_channel (source_code, a lead channel code): mapped as fct_lead.channel is.
-- tax_id: letters and digits only. email: lower-cased; null when it is not a valid address.
-- phone: E.164 when typed in one of the CRM's three valid US formats, else exactly as typed.
-- master_client_id: null here; the pipeline's duplicates step (validation/duplicates.py) sets it.
SELECT
    c._source || ':' || c.id AS client_id,
    c._branch AS branch_id,
    trim(c.name) AS name,
    CASE c.client_type
        WHEN 'C' THEN 'company'
        WHEN 'P' THEN 'person'
        ELSE 'other'
    END AS kind,
    CASE c.segment_code
        WHEN 'KEY' THEN 'key'
        WHEN 'SMB' THEN 'smb'
        WHEN 'MIC' THEN 'micro'
        WHEN 'PRV' THEN 'private'
        ELSE if(c.segment_code IS NULL, NULL, 'other')
    END AS segment,
    lower(regexp_replace(trim(c.industry), '[^A-Za-z0-9]+', '_', 'g')) AS industry,
    c.city,
    c.address,
    CASE c.source_code
        WHEN 'WEB' THEN 'website_form'
        WHEN 'CALL' THEN 'call_in'
        WHEN 'REF' THEN 'referral'
        WHEN 'MAIL' THEN 'email'
        WHEN 'EXPO' THEN 'exhibition'
        WHEN 'MKTP' THEN 'marketplace'
        ELSE if(c.source_code IS NULL, NULL, 'other')
    END AS acquisition_channel,
    c._source || ':' || c.responsible_user_id AS owner_id,
    upper(regexp_replace(c.tax_id, '[^A-Za-z0-9]', '', 'g')) AS tax_id,
    CASE
        WHEN regexp_full_match(
            lower(c.email),
            '[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}'
        )
            THEN lower(c.email)
    END AS email,
    CASE
        WHEN regexp_full_match(
            c.phone,
            '\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\+1 \d{3} \d{3} \d{4}'
        )
            THEN '+1' || right(regexp_replace(c.phone, '\D', '', 'g'), 10)
        ELSE c.phone
    END AS phone,
    CAST(NULL AS VARCHAR) AS master_client_id,
    c.created_at,
    c.is_deleted OR c._deleted_at IS NOT NULL AS is_deleted,
    c._source,
    c._loaded_at
FROM hist_crm.clients AS c
