-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
SELECT
  "period",
  "employee",
  "value"
FROM (
  SELECT
    CAST(DATE_TRUNC(
      'MONTH',
      CAST("f"."created_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
    ) AS DATE) AS "period",
    "f"."owner_id" AS "employee",
    CAST(COUNT(*) FILTER(WHERE
      EXISTS(
        SELECT
          1
        FROM "core"."fct_deal" AS "cf"
        WHERE
          "cf"."client_id" = "f"."client_id"
          AND CAST("cf"."closed_at" AS TIMESTAMP) >= CAST("f"."created_at" AS TIMESTAMP)
          AND CAST("cf"."closed_at" AS TIMESTAMP) <= CAST("f"."created_at" AS TIMESTAMP) + INTERVAL '90' DAY
          AND "cf"."status" = 'won'
      )) AS DOUBLE) / NULLIF(CAST(COUNT(*) AS DOUBLE), 0) AS "value"
  FROM "core"."fct_lead" AS "f"
  LEFT JOIN "core"."dim_branch" AS "b"
    ON "b"."branch_id" = "f"."branch_id"
  WHERE
    "f"."created_at" >= CAST($start_0 AS TIMESTAMP) - INTERVAL '1' DAY
    AND "f"."created_at" < CAST($end_1 AS TIMESTAMP) + INTERVAL '2' DAY
    AND (
      (
        "f"."created_at" >= CAST($start_0 AS TIMESTAMP) + INTERVAL '1' DAY
        AND "f"."created_at" < CAST($end_1 AS TIMESTAMP)
      )
      OR CAST("f"."created_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE) BETWEEN $start_0 AND $end_1
    )
    AND "f"."branch_id" IN ($scope_2, $scope_3)
  GROUP BY
    1,
    2
) AS "kpi"
ORDER BY
  "period",
  "employee";
