package hooktailv1

// InvalidEntryTrailer is the gRPC trailer of an InvalidArgument answer to
// Ingest.Push that names the entry the aggregator can never store: its
// index in PushRequest.entries, in decimal. The agent then sends that entry
// raw, flagged parse_error, instead of retrying the same batch forever.
const InvalidEntryTrailer = "hooktail-invalid-entry"
