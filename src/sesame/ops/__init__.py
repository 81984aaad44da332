"""What the operator commands need beyond the forwarder: the index catalog and its queries,
the local query engine, Athena runs, and the receiving checks behind ``sesame activate``."""
