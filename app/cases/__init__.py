"""Cases (办件): one-window acceptance, parallel review, the working-day clock, unified issuance."""
