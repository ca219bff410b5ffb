-- One row per branch of Brightline Office Systems. Each branch runs its own CRM, declared in
-- kpiboard.toml as a source of the group `crm` with the branch code ('denver'), so a branch is
-- found as the `_branch` of its CRM's users (stg_crm.users), and its row comes from that CRM.
--
-- The CRMs keep no record of the branch itself: what they cannot tell (display name, region,
-- time zone, currency) is Brightline's reference data, written below. A branch missing from it
-- still gets a row (named after its code, in USD), so that no fact is left without its branch.
-- head_id: the branch's active branch head (CRM role HD); opened_on: the first hire date in the
-- branch's CRM, the earliest day it is known to have operated. _loaded_at: the latest load of
-- the users it was derived from.
WITH branches AS (
    SELECT
        _branch AS branch_id,
        min(_source) AS _source,
        min(hired_on) AS opened_on,
        max(_loaded_at) AS _loaded_at
    FROM stg_crm.users
    GROUP BY _branch
),

heads AS (
    SELECT
        _branch AS branch_id,
        arg_min(_source || ':' || id, id) AS head_id
    FROM stg_crm.users
    WHERE role_code = 'HD' AND is_active
    GROUP BY _branch
),

reference AS (
    SELECT *
    FROM (
        VALUES
            ('denver', 'Denver', 'Denver', 'Mountain', 'US', 'America/Denver', 'USD'),
            ('austin', 'Austin', 'Austin', 'South', 'US', 'America/Chicago', 'USD'),
            ('portland', 'Portland', 'Portland', 'Pacific', 'US', 'America/Los_Angeles', 'USD')
    ) AS t (branch_id, name, city, region, country, timezone, currency)
)

SELECT
    b.branch_id,
    coalesce(r.name, b.branch_id) AS name,
    r.city,
    r.region,
    r.country,
    r.timezone,
    coalesce(r.currency, 'USD') AS currency,
    h.head_id,
    b.opened_on,
    CAST(NULL AS DATE) AS closed_on,
    TRUE AS is_active,
    b._source,
    b._loaded_at
FROM branches AS b
LEFT JOIN reference AS r ON r.branch_id = b.branch_id
LEFT JOIN heads AS h ON h.branch_id = b.branch_id
