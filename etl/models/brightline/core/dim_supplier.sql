-- One row per supplier in the stock database.
--
-- branch_id: suppliers are company-wide and bought from by the head office in Denver (all
-- purchase orders go to the central warehouse), so every supplier carries 'denver'.
-- country: the stock database has no country; Brightline buys from US suppliers only: 'US'.
-- tax_id: letters and digits only. email: lower-cased. phone: E.164 when typed in a valid US
-- format, else as typed. payment_terms_days: not recorded in the stock database.
-- A supplier deleted from the stock database stays (read from hist_stock), inactive, so that its
-- products and purchase orders still name it.
SELECT
    s._source || ':' || s.id AS supplier_id,
    'denver' AS branch_id,
    trim(s.name) AS name,
    upper(regexp_replace(s.tax_id, '[^A-Za-z0-9]', '', 'g')) AS tax_id,
    s.city,
    'US' AS country,
    lower(trim(s.email)) AS email,
    CASE
        WHEN regexp_full_match(
            s.phone,
            '\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\+1 \d{3} \d{3} \d{4}'
        )
            THEN '+1' || right(regexp_replace(s.phone, '\D', '', 'g'), 10)
        ELSE s.phone
    END AS phone,
    CAST(NULL AS INTEGER) AS payment_terms_days,
    s.lead_time_days,
    s.is_active AND s._deleted_at IS NULL AS is_active,
    s._source,
    s._loaded_at
FROM hist_stock.suppliers AS s
