"""One module per KPI type, each a function ``(builder, kpi, query) → SELECT`` returning the
KPI's rows: ``period`` (the first day of the period, a ``DATE``), one column per dimension of
``query.by``, and ``value`` (``DOUBLE``).

A type's compiler reads facts through the :class:`~kpi_designer.compiler.builder.Builder`
(:meth:`~kpi_designer.compiler.builder.Builder.rows`,
:meth:`~kpi_designer.compiler.builder.Builder.measures`), other KPIs' rows through
:meth:`~kpi_designer.compiler.builder.Builder.kpi`, and binds values with
:meth:`~kpi_designer.compiler.builder.Builder.param`. A new type is a new module here and one
line in :data:`kpi_designer.compiler.types.registry.COMPILERS`.
"""
