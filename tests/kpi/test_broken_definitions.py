# ruff: noqa: E501  (the messages are compared whole: each stays on one line to be read as printed)
"""Broken KPI, plan and scorecard files: each gives exactly the located message written here."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpi_designer.errors import DefinitionError
from kpi_designer.loader import load_kpis
from kpi_designer.plans import load_plans
from kpi_designer.scorecards import load_scorecards

GOOD = """\
kpis:
  - id: revenue
    label: Revenue
    description: Net invoiced amount.
    unit: money
    type: simple
    fact: invoice
    agg: sum
    expr: net_amount
    filter: status <> 'cancelled'
  - id: invoice_count
    label: Invoices
    description: Invoices issued.
    unit: count
    type: simple
    fact: invoice
    agg: count
"""


def kpi(body: str) -> str:
    """One more KPI after the two good ones; its first line is line 18 of the file."""
    return GOOD + textwrap.indent(textwrap.dedent(body).strip() + "\n", "  ")


@dataclass(frozen=True)
class Broken:
    id: str
    text: str
    messages: tuple[str, ...]


HEAD = "  - id: x\n    label: X\n    description: d.\n"
BROKEN = [
    Broken(
        "not_yaml",
        "kpis: [\n",
        (
            "kpis/k.yaml:2:1: invalid YAML: the file ends in the middle of a value (a '[' or '{' never closed?)",
        ),
    ),
    # a syntax error is one line at the line and column to look at, in plain words
    Broken(
        "tab",
        GOOD.replace("    unit: count", "\tunit: count"),
        ("kpis/k.yaml:14:1: invalid YAML: a tab; YAML indents with spaces only",),
    ),
    Broken(
        "quote_that_runs_on",
        GOOD.replace("unit: money", 'unit: "money').replace("net_amount", '"net_amount"'),
        (
            "kpis/k.yaml:5:11: invalid YAML: this quoted string is not closed on its line, so it runs on to line 9",
        ),
    ),
    Broken(
        "quote_never_closed",
        GOOD.replace("agg: count", 'agg: "count'),
        ("kpis/k.yaml:17:10: invalid YAML: this quoted string is never closed",),
    ),
    Broken(
        "bracket_never_closed",
        GOOD.replace("filter: status <> 'cancelled'", "filter: [\"status <> 'cancelled'\""),
        (
            "kpis/k.yaml:10:13: invalid YAML: the '[' here is not closed by ']' (or lacks a comma) before line 11",
        ),
    ),
    Broken(
        "indent_that_lines_up_with_nothing",
        GOOD.replace("    unit: count", "   unit: count"),
        (
            "kpis/k.yaml:14:4: invalid YAML: this line does not line up with the lines above (the keys of one mapping, and the items of one list, start in the same column)",
        ),
    ),
    Broken(
        "key_without_colon",
        GOOD.replace("    unit: count", "    unit count"),
        ("kpis/k.yaml:14:5: invalid YAML: a key without ':' (write key: value)",),
    ),
    Broken("empty", "", ("kpis/k.yaml:1: empty file: a KPI file holds a list under kpis:",)),
    Broken("not_a_list", "kpis: revenue\n", ("kpis/k.yaml:1: kpis must be a list, not a string",)),
    Broken(
        "unknown_top_key",
        GOOD + "kpi_list: []\n",
        ("kpis/k.yaml:18: unknown key 'kpi_list' — did you mean 'kpis'?",),
    ),
    Broken(
        "misspelled_measure_column",
        kpi("""
            - id: avg_amount
              label: Average amount
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: avg
              expr: net_amout
            """),
        (
            "kpis/k.yaml:25: kpi 'avg_amount': expr: unknown column 'net_amout' of fact invoice — did you mean 'net_amount'?",
        ),
    ),
    Broken(
        "unknown_fact",
        kpi("""
            - id: calls
              label: Calls
              description: d.
              unit: count
              type: simple
              fact: activty
              agg: count
            """),
        ("kpis/k.yaml:23: kpi 'calls': unknown fact 'activty' — did you mean 'activity'?",),
    ),
    Broken(
        "fact_with_prefix",
        kpi("""
            - id: calls
              label: Calls
              description: d.
              unit: count
              type: simple
              fact: fct_activity
              agg: count
            """),
        (
            "kpis/k.yaml:23: kpi 'calls': fact 'fct_activity': write 'activity' (facts are named without fct_)",
        ),
    ),
    Broken(
        "unknown_type_and_unit",
        kpi("""
            - id: odd
              label: Odd
              description: d.
              unit: dollars
              type: simpel
            """),
        (
            "kpis/k.yaml:21: kpi 'odd': unit 'dollars' is not one of money, count, percent, hours, days",
            "kpis/k.yaml:22: kpi 'odd': type 'simpel' is not one of simple, ratio, derived, cumulative, conversion, period_over_period, balance, entities — did you mean 'simple'?",
        ),
    ),
    Broken(
        "missing_keys",
        kpi("""
            - id: bare
              type: simple
              fact: invoice
            """),
        (
            "kpis/k.yaml:18: kpi 'bare': needs label:",
            "kpis/k.yaml:18: kpi 'bare': needs description:",
            "kpis/k.yaml:18: kpi 'bare': needs unit:",
            "kpis/k.yaml:18: kpi 'bare': a simple KPI needs agg:",
        ),
    ),
    Broken(
        "misspelled_key",
        kpi("""
            - id: cancelled
              label: Cancelled
              description: d.
              unit: count
              type: simple
              fact: invoice
              agg: count
              filtr: status = 'cancelled'
            """),
        ("kpis/k.yaml:25: kpi 'cancelled': unknown key 'filtr' — did you mean 'filter'?",),
    ),
    Broken(
        "sum_without_expr",
        kpi("""
            - id: total
              label: Total
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
            """),
        ("kpis/k.yaml:24: kpi 'total': agg sum needs expr: (what to sum)",),
    ),
    Broken(
        "bad_sql",
        kpi("""
            - id: big
              label: Big
              description: d.
              unit: count
              type: simple
              fact: invoice
              agg: count
              filter: net_amount >
            """),
        (
            "kpis/k.yaml:25: kpi 'big': filter is not valid SQL: Required keyword: 'expression' missing for <class 'sqlglot.expressions.core.GT'>",
        ),
    ),
    Broken(
        "subquery",
        kpi("""
            - id: sneaky
              label: Sneaky
              description: d.
              unit: count
              type: simple
              fact: invoice
              agg: count
              filter: client_id IN (SELECT client_id FROM core.dim_client)
            """),
        ("kpis/k.yaml:25: kpi 'sneaky': filter must be an expression, not a query",),
    ),
    Broken(
        "qualified_column",
        kpi("""
            - id: q
              label: Q
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
              expr: f.net_amount
            """),
        ("kpis/k.yaml:25: kpi 'q': expr: write 'net_amount' without a table name (f.net_amount)",),
    ),
    # <table>.<column>: a table the fact reaches, or first_/last_ of a fact referring to it
    Broken(
        "related_table_misspelt",
        kpi("""
            - id: late
              label: Late
              description: d.
              unit: days
              type: simple
              fact: payment
              agg: avg
              expr: paid_on - invoce.due_on
            """),
        (
            "kpis/k.yaml:25: kpi 'late': expr: unknown table 'invoce' in invoce.due_on — did you mean 'invoice'? (fact payment reaches branch, employee, client, invoice)",
        ),
    ),
    Broken(
        "related_table_not_reached",
        kpi("""
            - id: priced
              label: Priced
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
              expr: net_amount
              filter: product.list_price > 100
            """),
        (
            "kpis/k.yaml:26: kpi 'priced': filter: unknown table 'product' in product.list_price (fact invoice reaches branch, employee, client, deal; first_ and last_ rows of invoice_line, payment, stock_move, service_request, delivery)",
        ),
    ),
    Broken(
        "related_column_unknown",
        kpi("""
            - id: late
              label: Late
              description: d.
              unit: days
              type: simple
              fact: payment
              agg: avg
              expr: paid_on - invoice.due
            """),
        (
            "kpis/k.yaml:25: kpi 'late': expr: unknown column 'due' of invoice (fct_invoice) in invoice.due — did you mean 'due_on'?",
        ),
    ),
    Broken(
        "first_of_a_fact_not_referring",
        kpi("""
            - id: answer
              label: Answer
              description: d.
              unit: hours
              type: simple
              fact: lead
              agg: avg
              expr: date_diff('hour', created_at, first_task.created_at)
            """),
        (
            "kpis/k.yaml:25: kpi 'answer': expr: first_task.created_at: fact task does not refer to fact lead (first_ takes one that does: deal, activity)",
        ),
    ),
    Broken(
        "last_on_a_fact_nothing_refers_to",
        kpi("""
            - id: p
              label: P
              description: d.
              unit: days
              type: simple
              fact: payment
              agg: max
              expr: last_invoice.issued_on - paid_on
            """),
        (
            "kpis/k.yaml:25: kpi 'p': expr: last_invoice.issued_on: fact invoice does not refer to fact payment (no fact refers to payment)",
        ),
    ),
    Broken(
        "related_column_of_a_first_row_unknown",
        kpi("""
            - id: settle
              label: Settle
              description: d.
              unit: days
              type: simple
              fact: invoice
              agg: avg
              expr: last_payment.paid_at - issued_on
            """),
        (
            "kpis/k.yaml:25: kpi 'settle': expr: unknown column 'paid_at' of last_payment (fct_payment) in last_payment.paid_at — did you mean 'paid_on'?",
        ),
    ),
    Broken(
        "related_table_in_conversion_filter",
        kpi("""
            - id: touch
              label: Touch
              description: d.
              unit: percent
              type: conversion
              base: {fact: lead}
              conversion: {fact: activity, filter: "leed.channel = 'chat'"}
              entity: client
              window: 7 days
            """),
        (
            "kpis/k.yaml:24: kpi 'touch': conversion filter: unknown table 'leed' in leed.channel — did you mean 'lead'? (fact activity reaches branch, employee, client, deal, lead)",
        ),
    ),
    # a related table's column in an input's filter is fine; the unknown column beside it is not
    Broken(
        "related_table_in_input_filter",
        kpi("""
            - id: share_late
              label: Late share
              description: d.
              unit: percent
              type: ratio
              numerator: {kpi: revenue, filter: "first_payment.paid_on > due_date"}
              denominator: revenue
            """),
        (
            "kpis/k.yaml:18: kpi 'share_late': filter on 'revenue': unknown column or dimension 'due_date' of fact invoice",
        ),
    ),
    Broken(
        "related_column_in_input_filter",
        kpi("""
            - id: share_late
              label: Late share
              description: d.
              unit: percent
              type: ratio
              numerator: {kpi: revenue, filter: "first_payment.paid > due_on"}
              denominator: revenue
            """),
        (
            "kpis/k.yaml:18: kpi 'share_late': filter on 'revenue': unknown column 'paid' of first_payment (fct_payment) in first_payment.paid — did you mean 'paid_on'?",
        ),
    ),
    Broken(
        "three_part_name",
        kpi("""
            - id: q
              label: Q
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
              expr: core.fct_invoice.net_amount
            """),
        (
            "kpis/k.yaml:25: kpi 'q': expr: core.fct_invoice.net_amount: name a related table's column as <table>.<column>",
        ),
    ),
    Broken(
        "unreachable_dimension_in_filter",
        kpi("""
            - id: printers
              label: Printers
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
              expr: net_amount
              filter: product_category = 'printers'
            """),
        (
            "kpis/k.yaml:26: kpi 'printers': filter: unknown column or dimension 'product_category' of fact invoice",
        ),
    ),
    Broken(
        "time_not_a_date",
        kpi("""
            - id: due
              label: Due
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
              expr: net_amount
              time: status
            """),
        (
            "kpis/k.yaml:26: kpi 'due': time 'status' is not a date or timestamp column of fact invoice (its dates: issued_on, due_on, ordered_on, required_on, promised_on, shipped_on)",
        ),
    ),
    Broken(
        "duplicate_id",
        kpi("""
            - id: revenue
              label: Revenue again
              description: d.
              unit: money
              type: simple
              fact: invoice
              agg: sum
              expr: total_amount
            """),
        ("kpis/k.yaml:18: kpi 'revenue': id is already used at kpis/k.yaml:2",),
    ),
    Broken(
        "unknown_input",
        kpi("""
            - id: avg_check
              label: Average check
              description: d.
              unit: money
              type: ratio
              numerator: revenu
              denominator: invoice_count
            """),
        ("kpis/k.yaml:18: kpi 'avg_check': unknown KPI 'revenu' — did you mean 'revenue'?",),
    ),
    Broken(
        "cycle",
        kpi("""
            - id: a
              label: A
              description: d.
              unit: money
              type: derived
              expr: b + revenue
            - id: b
              label: B
              description: d.
              unit: money
              type: derived
              expr: a * 2
            """),
        ("kpis/k.yaml:18: kpi 'a': depends on itself: a → b → a",),
    ),
    Broken(
        "mixed_units",
        kpi("""
            - id: nonsense
              label: Nonsense
              description: d.
              unit: money
              type: derived
              expr: revenue - invoice_count
            """),
        ("kpis/k.yaml:18: kpi 'nonsense': revenue - invoice_count mixes units money and count",),
    ),
    Broken(
        "cumulative_of_ratio",
        kpi("""
            - id: avg_check
              label: Average check
              description: d.
              unit: money
              type: ratio
              numerator: revenue
              denominator: invoice_count
            - id: avg_check_ytd
              label: Average check YTD
              description: d.
              unit: money
              type: cumulative
              kpi: avg_check
              to_date: year
            """),
        (
            "kpis/k.yaml:25: kpi 'avg_check_ytd': a cumulative KPI adds up a simple KPI; 'avg_check' is ratio",
        ),
    ),
    Broken(
        "bad_window",
        kpi("""
            - id: rev_window
              label: Revenue window
              description: d.
              unit: money
              type: cumulative
              kpi: revenue
              window: 3 fortnights
            """),
        (
            "kpis/k.yaml:24: kpi 'rev_window': window must be a length like '3 days' or '3 weeks' or '3 months', not '3 fortnights'",
        ),
    ),
    Broken(
        "to_date_and_window",
        kpi("""
            - id: rev_both
              label: Both
              description: d.
              unit: money
              type: cumulative
              kpi: revenue
              to_date: year
              window: 30 days
            """),
        ("kpis/k.yaml:25: kpi 'rev_both': give to_date or window, not both",),
    ),
    Broken(
        "conversion_entity_unreached",
        kpi("""
            - id: lead_to_stock
              label: L
              description: d.
              unit: percent
              type: conversion
              base: {fact: lead}
              conversion: {fact: stock_move}
              entity: client
              window: 30 days
            """),
        (
            "kpis/k.yaml:25: kpi 'lead_to_stock': entity 'client': the conversion fact stock_move does not reach it (it reaches branch, employee, product, warehouse, invoice)",
        ),
    ),
    Broken(
        "pop_unit",
        kpi("""
            - id: rev_yoy
              label: YoY
              description: d.
              unit: money
              type: period_over_period
              kpi: revenue
              compare: same_period_last_year
            """),
        (
            "kpis/k.yaml:18: kpi 'rev_yoy': output change_pct of 'revenue' (money) is in percent, not money",
        ),
    ),
    Broken(
        "ratio_input_filter_column",
        kpi("""
            - id: share_key
              label: Key share
              description: d.
              unit: percent
              type: ratio
              numerator: {kpi: revenue, filter: "segmnt = 'key'"}
              denominator: revenue
            """),
        (
            "kpis/k.yaml:18: kpi 'share_key': filter on 'revenue': unknown column or dimension 'segmnt' of fact invoice — did you mean 'client_segment'?",
        ),
    ),
    Broken(
        "balance_from_misspelt",
        kpi("""
            - id: pipeline
              label: Pipeline
              description: d.
              unit: money
              type: balance
              fact: deal
              agg: sum
              expr: amount
              from: opend_at
            """),
        (
            "kpis/k.yaml:26: kpi 'pipeline': from 'opend_at' is not a date or timestamp column of fact deal — did you mean 'opened_at'?",
        ),
    ),
    Broken(
        "balance_until_not_a_date",
        kpi("""
            - id: pipeline
              label: Pipeline
              description: d.
              unit: money
              type: balance
              fact: deal
              agg: sum
              expr: amount
              until: amount
            """),
        (
            "kpis/k.yaml:26: kpi 'pipeline': until 'amount' is not a date or timestamp column of fact deal (its dates: opened_at, expected_close_on, closed_at)",
        ),
    ),
    Broken(
        "balance_until_is_from",
        kpi("""
            - id: pipeline
              label: Pipeline
              description: d.
              unit: money
              type: balance
              fact: deal
              agg: sum
              expr: amount
              until: opened_at
            """),
        (
            "kpis/k.yaml:26: kpi 'pipeline': until 'opened_at' is the same column as from (the fact's time column by default): a row would stop counting on the day it starts",
        ),
    ),
    Broken(
        "balance_when_unknown_column",
        kpi("""
            - id: overdue
              label: Overdue
              description: d.
              unit: money
              type: balance
              fact: invoice
              agg: sum
              expr: total_amount
              when: [status <> 'cancelled', due_of < as_of]
            """),
        (
            "kpis/k.yaml:26: kpi 'overdue': when: unknown column or dimension 'due_of' of fact invoice — did you mean 'due_on'?",
        ),
    ),
    Broken(
        "balance_as_of_in_filter",
        kpi("""
            - id: overdue
              label: Overdue
              description: d.
              unit: money
              type: balance
              fact: invoice
              agg: sum
              expr: total_amount
              filter:
                - status <> 'cancelled'
                - due_on < as_of
            """),
        (
            "kpis/k.yaml:28: kpi 'overdue': filter: as_of (the period's last day) may only be used in when:",
        ),
    ),
    Broken(
        "balance_as_of_in_expr",
        kpi("""
            - id: days_overdue
              label: Days overdue
              description: d.
              unit: days
              type: balance
              fact: invoice
              agg: avg
              expr: as_of - due_on
            """),
        (
            "kpis/k.yaml:25: kpi 'days_overdue': expr: as_of (the period's last day) may only be used in when:",
        ),
    ),
    Broken(
        "balance_agg_without_expr",
        kpi("""
            - id: stock
              label: Stock
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
            """),
        ("kpis/k.yaml:24: kpi 'stock': agg sum needs expr: (what to sum)",),
    ),
    Broken(
        "balance_unknown_key",
        kpi("""
            - id: stock
              label: Stock
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              time: moved_at
            """),
        (
            "kpis/k.yaml:26: kpi 'stock': unknown key 'time' (balance takes fact, agg, expr, filter, from, until, when, per, having)",
        ),
    ),
    Broken(
        "balance_per_unknown_dimension",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              per: [prodct, warehouse]
              having: value < 3
            """),
        ("kpis/k.yaml:26: kpi 'low': per: unknown dimension 'prodct' — did you mean 'product'?",),
    ),
    Broken(
        "balance_per_not_reached",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              per: [product, client]
            """),
        (
            "kpis/k.yaml:26: kpi 'low': per: fact stock_move does not reach 'client' (fact stock_move reaches branch, region, employee, role, product, product_category, product_kind, warehouse, invoice)",
        ),
    ),
    Broken(
        "balance_per_named_twice",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              per: [product, product]
            """),
        ("kpis/k.yaml:26: kpi 'low': per: 'product' is named twice",),
    ),
    Broken(
        "balance_having_unknown_name",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              per: [product, warehouse]
              having: valu < product.min_stock_qty
            """),
        (
            "kpis/k.yaml:27: kpi 'low': having: unknown name 'valu' — did you mean 'value'? (having names value, the balance of each combination, the dimensions product, warehouse, product_category, product_kind, product.<column>, warehouse.<column>)",
        ),
    ),
    Broken(
        "balance_having_unknown_column",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              per: [product, warehouse]
              having: value < product.min_qty
            """),
        (
            "kpis/k.yaml:27: kpi 'low': having: unknown column 'min_qty' of product (dim_product) in product.min_qty — did you mean 'min_stock_qty'?",
        ),
    ),
    Broken(
        "balance_having_entity_not_per",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              per: warehouse
              having: value < product.min_stock_qty
            """),
        (
            "kpis/k.yaml:27: kpi 'low': having: product.min_stock_qty: product is not in per: warehouse (having names columns of the per entities' tables, which one combination determines)",
        ),
    ),
    Broken(
        "balance_having_without_per",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              having: value < 3
            """),
        (
            "kpis/k.yaml:26: kpi 'low': having needs per: (the dimensions whose combinations' balances it tests)",
        ),
    ),
    Broken(
        "balance_value_outside_having",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              filter: value > 0
              per: product
            """),
        (
            "kpis/k.yaml:26: kpi 'low': filter: value (the balance of each per combination) may only be used in having:",
        ),
    ),
    Broken(
        "balance_value_in_when",
        kpi("""
            - id: low
              label: Low
              description: d.
              unit: count
              type: balance
              fact: stock_move
              agg: sum
              expr: qty
              when: value > 0
              per: product
              having: value < 3
            """),
        (
            "kpis/k.yaml:26: kpi 'low': when: value (the balance of each per combination) may only be used in having:",
        ),
    ),
    Broken(
        "thresholds",
        kpi("""
            - id: t
              label: T
              description: d.
              unit: count
              type: simple
              fact: invoice
              agg: count
              thresholds: {green: 0.8, amber: 0.95}
            """),
        ("kpis/k.yaml:25: kpi 't': thresholds: amber (0.95) is above green (0.8)",),
    ),
    Broken(
        "entities_unknown_count",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: fresh
              entity: client
              events: {fact: invoice}
            """),
        (
            "kpis/k.yaml:23: kpi 'new_clients': count 'fresh' is not one of new, returning, reactivated, active",
        ),
    ),
    Broken(
        "entities_entity_not_a_dimension",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: clinet
              events: {fact: invoice}
            """),
        (
            "kpis/k.yaml:24: kpi 'new_clients': entity 'clinet' is not a dimension — did you mean 'client'?",
        ),
    ),
    Broken(
        "entities_entity_is_a_table",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: invoice
              events: {fact: invoice}
            """),
        (
            "kpis/k.yaml:24: kpi 'new_clients': entity 'invoice' is not a dimension (dimensions: branch, region, employee, role, client, client_segment, client_kind, industry, client_city, channel, product, product_category, product_kind, warehouse, supplier)",
        ),
    ),
    # every events fact must reach each dimension of the entity; the message names the one that does not
    Broken(
        "entities_entity_unreached",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: [client, product_category]
              events:
                - {fact: invoice_line}
                - {fact: deal}
            """),
        (
            "kpis/k.yaml:24: kpi 'new_clients': entity 'product_category': the events fact deal does not reach it (it reaches branch, region, employee, role, client, client_segment, client_kind, industry, client_city, channel)",
        ),
    ),
    Broken(
        "entities_entity_twice",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: [client, client]
              events: {fact: invoice}
            """),
        ("kpis/k.yaml:24: kpi 'new_clients': entity names 'client' twice",),
    ),
    Broken(
        "entities_gap_missing",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: reactivated
              entity: client
              events: {fact: invoice}
            """),
        (
            "kpis/k.yaml:23: kpi 'new_clients': count: reactivated needs gap: how long without an event makes the next one a reactivation (like '180 days')",
        ),
    ),
    Broken(
        "entities_gap_for_new",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: client
              events: {fact: invoice}
              gap: 90 days
            """),
        (
            "kpis/k.yaml:26: kpi 'new_clients': gap is for count: reactivated only (this KPI counts new entities)",
        ),
    ),
    Broken(
        "entities_gap_not_a_length",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: reactivated
              entity: client
              events: {fact: invoice}
              gap: 90
            """),
        (
            "kpis/k.yaml:26: kpi 'new_clients': gap must be a length like '3 days' or '3 weeks' or '3 months', not a number",
        ),
    ),
    Broken(
        "entities_gap_in_years",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: reactivated
              entity: client
              events: {fact: invoice}
              gap: 1 year
            """),
        (
            "kpis/k.yaml:26: kpi 'new_clients': gap must be a length like '3 days' or '3 weeks' or '3 months', not '1 year'",
        ),
    ),
    Broken(
        "entities_events_a_string",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: client
              events: invoice
            """),
        (
            "kpis/k.yaml:25: kpi 'new_clients': events must be a mapping ({fact: invoice}) or a list of them, not a string",
        ),
    ),
    Broken(
        "entities_events_empty",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: client
              events: []
            """),
        ("kpis/k.yaml:25: kpi 'new_clients': events is an empty list: name at least one fact",),
    ),
    Broken(
        "entities_events_item_unknown_key",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: client
              events:
                - {fact: invoice}
                - {fact: deal, filtre: "status = 'won'"}
            """),
        (
            "kpis/k.yaml:27: kpi 'new_clients': events 2: unknown key 'filtre' — did you mean 'filter'?",
        ),
    ),
    Broken(
        "entities_events_unknown_fact",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: client
              events: {fact: invoices}
            """),
        ("kpis/k.yaml:25: kpi 'new_clients': unknown fact 'invoices' — did you mean 'invoice'?",),
    ),
    Broken(
        "entities_events_filter_column",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: active
              entity: client
              events: {fact: invoice, filter: "stats = 'paid'"}
            """),
        (
            "kpis/k.yaml:25: kpi 'new_clients': events filter: unknown column or dimension 'stats' of fact invoice — did you mean 'status'?",
        ),
    ),
    Broken(
        "entities_unknown_key",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: client
              events: {fact: invoice}
              window: 30 days
            """),
        (
            "kpis/k.yaml:26: kpi 'new_clients': unknown key 'window' (entities takes count, entity, events, gap)",
        ),
    ),
    Broken(
        "entities_unit",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: money
              type: entities
              count: new
              entity: client
              events: {fact: invoice}
            """),
        (
            "kpis/k.yaml:18: kpi 'new_clients': an entities KPI counts entities: its unit is count, not money",
        ),
    ),
    Broken(
        "entities_events_missing",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: client
            """),
        ("kpis/k.yaml:18: kpi 'new_clients': an entities KPI needs events:",),
    ),
    Broken(
        "entities_entity_a_mapping",
        kpi("""
            - id: new_clients
              label: New clients
              description: d.
              unit: count
              type: entities
              count: new
              entity: {name: client}
              events: {fact: invoice}
            """),
        (
            "kpis/k.yaml:24: kpi 'new_clients': entity must be a dimension or a list of them, not a mapping",
        ),
    ),
]


