"""The KPI definition language, its compiler to SQL, plans vs fact, scorecards and bonus."""
