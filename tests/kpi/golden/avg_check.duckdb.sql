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
    "s"."period",
    "s"."employee",
    "s"."value_0" AS "value"
  FROM (
    SELECT
      "period",
      "employee",
      COALESCE("n0", 0) / NULLIF("d0", 0) AS "value_0",
      "cn0" > 0 OR "cd0" > 0 AS "present_0"
    FROM (
      SELECT
        CAST(DATE_TRUNC('MONTH', "f"."issued_on") AS DATE) AS "period",
        "f"."owner_id" AS "employee",
        CAST(SUM("f"."net_amount") AS DOUBLE) AS "n0",
        CAST(COUNT(*) FILTER(WHERE
          "f"."kind" = 'invoice') AS DOUBLE) AS "d0",
        CAST(COUNT(*) AS DOUBLE) AS "cn0",
        CAST(COUNT(*) FILTER(WHERE
          "f"."kind" = 'invoice') AS DOUBLE) AS "cd0"
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
    ) AS "r"
  ) AS "s"
  WHERE
    "s"."present_0"
) AS "kpi"
ORDER BY
  "period",
  "employee";
