-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
SELECT
  "period",
  "branch",
  "value"
FROM (
  SELECT
    CAST(DATE_TRUNC('MONTH', "f"."issued_on") AS DATE) AS "period",
    "f"."branch_id" AS "branch",
    CAST(SUM("f"."net_amount") AS DOUBLE) AS "value"
  FROM "core"."fct_invoice" AS "f"
  WHERE
    (
      "f"."issued_on" BETWEEN $start_0 AND $end_1
      AND "f"."branch_id" IN ($scope_2, $scope_3)
    )
    AND NOT "f"."status" IN ('draft', 'cancelled')
  GROUP BY
    1,
    2
) AS "kpi"
ORDER BY
  "period",
  "branch";
