"""Client conformance: drive any client through its adapter, judge it from the journal."""
