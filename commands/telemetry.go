package commands

import "github.com/google/uuid"

// telemetryNamespace scopes telemetry event ids: the event id of a
// measurement is derived from (device, client id), so a retry with the same
// id is the same event and one device's ids never collide with another's.
var telemetryNamespace = uuid.MustParse("6f0b1f38-3f5c-4b43-9d7a-6a4f0d1e2c55")

func telemetryEventID(deviceID, itemID string) string {
	return uuid.NewSHA1(telemetryNamespace, []byte(deviceID+"/"+itemID)).String()
}
