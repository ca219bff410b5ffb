-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
SELECT
  "period",
  "value"
FROM (
  SELECT
    CAST(DATE_TRUNC(
      'WEEK',
      CAST("f"."received_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
    ) AS DATE) AS "period",
    CAST(COUNT(*) FILTER(WHERE
      EXISTS(
        SELECT
          1
        FROM "core"."fct_service_request" AS "cf"
        WHERE
          "cf"."client_id" = "f"."client_id"
          AND CAST("cf"."received_at" AS TIMESTAMP) >= CAST("f"."received_at" AS TIMESTAMP)
          AND CAST("cf"."received_at" AS TIMESTAMP) <= CAST("f"."received_at" AS TIMESTAMP) + INTERVAL '14 DAY'
          AND "cf"."status" <> 'cancelled'
          AND "cf"."service_request_id" <> "f"."service_request_id"
      )) AS DOUBLE PRECISION) / NULLIF(CAST(COUNT(*) AS DOUBLE PRECISION), 0) AS "value"
  FROM "core"."fct_service_request" AS "f"
  LEFT JOIN "core"."dim_branch" AS "b"
    ON "b"."branch_id" = "f"."branch_id"
  WHERE
    (
      "f"."received_at" >= CAST(%(start_0)s AS TIMESTAMP) - INTERVAL '1 DAY'
      AND "f"."received_at" < CAST(%(end_1)s AS TIMESTAMP) + INTERVAL '2 DAY'
      AND (
        (
          "f"."received_at" >= CAST(%(start_0)s AS TIMESTAMP) + INTERVAL '1 DAY'
          AND "f"."received_at" < CAST(%(end_1)s AS TIMESTAMP)
        )
        OR CAST("f"."received_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE) BETWEEN %(start_0)s AND %(end_1)s
      )
      AND "f"."branch_id" IN (%(scope_2)s, %(scope_3)s)
    )
    AND "f"."status" <> 'cancelled'
  GROUP BY
    1
) AS "kpi"
ORDER BY
  "period";