@pytest.mark.parametrize("case", BROKEN, ids=[c.id for c in BROKEN])
def test_a_broken_kpi_file_gives_exactly_its_messages(tmp_path: Path, case: Broken) -> None:
    folder = tmp_path / "kpis"
    folder.mkdir()
    (folder / "k.yaml").write_text(case.text)
    with pytest.raises(DefinitionError) as error:
        load_kpis(folder)
    assert [str(p) for p in error.value.problems] == list(case.messages)


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "kpis"
    folder.mkdir()
    (folder / "a.yaml").write_text(BROKEN[4].text)
    (folder / "b.yaml").write_text(
        BROKEN[5].text.replace("revenue", "revenue_b").replace("invoice_count", "count_b")
    )
    with pytest.raises(DefinitionError) as error:
        load_kpis(folder)
    assert [str(p).split(":")[0] for p in error.value.problems] == ["kpis/a.yaml", "kpis/b.yaml"]


USERS = """\
kpis:
  - id: avg_check
    label: Average check
    description: d.
    unit: money
    type: ratio
    numerator: revenue
    denominator: invoice_count
  - id: avg_check_growth
    label: Average check growth
    description: d.
    unit: percent
    type: period_over_period
    kpi: avg_check
    compare: previous_period
  - id: typo
    label: Typo
    description: d.
    unit: money
    type: derived
    expr: revenu
"""


