"""Cross-cutting parts: settings, database, tenancy scoping, auth, errors, i18n."""
