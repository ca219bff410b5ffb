"""The report catalog, its renderers (HTML, PDF, XLSX, CSV), schedules and mail delivery."""