@pytest.mark.parametrize(
    ("sales", "message"),
    [
        (
            GOOD.replace("    unit: count", "\tunit: count"),
            "kpis/a.yaml:14:1: invalid YAML: a tab; YAML indents with spaces only (its KPIs are not loaded, nor avg_check, avg_check_growth, which use them)",
        ),
        (
            GOOD.replace("unit: count", "unit: counts"),
            "kpis/a.yaml:14: kpi 'invoice_count': unit 'counts' is not one of money, count, percent, hours, days — did you mean 'count'? (also leaves out avg_check, avg_check_growth, which use it)",
        ),
    ],
    ids=["syntax_error", "kpi_with_a_problem"],
)
def test_kpis_using_a_broken_kpi_are_named_on_its_problem_not_reported_again(
    tmp_path: Path, sales: str, message: str
) -> None:
    folder = tmp_path / "kpis"
    folder.mkdir()
    (folder / "a.yaml").write_text(sales)
    (folder / "b.yaml").write_text(USERS)
    with pytest.raises(DefinitionError) as error:
        load_kpis(folder)
    assert [str(p) for p in error.value.problems] == [
        message,
        # a name no file defines is still a problem of its own
        "kpis/b.yaml:16: kpi 'typo': unknown KPI 'revenu' — did you mean 'revenue'?",
    ]


