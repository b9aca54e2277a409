"""Regions of the app: one module per tab, plus the forms and dialogs."""
