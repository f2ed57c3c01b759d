"""Service functions: plain data for the JSON API, the pages and the CLI. No HTTP here."""