def test_an_unknown_kpi_named_twice_by_a_ratio_is_one_problem(tmp_path: Path) -> None:
    folder = tmp_path / "kpis"
    folder.mkdir()
    (folder / "k.yaml").write_text(
        kpi("""
            - id: share
              label: Share
              description: d.
              unit: percent
              type: ratio
              numerator: {kpi: revenu, filter: "status = 'paid'"}
              denominator: revenu
            """)
    )
    with pytest.raises(DefinitionError) as error:
        load_kpis(folder)
    assert [str(p) for p in error.value.problems] == [
        "kpis/k.yaml:18: kpi 'share': unknown KPI 'revenu' — did you mean 'revenue'?"
    ]


PLAN_HEADER = "kpi,period,employee,branch,plan\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "kpi,period,plan\nrevenu,2026-03,100\n",
            "plans/p.csv:2: unknown KPI 'revenu' — did you mean 'revenue'?",
        ),
        (
            "kpi,period,plan\nrevenue,2026-13,100\n",
            "plans/p.csv:2: period '2026-13' is not a day (2026-03-15), week (2026-W11), month (2026-03), quarter (2026-Q1) or year (2026)",
        ),
        ("kpi,period,plan\nrevenue,2026-03,lots\n", "plans/p.csv:2: plan 'lots' is not a number"),
        (
            "kpi,period,branch,plan\nrevenue,2026-03,denver\n",
            "plans/p.csv:2: 3 cells, the header has 4",
        ),
        (
            "kpi,period,brnch,plan\n",
            "plans/p.csv:1: unknown column 'brnch' — did you mean 'branch'?",
        ),
        ("kpi,period\n", "plans/p.csv:1: missing column 'plan' in the header"),
        (
            "kpi,period,product,plan\nrevenue,2026-03,p1,5\n",
            "plans/p.csv:2: kpi 'revenue' cannot be sliced by 'product'",
        ),
        (  # a quote left open: one line, not the rest of the file quoted as a plan value
            PLAN_HEADER + 'revenue,2026-03,e1,,"100\nrevenue,2026-04,e1,,120\n',
            "plans/p.csv:2: a quote in this row is not closed on its line, so its cell runs on to the end of the file",
        ),
        (
            PLAN_HEADER + "revenue,2026-03,e1,,100\nrevenue,2026-03,e1,,120\n",
            "plans/p.csv:3: a plan for 'revenue' in this period and slice is already set at plans/p.csv:2",
        ),
    ],
)
def test_a_broken_plan_file_gives_its_located_message(
    tmp_path: Path, text: str, message: str
) -> None:
    kpis = _good_kpis(tmp_path)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "p.csv").write_text(text)
    with pytest.raises(DefinitionError) as error:
        load_plans(tmp_path / "plans", kpis)
    assert [str(p) for p in error.value.problems] == [message]


