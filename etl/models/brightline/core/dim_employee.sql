-- One row per user of a branch CRM: the CRM's users are the branch's employees, current and
-- former (fired_on is their last working day). A user deleted from the CRM stays (read from
-- hist_crm), inactive, so that the rows they own still name them.
--
-- role (CRM role_code): SM sales_manager, SE service_engineer, DR driver, WK warehouse_keeper,
-- HD (branch head) and EX executive, AN analyst; a code not listed here becomes `other`.
-- job_title: the CRM keeps only the role code, so it is the code's meaning ('Branch head').
-- department: not recorded by the CRM.
-- email: lower-cased. phone: E.164 ('+13035550142') when typed in one of the CRM's three valid
-- US formats — (303) 555-0142, 303-555-0142, +1 303 555 0142 — otherwise exactly as typed.
SELECT
    u._source || ':' || u.id AS employee_id,
    u._branch AS branch_id,
    trim(u.full_name) AS full_name,
    CASE u.role_code
        WHEN 'SM' THEN 'sales_manager'
        WHEN 'SE' THEN 'service_engineer'
        WHEN 'DR' THEN 'driver'
        WHEN 'WK' THEN 'warehouse_keeper'
        WHEN 'HD' THEN 'executive'
        WHEN 'EX' THEN 'executive'
        WHEN 'AN' THEN 'analyst'
        ELSE 'other'
    END AS role,
    CASE u.role_code
        WHEN 'SM' THEN 'Sales manager'
        WHEN 'SE' THEN 'Service engineer'
        WHEN 'DR' THEN 'Driver'
        WHEN 'WK' THEN 'Warehouse keeper'
        WHEN 'HD' THEN 'Branch head'
        WHEN 'EX' THEN 'Executive'
        WHEN 'AN' THEN 'Analyst'
        ELSE u.role_code
    END AS job_title,
    CAST(NULL AS VARCHAR) AS department,
    u._source || ':' || u.manager_id AS manager_id,
    lower(trim(u.email)) AS email,
    CASE
        WHEN regexp_full_match(
            u.phone,
            '\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\+1 \d{3} \d{3} \d{4}'
        )
            THEN '+1' || right(regexp_replace(u.phone, '\D', '', 'g'), 10)
        ELSE u.phone
    END AS phone,
    u.hired_on,
    u.fired_on AS left_on,
    u.is_active AND u._deleted_at IS NULL AS is_active,
    u._source,
    u._loaded_at
FROM hist_crm.users AS u
