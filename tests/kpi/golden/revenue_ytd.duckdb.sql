-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
SELECT
  "period",
  "value"
FROM (
  SELECT
    "c"."period",
    CAST(SUM("r"."v") AS DOUBLE) AS "value"
  FROM (
    SELECT
      CAST(DATE_TRUNC('MONTH', "d"."calendar_date") AS DATE) AS "period",
      MAX("d"."calendar_date") AS "period_end",
      CAST(DATE_TRUNC('YEAR', MAX("d"."calendar_date")) AS DATE) AS "window_start"
    FROM "core"."dim_date" AS "d"
    WHERE
      "d"."calendar_date" BETWEEN $start_0 AND $end_1
    GROUP BY
      1
  ) AS "c"
  JOIN (
    SELECT
      CAST(DATE_TRUNC('MONTH', "f"."issued_on") AS DATE) AS "day",
      SUM("f"."net_amount") AS "v"
    FROM "core"."fct_invoice" AS "f"
    WHERE
      (
        "f"."issued_on" BETWEEN $start_0 AND $end_1
        AND "f"."branch_id" IN ($scope_2, $scope_3)
      )
      AND NOT "f"."status" IN ('draft', 'cancelled')
    GROUP BY
      1
  ) AS "r"
    ON "r"."day" <= "c"."period_end" AND "r"."day" >= "c"."window_start"
  GROUP BY
    1
) AS "kpi"
ORDER BY
  "period";
