package archive

import "github.com/fleetpulse/fleetpulse/domain"

// ReadFile decodes the bytes of an archive file (one the Archiver wrote,
// read from the bucket or copied anywhere) into the telemetry events it
// holds, in log order, each with its decoded event. Bytes that are not an
// archive file are refused with ErrCorrupt, a file of another layout with
// ErrUnknownSchemaVersion. The bulk import (infra/importer) re-records the
// events' items through it; name only labels errors.
func ReadFile(name string, data []byte) ([]domain.RecordedEvent, error) {
	return decodeFile(name, data)
}