def test_rows_after_a_cell_with_a_line_break_keep_their_line_numbers(tmp_path: Path) -> None:
    kpis = _good_kpis(tmp_path)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "p.csv").write_text(
        PLAN_HEADER + 'revenue,2026-03,e1,,"100\n"\nrevenu,2026-04,e1,,120\n'
    )
    with pytest.raises(DefinitionError) as error:
        load_plans(tmp_path / "plans", kpis)
    assert [str(p) for p in error.value.problems] == [
        "plans/p.csv:2: a quote in this row is not closed on its line, so its cell runs on to line 3",
        "plans/p.csv:4: unknown KPI 'revenu' — did you mean 'revenue'?",
    ]


CARD = """\
role: sales_manager
label: Sales manager
base_amount: 1000
kpis:
  - {kpi: revenue, weight: 0.7}
  - {kpi: invoice_count, weight: 0.3}
gates:
  - {kpi: revenue, min_achievement: 0.8}
bonus: base_amount * score
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            CARD.replace("sales_manager", "sales_mgr"),
            "scorecards/s.yaml:1: unknown role 'sales_mgr' — did you mean 'sales_manager'?",
        ),
        (
            CARD.replace("kpi: revenue, weight", "kpi: revenu, weight"),
            "scorecards/s.yaml:5: kpis: unknown KPI 'revenu' — did you mean 'revenue'?",
        ),
        (CARD.replace("weight: 0.3", "weight: -1"), "scorecards/s.yaml:6: weight must be above 0"),
        (
            CARD.replace("base_amount * score", "base * score"),
            "scorecards/s.yaml:9: bonus: unknown name 'base' — did you mean 'base_amount'? (the formula may use score, base_amount)",
        ),
        (
            CARD + "cap: 0.5\nfloor: 0.9\n",
            "scorecards/s.yaml:10: cap (0.5) must be above floor (0.9)",
        ),
        (
            CARD.replace("min_achievement", "min"),
            "scorecards/s.yaml:8: gates 1: unknown key 'min' — did you mean 'min_achievement'?",
        ),
        (
            CARD.replace("weight: 0.7}", "weight: 0.7"),
            "scorecards/s.yaml:5:5: invalid YAML: the '{' here is not closed by '}' (or lacks a comma) before line 6",
        ),
        (
            CARD + "bonuses: 1\n",
            "scorecards/s.yaml:10: unknown key 'bonuses' — did you mean 'bonus'?",
        ),
    ],
)
def test_a_broken_scorecard_gives_its_located_message(
    tmp_path: Path, text: str, message: str
) -> None:
    kpis = _good_kpis(tmp_path)
    (tmp_path / "scorecards").mkdir()
    (tmp_path / "scorecards" / "s.yaml").write_text(text)
    with pytest.raises(DefinitionError) as error:
        load_scorecards(tmp_path / "scorecards", kpis)
    assert [str(p) for p in error.value.problems] == [message]


def _good_kpis(tmp_path: Path) -> dict[str, object]:
    folder = tmp_path / "kpis"
    folder.mkdir(exist_ok=True)
    (folder / "good.yaml").write_text(GOOD)
    return dict(load_kpis(folder))


@pytest.mark.parametrize(
    ("kind", "body", "needs"),
    [
        ("simple", "fact: invoice", "agg"),
        ("simple", "agg: count", "fact"),
        ("ratio", "numerator: revenue", "denominator"),
        ("ratio", "denominator: revenue", "numerator"),
        ("derived", "inputs: [revenue]", "expr"),
        ("cumulative", "of: revenue\nto_date: year", "kpi"),
        ("conversion", "base: {fact: lead}", "conversion"),
        ("period_over_period", "kpi: revenue", "compare"),
        ("period_over_period", "compare: previous_period", "kpi"),
        ("balance", "fact: stock_move\nexpr: qty", "agg"),
        ("balance", "agg: count\nuntil: done_at", "fact"),
        ("entities", "count: new\nentity: client", "events"),
        ("entities", "entity: client\nevents: {fact: invoice}", "count"),
        ("entities", "count: active\nevents: {fact: invoice}", "entity"),
    ],
)
def test_a_kpi_without_a_key_its_type_needs_is_a_located_problem(
    tmp_path: Path, kind: str, body: str, needs: str
) -> None:
    folder = tmp_path / "kpis"
    folder.mkdir()
    text = kpi(f"- id: x\n  label: X\n  description: d.\n  unit: count\n  type: {kind}\n")
    (folder / "k.yaml").write_text(text + "".join(f"    {line}\n" for line in body.split("\n")))
    with pytest.raises(DefinitionError) as error:
        load_kpis(folder)
    article = "an" if kind[0] in "aeiou" else "a"
    assert f"kpis/k.yaml:18: kpi 'x': {article} {kind} KPI needs {needs}:" in [
        str(p) for p in error.value.problems
    ]
