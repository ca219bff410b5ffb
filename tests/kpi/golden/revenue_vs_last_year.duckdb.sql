-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
-- start_4 = datetime.date(2025, 1, 1)
-- end_5 = datetime.date(2025, 6, 30)
SELECT
  "period",
  "region",
  "value"
FROM (
  SELECT
    "n"."period",
    "n"."region",
    CAST((
      "n"."value" - COALESCE("p"."value", 0)
    ) / NULLIF(COALESCE("p"."value", 0), 0) AS DOUBLE) AS "value"
  FROM (
    SELECT
      CAST(DATE_TRUNC('MONTH', "f"."issued_on") AS DATE) AS "period",
      "b"."region" AS "region",
      CAST(SUM("f"."net_amount") AS DOUBLE) AS "value"
    FROM "core"."fct_invoice" AS "f"
    LEFT JOIN "core"."dim_branch" AS "b"
      ON "b"."branch_id" = "f"."branch_id"
    WHERE
      (
        "f"."issued_on" BETWEEN $start_0 AND $end_1
        AND "f"."branch_id" IN ($scope_2, $scope_3)
      )
      AND NOT "f"."status" IN ('draft', 'cancelled')
    GROUP BY
      1,
      2
  ) AS "n"
  LEFT JOIN (
    SELECT
      CAST(DATE_TRUNC('MONTH', "f"."issued_on") AS DATE) AS "period",
      "b"."region" AS "region",
      CAST(SUM("f"."net_amount") AS DOUBLE) AS "value"
    FROM "core"."fct_invoice" AS "f"
    LEFT JOIN "core"."dim_branch" AS "b"
      ON "b"."branch_id" = "f"."branch_id"
    WHERE
      (
        "f"."issued_on" BETWEEN $start_4 AND $end_5
        AND "f"."branch_id" IN ($scope_2, $scope_3)
      )
      AND NOT "f"."status" IN ('draft', 'cancelled')
    GROUP BY
      1,
      2
  ) AS "p"
    ON CAST("n"."period" - INTERVAL '12' MONTH AS DATE) IS NOT DISTINCT FROM "p"."period"
    AND "n"."region" IS NOT DISTINCT FROM "p"."region"
) AS "kpi"
ORDER BY
  "period",
  "region";
