-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
SELECT
  "period",
  "value"
FROM (
  SELECT
    "s"."period",
    "s"."value_0" AS "value"
  FROM (
    SELECT
      "period",
      COALESCE("n0", 0) / NULLIF("d0", 0) AS "value_0",
      "cn0" > 0 OR "cd0" > 0 AS "present_0"
    FROM (
      SELECT
        CAST(DATE_TRUNC('QUARTER', "p"."issued_on") AS DATE) AS "period",
        CAST(SUM("f"."line_amount" - "f"."cost_amount") AS DOUBLE) AS "n0",
        CAST(SUM("f"."line_amount") AS DOUBLE) AS "d0",
        CAST(COUNT(*) AS DOUBLE) AS "cn0",
        CAST(COUNT(*) AS DOUBLE) AS "cd0"
      FROM "core"."fct_invoice_line" AS "f"
      LEFT JOIN "core"."fct_invoice" AS "p"
        ON "p"."invoice_id" = "f"."invoice_id"
      WHERE
        (
          "p"."issued_on" BETWEEN $start_0 AND $end_1
          AND "f"."branch_id" IN ($scope_2, $scope_3)
        )
        AND NOT "f"."cost_amount" IS NULL
        AND NOT "p"."status" IN ('draft', 'cancelled')
      GROUP BY
        1
    ) AS "r"
  ) AS "s"
  WHERE
    "s"."present_0"
) AS "kpi"
ORDER BY
  "period";
