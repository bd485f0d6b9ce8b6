"""Discovery: search with typo tolerance, filters, distance and availability; profiles; reviews; credentials."""
