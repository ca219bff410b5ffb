-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
SELECT
  "period",
  "channel",
  "value"
FROM (
  SELECT
    "s"."period",
    "s"."channel",
    "s"."value_0" AS "value"
  FROM (
    SELECT
      "period",
      "channel",
      CAST(COALESCE("n0", 0) AS DOUBLE PRECISION) / NULLIF("d0", 0) AS "value_0",
      "cn0" > 0 OR "cd0" > 0 AS "present_0"
    FROM (
      SELECT
        CAST(DATE_TRUNC(
          'MONTH',
          CAST("f"."created_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
        ) AS DATE) AS "period",
        "f"."channel" AS "channel",
        CAST(COUNT(*) FILTER(WHERE
          "f"."status" = 'converted') AS DOUBLE PRECISION) AS "n0",
        CAST(COUNT(*) AS DOUBLE PRECISION) AS "d0",
        CAST(COUNT(*) FILTER(WHERE
          "f"."status" = 'converted') AS DOUBLE PRECISION) AS "cn0",
        CAST(COUNT(*) AS DOUBLE PRECISION) AS "cd0"
      FROM "core"."fct_lead" AS "f"
      LEFT JOIN "core"."dim_branch" AS "b"
        ON "b"."branch_id" = "f"."branch_id"
      WHERE
        "f"."created_at" >= CAST(%(start_0)s AS TIMESTAMP) - INTERVAL '1 DAY'
        AND "f"."created_at" < CAST(%(end_1)s AS TIMESTAMP) + INTERVAL '2 DAY'
        AND (
          (
            "f"."created_at" >= CAST(%(start_0)s AS TIMESTAMP) + INTERVAL '1 DAY'
            AND "f"."created_at" < CAST(%(end_1)s AS TIMESTAMP)
          )
          OR CAST("f"."created_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE) BETWEEN %(start_0)s AND %(end_1)s
        )
        AND "f"."branch_id" IN (%(scope_2)s, %(scope_3)s)
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
  "channel";
