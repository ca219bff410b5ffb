-- scope_0 = 'denver'
-- scope_1 = 'austin'
-- end_2 = datetime.date(2026, 6, 30)
-- start_3 = datetime.date(2026, 1, 1)
SELECT
  "period",
  "branch",
  "value"
FROM (
  SELECT
    CAST(DATE_TRUNC('MONTH', "day") AS DATE) AS "period",
    "branch",
    CAST(COUNT(*) AS DOUBLE PRECISION) AS "value"
  FROM (
    SELECT
      *
    FROM (
      SELECT
        "day",
        "counted",
        "branch",
        ROW_NUMBER() OVER (PARTITION BY "entity_0" ORDER BY "day", "moment", "source", "row_key") AS "nth"
      FROM (
        SELECT
          COALESCE("d_client"."master_client_id", "f"."client_id") AS "entity_0",
          "f"."issued_on" AS "day",
          "f"."branch_id" AS "branch",
          "f"."branch_id" IN (%(scope_0)s, %(scope_1)s) AS "counted",
          CAST("f"."issued_on" AS TIMESTAMP) AS "moment",
          0 AS "source",
          "f"."invoice_id" AS "row_key"
        FROM "core"."fct_invoice" AS "f"
        LEFT JOIN "core"."dim_client" AS "d_client"
          ON "d_client"."client_id" = "f"."client_id"
        WHERE
          NOT COALESCE("d_client"."master_client_id", "f"."client_id") IS NULL
          AND (
            "f"."kind" = 'invoice' AND NOT "f"."status" IN ('draft', 'cancelled')
          )
          AND "f"."issued_on" <= %(end_2)s
      ) AS "events"
    ) AS "ranked"
    WHERE
      "nth" = 1
  ) AS "c"
  WHERE
    "counted" AND "day" BETWEEN %(start_3)s AND %(end_2)s
  GROUP BY
    1,
    2
) AS "kpi"
ORDER BY
  "period",
  "branch";
