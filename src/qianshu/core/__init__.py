"""Foundations every capability uses: settings, database, errors, i18n, identifiers, money, signing."""
